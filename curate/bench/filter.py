"""`curate bench filter`: our procedural filter vs datatrove's FastTextClassifierFilter, inside datatrove.

Both classifiers learn from the same labels (the run's `classifier/training_set.parquet`, derived from the
influence ranking), run as the filter step of the same one-task, one-worker datatrove pipeline over the
same documents on one core (both keeping P(procedural) >= 0.5), and are scored against the same held-out
ground truth. Throughput is per core: documents / (pipeline time − the same pipeline's time with no filter),
so reading is not counted. The timed corpus is the run's corpus repeated `copies` times, so that a pass lasts
seconds rather than a fraction of one, and the passes of the two filters alternate, so that a change in the
machine's load falls on both; each filter's best pass is reported.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

from curate.bench.arguments import FilterBenchArguments
from curate.errors import InputError, require
from curate.paths import RunDir


def train_fasttext(texts: list[str], labels: np.ndarray, path: Path, seed: int) -> Path:
    """A supervised fastText model on the same labels; settings like DeepSeekMath's recall classifier."""
    fasttext = require("fasttext", "bench", "the fastText filter")

    train_file = path.with_suffix(".train.txt")
    with train_file.open("w") as f:
        for text, label in zip(texts, labels, strict=True):
            f.write(f"__label__{'procedural' if label else 'other'} {' '.join(text.split())}\n")
    model = fasttext.train_supervised(
        str(train_file), epoch=25, lr=0.5, wordNgrams=2, dim=64, minCount=1, thread=1, seed=seed, verbose=0
    )
    model.save_model(str(path))
    return path


def timed_pipeline(corpus: Path, step, logs: Path) -> float:
    """Wall time of reading `corpus` then running `step` (None: reading only) on one core."""
    from datatrove.executor import LocalPipelineExecutor
    from threadpoolctl import threadpool_limits

    from curate.corpus.io import make_reader

    pipeline = [make_reader(corpus)] + ([step] if step is not None else [])
    executor = LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=str(logs))
    with threadpool_limits(1):
        started = time.perf_counter()
        executor.run()
        return time.perf_counter() - started


@contextmanager
def datatrove_model_copy(model: Path) -> Iterator[None]:
    """Remove, before and after, the copy of `model` that datatrove's FastTextClassifierFilter keeps.

    The filter copies even a local model into the Hugging Face assets cache, named after its path, and uses
    that copy for as long as it exists: a second bench in the same folder would time the first bench's model,
    and every bench would leave its model (half a gigabyte) behind in the user's cache.
    """
    from fsspec.core import strip_protocol
    from huggingface_hub import cached_assets_path

    folder = cached_assets_path(library_name="datatrove", namespace="filters", subfolder="fasttext")
    copy = folder / strip_protocol(str(model)).replace("/", "_")
    leftovers = [copy, copy.with_name(copy.name + ".lock"), copy.with_name(copy.name + ".completed")]
    for path in leftovers:
        path.unlink(missing_ok=True)
    try:
        yield
    finally:
        for path in leftovers:
            path.unlink(missing_ok=True)


def f1_at_half(probabilities: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, probabilities >= 0.5))


OUTPUTS = ("corpus", "logs", "fasttext.bin", "fasttext.train.txt", "summary.json")


def prepare_output(args: FilterBenchArguments) -> Path:
    """The output directory, without an earlier run's outputs (datatrove would skip its completed tasks).
    They are replaced in the default directory; a given `--out` that holds anything needs `overwrite`, and
    even then only the bench's own outputs are deleted."""
    out = args.output_dir
    if args.out is not None and not args.overwrite and out.is_dir() and any(out.iterdir()):
        raise InputError(
            f"{out} is not empty: pass --overwrite to replace the bench's outputs in it, or another --out"
        )
    for path in (out / name for name in OUTPUTS):
        if path.is_dir():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_filter_bench(args: FilterBenchArguments) -> dict:
    """Time both filters and score both classifiers; returns the summary, also written to OUT/summary.json."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import FastTextClassifierFilter

    from curate.classify import load_classifier
    from curate.corpus.io import read_documents, write_documents
    from curate.corpus.split import is_heldout
    from filters.procedural import ProceduralScoreFilter

    fasttext = require("fasttext", "bench", "curate bench filter")
    run_dir = RunDir(args.run_dir)
    if not run_dir.classifier_training_set.exists():
        raise InputError(f"{run_dir.classifier_training_set}: missing; run `curate classifier train` first")
    out = prepare_output(args)
    training_set = pl.read_parquet(run_dir.classifier_training_set)
    documents = {d.id: d for d in read_documents(run_dir.corpus)}
    texts = [documents[i].text for i in training_set["doc_id"]]
    fasttext_model = train_fasttext(texts, training_set["label"].to_numpy(), out / "fasttext.bin", args.seed)
    ours = run_dir.classifier_file

    heldout = [d for i, d in documents.items() if is_heldout(i, args.heldout_fraction, args.seed)]
    truth = np.array([bool(d.metadata["procedural"]) for d in heldout])
    copies = (
        Document(text=d.text, id=f"{d.id}#{copy}", metadata=d.metadata)
        for copy in range(args.copies)
        for d in documents.values()
    )
    write_documents(copies, out / "corpus")
    timed_documents = len(documents) * args.copies

    steps = {
        "reading": lambda: None,
        "ours": lambda: ProceduralScoreFilter(str(ours), threshold=0.5),
        "fasttext": lambda: FastTextClassifierFilter(str(fasttext_model), keep_labels=("procedural", 0.5)),
    }
    best = dict.fromkeys(steps, float("inf"))
    with datatrove_model_copy(fasttext_model):
        for repeat in range(args.repeats):  # alternating, so load changes fall on every filter alike
            for name, make_step in steps.items():
                seconds = timed_pipeline(out / "corpus", make_step(), out / "logs" / name / str(repeat))
                best[name] = min(best[name], seconds)
    reading = best.pop("reading")
    results = {}
    for name, seconds in best.items():
        filter_seconds = max(seconds - reading, 1e-9)
        results[name] = {
            "pipeline_seconds": seconds,
            "filter_seconds": filter_seconds,
            "docs_per_second_per_core": timed_documents / filter_seconds,
        }

    texts_heldout = [d.text for d in heldout]
    results["ours"]["f1"] = f1_at_half(load_classifier(ours).procedural_probability(texts_heldout), truth)
    model = fasttext.load_model(str(fasttext_model))
    labels, probs = model.predict([" ".join(t.split()) for t in texts_heldout], k=-1)
    p_procedural = np.array(
        [
            dict(zip(lab, pr, strict=True)).get("__label__procedural", 0.0)
            for lab, pr in zip(labels, probs, strict=True)
        ]
    )
    results["fasttext"]["f1"] = f1_at_half(p_procedural, truth)

    summary = {
        "documents": len(documents),
        "timed_documents": timed_documents,
        "heldout_documents": len(heldout),
        "reading_seconds": reading,
        "training_documents": training_set.height,
        **results,
        "speed_ratio_ours_over_fasttext": results["ours"]["docs_per_second_per_core"]
        / results["fasttext"]["docs_per_second_per_core"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
