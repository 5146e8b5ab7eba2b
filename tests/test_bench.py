"""The benchmarks, run small: their command lines, outputs and refusals."""

import json

import numpy as np
import polars as pl
import pytest

from attribution.store.arguments import PRECISIONS
from curate.errors import InputError


@pytest.fixture
def classifier_run(tmp_path):
    """A run directory with what `curate bench filter` reads: a corpus with ground truth, a classifier and
    the training set it learned from."""
    from datatrove.data import Document

    from curate.classify import ProceduralClassifier
    from curate.corpus.io import write_documents
    from curate.paths import RunDir

    run = RunDir(tmp_path / "run")
    rng = np.random.default_rng(0)
    docs = [
        Document(text=f"def f_{i}(x):\n    return x * {rng.integers(2, 9)} + {i}", id=f"c{i}",
                 metadata={"procedural": True, "source": "code"})
        for i in range(40)
    ] + [
        Document(text=f"In {1900 + i} the town held a fair with music and {i} stalls.", id=f"w{i}",
                 metadata={"procedural": False, "source": "web"})
        for i in range(40)
    ]
    write_documents(docs, run.corpus)
    labels = [int(d.metadata["procedural"]) for d in docs]
    ProceduralClassifier(n_features=2**10).fit([d.text for d in docs], labels).save(run.classifier_file)
    pl.DataFrame({"doc_id": [d.id for d in docs], "label": labels}).write_parquet(run.classifier_training_set)
    return run


def test_bench_filter_refuses_a_non_empty_out_without_overwrite(classifier_run, tmp_path, capsys):
    from curate.cli import main

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    command = ["bench", "filter", "--run-dir", str(classifier_run.root), "--out", str(out), "--repeats", "1",
               "--copies", "1"]
    assert main(command) == 2
    assert "not empty: pass --overwrite" in capsys.readouterr().err
    (out / "logs").mkdir()  # an earlier run's datatrove logs: their completion markers must not be reused
    assert main([*command, "--overwrite"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timed_documents"] == 80 and summary["ours"]["f1"] == 1.0 and "fasttext" in summary
    assert (out / "notes.txt").read_text() == "mine"
    assert f"written to {out}" in capsys.readouterr().out


def test_bench_filter_leaves_no_model_copy_in_the_hugging_face_cache(classifier_run, tmp_path, monkeypatch):
    """datatrove copies the fastText model into the assets cache and reuses the copy by path: a second bench in
    the same folder must time its own model, and no bench may leave its copy behind (half a GB each)."""
    import huggingface_hub.utils._cache_assets as assets

    from curate.bench.arguments import FilterBenchArguments
    from curate.bench.filter import run_filter_bench

    monkeypatch.setattr(assets, "HF_ASSETS_CACHE", tmp_path / "assets")
    copies = tmp_path / "assets" / "datatrove" / "filters" / "fasttext"
    out = tmp_path / "bench"
    stale = copies / str(out / "fasttext.bin").replace("/", "_")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier bench's model")
    stale.with_name(stale.name + ".completed").touch()
    args = FilterBenchArguments(run_dir=classifier_run.root, out=out, repeats=1, copies=1, overwrite=True)
    summary = run_filter_bench(args)
    assert summary["fasttext"]["f1"] > 0.5  # the stale copy is no fastText model: loading it would have failed
    assert list(copies.iterdir()) == []


def test_bench_filter_needs_a_trained_classifier(tmp_path):
    from curate.bench.arguments import FilterBenchArguments
    from curate.bench.filter import run_filter_bench

    with pytest.raises(InputError, match="run `curate classifier train` first"):
        run_filter_bench(FilterBenchArguments(tmp_path))


def test_bench_attribution_quick(capsys, one_thread):
    from curate.cli import main

    command = ["bench", "attribution", "--quick", "--documents", "16", "--no-kronfluence", "--no-scaling"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "16 documents × 32 tokens" in out and "ours fit" in out and "agreement" not in out


def test_bench_memory_quick(tmp_path, capsys):
    """Each command runs as its own process; planned and measured memory and disk are both there for every stage
    (whether they agree within 20% depends on the machine: the bench prints it, the test does not assert it)."""
    import math

    from curate.bench.arguments import MemoryBenchArguments
    from curate.bench.memory import STAGES, run_memory_bench

    out = tmp_path / "memory"
    results = run_memory_bench(MemoryBenchArguments(quick=True, documents=12, threads=1, out=out))
    assert list(results["stages"]) == list(STAGES) and results["documents"] == 12
    for row in results["stages"].values():
        assert min(row["memory_planned"], row["memory_measured"], row["disk_planned"], row["disk_measured"]) > 0
        assert all(math.isfinite(row[key]) and row[key] > 0 for key in ("memory_ratio", "disk_ratio"))
    printed = capsys.readouterr().out
    rows = [line.split("|")[1].strip() for line in printed.splitlines() if line.startswith("| ")]
    assert rows == ["stage", *STAGES]
    assert "within 20% of its measurement" in printed and "it printed: factors plan:" in printed
    assert (out / "factors" / "factors.safetensors").exists() and list((out / "store").glob("shard-*"))


def test_bench_memory_refuses(tmp_path, capsys):
    from curate.cli import main

    assert main(["bench", "memory", "--model", str(tmp_path)]) == 2
    assert "--model, --corpus and --probes go together" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["bench", "memory", "--quick", "--out", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_bench_store_on_a_given_model(tiny_run, tmp_path, capsys, one_thread):
    """The store bench on a Hugging Face model directory, its corpus and probes, on the layers --modules picks."""
    from curate.cli import main

    plot = tmp_path / "store.png"
    command = ["bench", "attribution", "--store", "--store-only", "--model", str(tiny_run.model), "--corpus",
               str(tiny_run.corpus), "--probe-file", str(tiny_run.probes), "--documents", "12", "--tokens", "48",
               "--probes", "2", "--dims", "4", "8", "--modules", r"\.mlp\.(up|down)_proj$", "--store-plot", str(plot)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert f"model: {tiny_run.model}" in printed and "2 tracked layers" in printed and "12 documents of" in printed
    assert "gradient store, 12 documents, 2 probes" in printed and plot.exists()
    assert "the probes' forward and backward alone" in printed and "× faster than a pass" in printed
    assert "then 10 passes" in printed and "pass 2/10: the default store" in printed  # phases announced
    assert "pass 3/10: scoring, queries of rank 32 again" in printed and "pass 10/10: whitened, k 8" in printed
    assert "before the default store's build and" in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith(("logra", "eigen", "whitened"))]
    assert [tuple(row[:3]) for row in rows] == [("eigen", "5%", "int2")] + [
        (name, k, precision) for name in ("logra", "eigen", "whitened") for k in "48" for precision in PRECISIONS]
    # bytes per document: an int8 row is a byte per number and a float32 step, then 2, 4 and 8 numbers to a byte
    by_precision = {row[2]: int(row[3]) for row in rows if row[:2] == ["eigen", "8"]}
    assert [by_precision[p] for p in PRECISIONS] == sorted(by_precision.values(), reverse=True)
    assert len(set(by_precision.values())) == len(PRECISIONS)
    assert float(rows[0][4].rstrip("%")) <= 5  # the default store keeps each layer within 5% of its bytes
    assert "plain forward+backward" not in printed and "ours fit" not in printed
    assert main(["bench", "attribution", "--model", str(tiny_run.model)]) == 2
    assert "--model, --corpus and --probe-file go together" in capsys.readouterr().err
