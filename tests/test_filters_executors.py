"""The filter pipeline on real executors: local (tasks x workers), Ray, and Slurm (with stand-in sbatch/srun)."""

import gzip
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from datatrove.data import Document

from curate.cli import main
from curate.corpus.io import read_documents, write_documents
from curate.errors import InputError
from filters.pipeline import ExecutorArguments, FilterOptions, run_filter
from filters.procedural import load_scorer
from filters.reweight import Bucket

N_DOCS, PER_SHARD = 1200, 150  # 8 input shards, so 4 tasks get 2 files each


def make_docs(n: int, seed: int) -> list[Document]:
    """Three kinds: worked arithmetic (procedural), prose with a connective, plain prose."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        kind = rng.choice(["steps", "steps", "connective", "plain"])
        if kind == "steps":
            text = f"Step 1: add {a} and {b}. {a} + {b} = {a + b}. Step 2: double it. {a + b} * 2 = {2 * (a + b)}. Therefore {2 * (a + b)}."
        elif kind == "connective":
            text = f"The mill at {rng.choice(['Arden', 'Bel'])} burned, so the town of {a} families moved to the river."
        else:
            text = f"The village of {rng.choice(['Cor', 'Dun'])} had {a} houses and a church built in {1800 + b}."
        docs.append(Document(text=text, id=f"d{seed}-{i}", metadata={"source": "math" if kind == "steps" else "wiki", "kind": kind}))
    return docs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from curate.classify import ProceduralClassifier

    root = tmp_path_factory.mktemp("filter")
    docs = make_docs(N_DOCS, seed=0)
    write_documents(docs, root / "corpus", docs_per_shard=PER_SHARD)
    train = make_docs(300, seed=1)
    clf = ProceduralClassifier(n_features=2**12).fit([d.text for d in train], [d.metadata["kind"] == "steps" for d in train])
    path = clf.save(root / "classifier.joblib")
    scores = dict(zip([d.id for d in docs], clf.procedural_probability([d.text for d in docs]).tolist(), strict=True))
    return root, docs, path, scores


def written(directory: Path) -> list[Document]:
    return list(read_documents(directory)) if directory.exists() and any(directory.rglob("*.gz")) else []


def check_accounting(out: Path, summary: dict, all_ids: set[str]) -> tuple[set[str], dict[str, set[str]]]:
    """Every input document is kept or excluded exactly once, on disk as in the summary."""
    kept_docs = written(out / "kept")
    kept = [d.id for d in kept_docs if "repeat_of" not in d.metadata]
    excluded = {}
    for reason_dir in sorted((out / "excluded").iterdir()) if (out / "excluded").exists() else []:
        docs = written(reason_dir)
        assert all(d.metadata["filter_reason"] == reason_dir.name for d in docs)
        excluded[reason_dir.name] = [d.id for d in docs]
    flat = kept + [i for ids in excluded.values() for i in ids]
    assert len(flat) == len(set(flat)) == len(all_ids) and set(flat) == all_ids
    assert summary["read"] == len(all_ids) == summary["kept"] + summary["excluded"]
    assert summary["accounted"]
    assert summary["kept"] == len(kept) and summary["copies_written"] == len(kept_docs)
    assert summary["excluded_by_reason"] == {r: len(ids) for r, ids in excluded.items() if ids}
    return set(kept), {r: set(ids) for r, ids in excluded.items()}


def test_local_executor_tasks_and_workers_account_for_every_document(setup, tmp_path):
    root, docs, classifier, scores = setup
    threshold = 0.5
    survivors = sorted(s for d in docs if (s := scores[d.id]) >= threshold and d.metadata["kind"] != "plain")
    middle = float(np.median(survivors))  # half the survivors get weight 0.5, half 1.5: both paths are used
    options = FilterOptions(
        corpus=root / "corpus",
        out=tmp_path / "out",
        classifier=classifier,
        threshold=threshold,
        heuristic_minimums={"step_marker_ratio": 0.2},
        reweight=[Bucket(threshold, middle, 0.5), Bucket(middle, 1.0, 1.5)],
        seed=3,
    )
    summary = run_filter(options, ExecutorArguments(executor="local", tasks=4, workers=2))
    assert summary["completed_tasks"] == 4
    kept, excluded = check_accounting(options.out, summary, {d.id for d in docs})
    kinds = {d.id: d.metadata["kind"] for d in docs}
    assert {kinds[i] for i in excluded["no_procedural_heuristic"]} == {"plain"}
    assert {kinds[i] for i in excluded["low_procedural_score"]} == {"connective"}
    assert len(excluded["reweighted_to_zero"]) > 0 and all(scores[i] < middle for i in excluded["reweighted_to_zero"])
    # kept documents carry their annotations; extra copies only for the weight-1.5 bucket
    kept_docs = written(options.out / "kept")
    for d in kept_docs:
        source_id = d.metadata.get("repeat_of", d.id)
        assert d.metadata["procedural_score"] == pytest.approx(scores[source_id])
        assert d.metadata["weight"] == (1.5 if scores[source_id] >= middle else 0.5)
        assert "heuristic_step_marker_ratio" in d.metadata
    assert summary["copies_written"] > summary["kept"]
    assert json.loads((options.out / "summary.json").read_text())["read"] == N_DOCS


def test_resuming_reruns_only_the_task_that_did_not_complete(setup, tmp_path):
    root, docs, classifier, _ = setup
    options = FilterOptions(corpus=root / "corpus", out=tmp_path / "out", classifier=classifier, threshold=0.5)
    first = run_filter(options, ExecutorArguments(tasks=4, workers=2))
    logs = options.out / "logs"
    # simulate a task killed before it finished: no completion marker, partial (here: no) output
    (logs / "completions" / "00002").unlink()
    for path in options.out.rglob("part-00002.jsonl.gz"):
        path.unlink()
    untouched = {rank: (logs / "stats" / f"{rank:05d}.json").stat().st_mtime_ns for rank in (0, 1, 3)}
    rerun_stats = logs / "stats" / "00002.json"
    rerun_stats.unlink()
    second = run_filter(options, ExecutorArguments(tasks=4, workers=2))
    assert {rank: (logs / "stats" / f"{rank:05d}.json").stat().st_mtime_ns for rank in (0, 1, 3)} == untouched
    assert rerun_stats.exists() and (logs / "completions" / "00002").exists()
    strip = ("steps", "calibration")
    assert {k: v for k, v in second.items() if k not in strip} == {k: v for k, v in first.items() if k not in strip}
    check_accounting(options.out, second, {d.id for d in docs})
    # a run with other settings must not be mixed into the same output
    with pytest.raises(InputError, match="threshold differ"):
        run_filter(FilterOptions(corpus=root / "corpus", out=options.out, classifier=classifier, threshold=0.6), ExecutorArguments(tasks=4))


def test_keep_fraction_through_the_cli(setup, tmp_path, capsys):
    root, docs, classifier, scores = setup
    out = tmp_path / "out"
    argv = ["filter", "--corpus", str(root / "corpus"), "--out", str(out), "--classifier", str(classifier)]
    # a calibration sample as large as the corpus sees every document, so the threshold is exact
    assert main([*argv, "--keep-fraction", "0.25", "--calibration-size", str(N_DOCS), "--tasks", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    expected_threshold = float(np.quantile(list(scores.values()), 0.75, method="lower"))
    assert summary["threshold"] == pytest.approx(expected_threshold)
    assert summary["kept"] == sum(s >= expected_threshold for s in scores.values())
    assert summary["kept"] / N_DOCS == pytest.approx(summary["calibration"]["sample_kept_fraction"])
    assert '"read": 1200' in capsys.readouterr().out


def test_malformed_shard_stops_with_file_and_line_and_can_be_skipped(setup, tmp_path, capsys):
    root, docs, classifier, _ = setup
    corpus = tmp_path / "corpus"
    write_documents(docs[:300], corpus, docs_per_shard=100)
    shard = corpus / "part-00001.jsonl.gz"
    lines = gzip.open(shard, "rt").read().splitlines()
    lines[6] = '{"text": "cut off'
    with gzip.open(shard, "wt") as f:
        f.write("\n".join(lines) + "\n")
    argv = ["filter", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--classifier", str(classifier)]
    assert main([*argv, "--tasks", "3", "--workers", "2"]) == 2
    assert "part-00001.jsonl.gz:7: invalid JSON" in capsys.readouterr().err
    assert main([*argv, "--tasks", "3", "--skip-bad-records", "--overwrite"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["read"] == 299 and summary["bad_records"] == 1 and summary["accounted"]


def test_ray_executor_on_a_local_ray_instance(setup, tmp_path):
    pytest.importorskip("ray")
    root, docs, classifier, scores = setup
    options = FilterOptions(corpus=root / "corpus", out=tmp_path / "out", classifier=classifier, threshold=0.5)
    execution = ExecutorArguments(executor="ray", tasks=2, workers=2, mem_per_cpu_gb=0.25, cpus_per_task=1)
    summary = run_filter(options, execution)
    kept, _ = check_accounting(options.out, summary, {d.id for d in docs})
    assert kept == {i for i, s in scores.items() if s >= 0.5}  # the same documents a direct scoring keeps


FAKE_SLURM = {
    # runs each array element of the submitted script now, one after the other, as Slurm would in parallel
    "sbatch": """#!/bin/bash
