"""Fault injection: killed, interrupted, repeated and misconfigured runs of the corpus-scale commands either give
the uninterrupted run's exact output or stop with one line (exit 2, or 130 for Ctrl-C) and no traceback.

Kill points are seeded but land wherever the machine's speed puts them (start-up, calibration, a task, the
summary, a mix pass); whatever the point, the resumed output must equal the uninterrupted one byte for byte
(gzip shards compared decompressed: their headers hold a time stamp).
"""

import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_scores
from datatrove.data import Document

from curate.cli import main
from curate.corpus.io import write_documents

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="kill -9, process sessions and /proc: Linux")


def make_docs(n: int, seed: int) -> list[Document]:
    """Worked arithmetic (procedural), and prose; each with a procedural_score for the mix."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        steps = rng.random() < 0.5
        text = (f"Step 1: add {a} and {b}. {a} + {b} = {a + b}. Step 2: double it. {2 * (a + b)}." if steps
                else f"The village of {rng.choice(['Cor', 'Dun'])} had {a} houses and a church built in {1800 + b}.")
        docs.append(Document(text=text, id=f"d{seed}-{i}", metadata={"steps": steps, "procedural_score": rng.random()}))
    return docs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from curate.classify import ProceduralClassifier

    root = tmp_path_factory.mktemp("faults")
    write_documents(make_docs(1200, 0), root / "corpus", docs_per_shard=150)
    write_documents(make_docs(20_000, 1), root / "annotated", docs_per_shard=5000)
    train = make_docs(300, 2)
    ProceduralClassifier(n_features=2**12).fit([d.text for d in train], [d.metadata["steps"] for d in train]).save(
        root / "classifier.joblib")
    (root / "spec.toml").write_text('total_tokens = 150000\nshards = 3\n[[bucket]]\nname = "procedural"\n'
                                    'score = [0.5, 1.0]\nweight = 0.7\n[[bucket]]\nname = "rest"\nweight = 0.3\n')
    return root


def filter_argv(world: Path, out: Path, *extra: str) -> list[str]:
    return ["filter", "--corpus", str(world / "corpus"), "--out", str(out), "--classifier",
            str(world / "classifier.joblib"), "--threshold", "0.5", "--tasks", "4", *extra]


def mix_argv(world: Path, out: Path, *extra: str) -> list[str]:
    return ["mix", "--input", str(world / "annotated"), "--spec", str(world / "spec.toml"), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def reference(world) -> dict[str, tuple[Path, float]]:
    """The uninterrupted filter and mix outputs, and how long each command took."""
    runs = {"filter": filter_argv(world, world / "filtered", "--workers", "2"), "mix": mix_argv(world, world / "mix")}
    outputs = {}
    for name, argv in runs.items():
        started = time.monotonic()
        _, stderr = (process := start(argv)).communicate()
        assert process.returncode == 0, stderr
        outputs[name] = (world / ("filtered" if name == "filter" else "mix"), time.monotonic() - started)
    return outputs


def contents(folder: Path) -> dict[str, object]:
    """Every output file's bytes (gzip decompressed), the filter summary without its timings; no logs, no
    temporary files."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if name.startswith("logs/") or path.name.startswith("."):
            continue
        data = path.read_bytes()
        found[name] = gzip.decompress(data) if path.suffix == ".gz" else data
        if path.name == "summary.json":
            found[name] = {k: v for k, v in json.loads(data).items() if k != "steps"}
    return found


def start(argv: list[str]) -> subprocess.Popen:
    """`curate ARGV` in a session of its own, so its every process can be found (and signalled) afterwards."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "curate.cli", *argv], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def session(sid: int) -> list[str]:
    """The live (not zombie) processes of session `sid`, by /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(stat.parent.name)
    return found