script="${@: -1}"
range=$(grep -oP '^#SBATCH --array=\\K[0-9]+-[0-9]+' "$script")
for i in $(seq ${range%-*} ${range#*-}); do
  SLURM_ARRAY_TASK_ID=$i SLURM_JOB_ID=4242 SLURM_NODELIST=localhost bash "$script" >> "$script.log" 2>&1 || exit 1
done
cp "$script" "$FAKE_SLURM_DIR/submitted-$(ls $FAKE_SLURM_DIR | wc -l).sh"
echo "Submitted batch job 4242"
""",
    "srun": """#!/bin/bash
while [[ "$1" == -* ]]; do [[ "$1" == "-n" ]] && shift; shift; done
exec "$@"
""",
    "scontrol": "#!/bin/bash\necho localhost\n",
    "squeue": "#!/bin/bash\n",
}


def test_slurm_executor_submits_an_array_that_runs_the_pipeline(setup, tmp_path, monkeypatch):
    root, docs, classifier, _ = setup
    bin_dir, submitted = tmp_path / "bin", tmp_path / "submitted"
    bin_dir.mkdir()
    submitted.mkdir()
    for name, script in FAKE_SLURM.items():
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(submitted))
    out = tmp_path / "out"
    argv = ["filter", "--corpus", str(root / "corpus"), "--out", str(out), "--classifier", str(classifier), "--threshold", "0.5"]
    slurm = ["--executor", "slurm", "--partition", "cpu", "--time", "00:10:00", "--tasks", "2", "--workers", "2",
             "--sbatch-arg", "account=proj", "--sbatch-arg", "qos=low"]
    assert main([*argv, *slurm]) == 0
    script = (submitted / "submitted-0.sh").read_text()
    for line in ["--array=0-1%2", "--partition=cpu", "--time=00:10:00", "--account=proj", "--qos=low"]:
        assert f"#SBATCH {line}" in script
    assert "launch_pickled_pipeline" in script and "bin/activate" in script
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed_tasks"] == 2
    check_accounting(out, summary, {d.id for d in docs})


def test_scores_written_by_the_filter_match_the_classifier(setup, tmp_path):
    root, docs, classifier, _ = setup
    options = FilterOptions(corpus=root / "corpus", out=tmp_path / "out", classifier=classifier, fmt="parquet")
    summary = run_filter(options, ExecutorArguments(tasks=2, workers=1))
    assert summary["kept"] == N_DOCS and summary["excluded"] == 0  # annotate only
    kept = {d.id: d.metadata["procedural_score"] for d in read_documents(options.out / "kept")}
    texts = {d.id: d.text for d in docs}
    expected = load_scorer(str(classifier)).procedural_probability([texts[i] for i in kept])
    assert list(kept.values()) == pytest.approx(expected.tolist())


def test_the_corpus_field_names_come_back_as_they_went_in(setup, tmp_path):
    """Text and id read from other fields (`--text-key content --id-key doc_id`) are written back under those
    names, and the records' own `text` and `id` fields are kept, not overwritten."""
    root, docs, classifier, scores = setup
    records = [{"doc_id": d.id, "content": d.text, "text": f"other text {i}", "id": f"other-{i}"}
               for i, d in enumerate(docs[:200])]
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    assert main(["filter", "--corpus", str(tmp_path / "corpus"), "--out", str(out), "--classifier", str(classifier),
                 "--threshold", "0.5", "--text-key", "content", "--id-key", "doc_id"]) == 0
    written = [json.loads(line) for path in sorted(out.rglob("*.jsonl.gz")) for line in gzip.open(path, "rt")]
    assert len(written) == len(records) and any(r.get("filter_reason") for r in written)
    for record in written:
        original = next(r for r in records if r["doc_id"] == record["doc_id"])
        assert {key: record[key] for key in original} == original
        assert record["procedural_score"] == pytest.approx(scores[record["doc_id"]])


def test_a_threshold_outside_the_scores_range_is_refused_and_one_is_reported(setup, tmp_path, capsys):
    root, docs, classifier, _ = setup
    corpus = tmp_path / "corpus"
    write_documents(docs[:100], corpus)
    argv = ["filter", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--classifier", str(classifier)]
    capsys.readouterr()
    assert main([*argv, "--threshold", "1.5"]) == 2
    assert "--threshold must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main([*argv, "--threshold", "1.0"]) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["threshold"] == 1.0


def test_a_bad_record_says_what_to_fix_not_to_rerun(setup, tmp_path, capsys):
    root, docs, classifier, _ = setup
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [json.dumps({"id": d.id, "text": d.text}) for d in docs[:20]]
    lines[4] = json.dumps({"id": "blank", "text": "   "})
    (corpus / "part.jsonl").write_text("\n".join(lines) + "\n")
    argv = ["filter", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--classifier", str(classifier)]
    capsys.readouterr()
    assert main(argv) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "part.jsonl:5: 'text' is empty" in error[0], error
    assert "fix that input" in error[0] and "to resume" not in error[0]
    assert main([*argv, "--skip-bad-records"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["read"] == 19 and summary["bad_records"] == 1


def test_an_out_that_is_a_file_is_refused(setup, tmp_path):
    root, _, classifier, _ = setup
    (tmp_path / "a-file").write_text("mine\n")
    with pytest.raises(InputError, match="is a file, not a folder"):
        FilterOptions(corpus=root / "corpus", out=tmp_path / "a-file", classifier=classifier)