def wait_for(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def one_line(stderr: str, *needles: str) -> str:
    """The one `error:` line (datatrove's progress lines aside), holding every needle; no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), stderr
    return errors[0]


def refused(capfd, argv: list[str], *needles: str) -> str:
    from datatrove.utils.logging import setup_default_logger

    setup_default_logger()  # datatrove logs to the sys.stderr it was set up with; pytest swaps it between phases
    capfd.readouterr()
    assert main(argv) == 2
    return one_line(capfd.readouterr().err, *needles)


@pytest.mark.parametrize("command", ["filter", "mix"])
def test_kill_9_at_random_points_then_resume_gives_the_uninterrupted_output(world, reference, tmp_path, command):
    rng = random.Random(17)
    expected, seconds = reference[command]
    for attempt in range(2):
        out = tmp_path / f"{command}-{attempt}"
        argv = filter_argv(world, out, "--workers", "2") if command == "filter" else mix_argv(world, out)
        process = start(argv)
        time.sleep(rng.uniform(0.1 + 0.45 * attempt, 0.5 + 0.45 * attempt) * seconds)  # one early, one late
        process.kill()
        process.communicate()
        assert wait_for(lambda sid=process.pid: not session(sid), 10), "a worker outlived kill -9 of its parent"
        assert main(argv) == 0
        assert contents(out) == contents(expected)


def test_ctrl_c_stops_every_process_in_one_line_and_the_rerun_resumes(world, reference, tmp_path):
    out = tmp_path / "filtered"
    process = start(filter_argv(world, out, "--workers", "2"))
    assert wait_for(lambda: len(list((out / "logs" / "logs").glob("task_*.log"))) >= 2, 60)  # both workers busy
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: to every process of the foreground job
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1] == "interrupted; rerun the same command to resume"
    assert wait_for(lambda: not session(process.pid), 10)
    assert main(filter_argv(world, out, "--workers", "1")) == 0
    assert contents(out) == contents(reference["filter"][0])


def test_ctrl_c_anywhere_in_the_cli_is_one_line(monkeypatch, capfd):
    import curate.commands.mix as command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run", interrupted)
    assert main(["mix", "--spec", "x.toml"]) == 130
    assert capfd.readouterr().err == "interrupted\n"


def test_reruns_with_changed_inputs_or_arguments_are_refused(world, reference, tmp_path, capfd):
    (filtered, _), (mixed, _) = reference["filter"], reference["mix"]
    refused(capfd, filter_argv(world, filtered, "--threshold", "0.6"), "threshold differ", "--overwrite")
    refused(capfd, filter_argv(world, filtered)[:-2] + ["--tasks", "2"], "(tasks differs)")
    classifier = tmp_path / "classifier.joblib"  # the same file, copied: content equal, path not
    classifier.write_bytes((world / "classifier.joblib").read_bytes())
    argv = filter_argv(world, filtered)
    refused(capfd, argv[:6] + [str(classifier)] + argv[7:], "(classifier differs)")
    corpus = tmp_path / "corpus"  # the same path, another content
    write_documents(make_docs(1200, 0), corpus, docs_per_shard=150)
    out = tmp_path / "filtered"
    argv = ["filter", "--corpus", str(corpus), "--out", str(out), "--classifier", str(world / "classifier.joblib")]
    assert main([*argv, "--tasks", "2"]) == 0
    write_documents(make_docs(1100, 0), corpus, docs_per_shard=150)  # shards rewritten: the last one shorter
    refused(capfd, [*argv, "--tasks", "2"], "corpus_content differ")
    assert main([*argv, "--tasks", "2", "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["read"] == 1100

    refused(capfd, mix_argv(world, mixed, "--seed", "3"), "(spec differs)")
    refused(capfd, mix_argv(world, mixed, "--format", "parquet"), "(format differs)")
    assert main(mix_argv(world, tmp_path / "mix", "--seed", "3")) == 0
    assert main(mix_argv(world, tmp_path / "mix", "--overwrite")) == 0
    assert contents(tmp_path / "mix") == contents(mixed)


def test_corrupt_classifier_files_are_refused_before_any_worker_starts(world, tmp_path, capfd):
    import joblib

    whole = (world / "classifier.joblib").read_bytes()
    files = {"cut short": whole[: len(whole) // 3], "not joblib": b"garbage"}
    for name, data in files.items():
        (tmp_path / f"{name}.joblib").write_bytes(data)
    joblib.dump({"file_version": 2, "classifier": None}, tmp_path / "old.joblib")
    joblib.dump({"file_version": 3, "classifier": [1, 2]}, tmp_path / "foreign.joblib")
    for name, needle in [("cut short", "not a classifier file"), ("not joblib", "not a classifier file"),
                         ("old", "version 2"), ("foreign", "it holds a list")]:
        out = tmp_path / f"out-{name}"
        argv = ["filter", "--corpus", str(world / "corpus"), "--out", str(out), "--classifier",
                str(tmp_path / f"{name}.joblib"), "--tasks", "2", "--workers", "2"]
        refused(capfd, argv, needle)
        assert not (out / "logs").exists()  # refused in the main process: no task ran


def test_worker_tracebacks_go_to_the_task_log(world, tmp_path, capfd):
    corpus = tmp_path / "corpus"
    write_documents(make_docs(300, 0), corpus, docs_per_shard=100)
    shard = corpus / "part-00001.jsonl.gz"
    lines = gzip.decompress(shard.read_bytes()).decode().splitlines()
    shard.write_bytes(gzip.compress(("\n".join([*lines[:6], '{"text": "cut off', *lines[6:]]) + "\n").encode()))
    argv = ["filter", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--classifier",
            str(world / "classifier.joblib"), "--tasks", "3", "--workers", "2"]
    line = refused(capfd, argv, "part-00001.jsonl.gz:7: invalid JSON", "--skip-bad-records", "task_00001.log")
    log = Path(line.split("(its log: ")[1].split(")")[0])
    assert "Traceback" in log.read_text()
    capfd.readouterr()
    assert main([*argv, "--skip-bad-records"]) == 0  # not a result-changing setting: the run resumes
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["read"] == 300 and summary["bad_records"] == 1 and summary["accounted"]
    assert not (corpus / "bad_records.jsonl").exists()


def test_corrupt_files_of_each_kind_are_one_line(world, tmp_path, capfd):
    # corpus shard: a gzip file cut short
    corpus = tmp_path / "corpus"
    write_documents(make_docs(300, 0), corpus, docs_per_shard=100)
    shard = corpus / "part-00002.jsonl.gz"
    shard.write_bytes(shard.read_bytes()[:200])
    refused(capfd, ["corpus", "stats", str(corpus)], "part-00002.jsonl.gz: cannot read")
    # mix spec, recipe
    (tmp_path / "spec.toml").write_text("total_tokens = [")
    refused(capfd, ["mix", "--input", str(world / "annotated"), "--spec", str(tmp_path / "spec.toml"), "--out",
                    str(tmp_path / "mix")], "not valid TOML")
    (tmp_path / "recipe.toml").write_text('run_dir = "x"\n[[stage]\nname = ')
    refused(capfd, ["run", str(tmp_path / "recipe.toml")], "not a valid recipe")
    # probes: a line cut short, refused before the corpus is read
    (tmp_path / "probes.jsonl").write_text('{"id": "p0", "set": "arithmetic", "kind": "reas')
    refused(capfd, ["classifier", "train", "--run-dir", str(tmp_path / "run"), "--probes", str(tmp_path / "probes.jsonl")],
            "probes.jsonl, line 1: not valid JSON")
    # model: safetensors cut short
    model = tiny_model(tmp_path / "model")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    refused(capfd, ["probes", "eval", "--probes", str(write_tiny_probes(tmp_path)), "--model", str(model),
                    "--out", str(tmp_path / "eval")], "cannot load a causal LM", "model")


def tiny_model(path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "<eos>": 1, "a": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    config = LlamaConfig(vocab_size=3, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, max_position_embeddings=32)
    LlamaForCausalLM(config).save_pretrained(path)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", eos_token="<eos>").save_pretrained(path)
    return path


def write_tiny_probes(folder: Path) -> Path:
    from curate.probes.sets import Probe, write_probes

    write_probes([Probe("p0", "arithmetic", "reasoning", "a a", " a", "a")], folder / "tiny_probes.jsonl")
    return folder / "tiny_probes.jsonl"


def test_flags_that_would_be_ignored_are_refused(world, tmp_path, capfd):
    argv = filter_argv(world, tmp_path / "out")
    refused(capfd, [*argv, "--partition", "cpu"], "--partition applies to --executor slurm")
    refused(capfd, [*argv, "--ray-address", "auto", "--executor", "slurm"], "--ray-address applies to --executor ray")
    refused(capfd, [*argv, "--calibration-size", "50"], "--calibration-size does nothing without --keep-fraction")
    refused(capfd, ["filter", "--corpus", str(world / "corpus"), "--out", str(world / "corpus" / "out"),
                    "--no-classifier", "--heuristics"], "inside the corpus")
    refused(capfd, mix_argv(world, world / "annotated" / "mix"), "inside its input")
    run = ["classifier", "train", "--run-dir", str(tmp_path / "run")]
    refused(capfd, [*run, "--embedding-model", str(tmp_path)], "--embedding-model: not used with --backend hashed")
    refused(capfd, [*run, "--recall-rounds", "1"], "--recall-rounds: not used with --backend hashed")
    refused(capfd, [*run, "--backend", "embedding", "--embedding-model", str(tmp_path)], "no model for --backend")


def test_train_classifier_honours_skip_bad_records(tmp_path):
    from curate.classify import ClassifierArguments, train_classifier
    from curate.errors import InputError
    from curate.paths import RunDir
    from curate.probes.sets import Probe, write_probes

    run = RunDir(tmp_path)
    docs = make_docs(200, 3)
    write_documents(docs, run.corpus, docs_per_shard=100)
    with (run.corpus / "part-00001.jsonl").open("w") as shard:  # a shard of the corpus with one bad line
        shard.write('{"id": "bad", "txt": "no text field"}\n')
    ids = [d.id for d in docs]
    write_scores(run.scores, ids, [float(d.metadata["steps"]) for d in docs])
    write_probes([Probe(f"p{i}", "arithmetic", "reasoning", "q", " a", "a") for i in range(2)], run.probes)
    with pytest.raises(InputError, match=r"part-00001.jsonl:1: no 'text' field.*--skip-bad-records"):
        train_classifier(ClassifierArguments(run.root))
    report = train_classifier(ClassifierArguments(run.root, skip_bad_records=True, truth_key="steps"))
    assert report.bad_records.count == 1 and report.bad_records.path.parent == run.classifier
    assert report.evaluation["ekfac"]["f1"] > 0.9


def test_a_recipe_stage_whose_input_file_changed_runs_again(world, tmp_path, capsys):
    from curate.recipe import Recipe, run_recipe

    spec = tmp_path / "spec.toml"
    spec.write_text((world / "spec.toml").read_text())
    (tmp_path / "recipe.toml").write_text(
        f'run_dir = "{tmp_path / "run"}"\n[[stage]]\nname = "mix"\ncommand = ["mix"]\n'
        f'args = {{ input = "{world / "annotated"}", spec = "{spec}" }}\n')
    recipe = Recipe.load(tmp_path / "recipe.toml")
    assert run_recipe(recipe)["mix"] > 0 and run_recipe(recipe) == {"mix": 0.0}
    spec.write_text(spec.read_text().replace("150000", "90000"))
    assert run_recipe(recipe)["mix"] > 0
    assert "mix: inputs changed since it completed" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "mix" / "manifest.json").read_text())["total_tokens"]["budget"] == 90000


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    """Folders of Markdown files, enough for an import to write shards for a few seconds."""
    root = tmp_path_factory.mktemp("texts") / "docs"
    rng = random.Random(5)
    words = "build the package run configure then compile with make install test it first next and".split()
    for i in range(1500):
        paragraphs = (" ".join(rng.choices(words, k=rng.randint(20, 120))) for _ in range(rng.randint(2, 12)))
        path = root / f"d{i % 25}" / f"f{i}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paragraphs))
    return root


def import_argv(texts: Path, out: Path, *extra: str) -> list[str]:
    return ["corpus", "import", str(texts), "--out", str(out), "--documents-per-shard", "100", *extra]


def import_contents(folder: Path) -> dict[str, object]:
    """`contents`, the summary without its timing and the folder's own name (each attempt writes elsewhere)."""
    found = contents(folder)
    summary = found["import_summary.txt"].decode().replace(str(folder), "OUT")
    found["import_summary.txt"] = re.sub(r" in \d+ s;", ";", summary)
    return found


def test_kill_9_during_corpus_import_then_a_rerun_gives_the_uninterrupted_corpus(texts, tmp_path, capfd):
    from curate.corpus.output import PARTIAL_FILE

    def writing(out: Path, process: subprocess.Popen) -> bool:
        """Wait until the import marks --out partial, that is, starts clearing it and writing shards."""
        return wait_for(lambda: (out / PARTIAL_FILE).exists() or process.poll() is not None, 60)

    expected = tmp_path / "expected"
    process = start(import_argv(texts, expected))
    assert writing(expected, process)
    started = time.monotonic()
    _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    seconds, rng = time.monotonic() - started, random.Random(23)  # how long it writes
    for attempt in range(3):
        out = tmp_path / f"out-{attempt}"
        argv = import_argv(texts, out)
        process = start(argv)
        assert writing(out, process)
        time.sleep(rng.uniform(0.0, 0.6) * seconds)
        finished = process.poll() is not None
        process.kill()
        process.communicate()
        if finished:  # the machine was quicker than the draw: a finished import is refused, not redone
            refused(capfd, argv, "already holds corpus shards; pass --overwrite")
        else:
            assert (out / PARTIAL_FILE).exists()
            refused(capfd, import_argv(texts, out, "--max-chars", "1000"), "holds a partial import",
                    "(max_chars differs)", "--overwrite")
            assert main(argv) == 0  # the same command starts the killed import over
        assert not (out / PARTIAL_FILE).exists()
        assert import_contents(out) == import_contents(expected)
