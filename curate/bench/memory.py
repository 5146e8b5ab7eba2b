"""`curate bench memory`: the peak memory and disk `curate influence fit`, `score` and `index` plan before they
start, against what each takes when it runs.

Each command runs as its own process (`python -m curate.cli ...`, in one process: no --tasks) on one run
directory, one after the other. Its peak memory is the peak resident set the kernel reports for that child when
it is reaped (`os.wait4`'s `ru_maxrss`: the child's own, where `RUSAGE_CHILDREN` would keep the largest of all
children so far), its disk the bytes of the files in its output folder. The estimates come from the planning
functions the commands call, on the same model and settings: `factor_needs` (behind `plan_factors`),
`plan_scoring` (its larger phase; the full queries it plans depend on the memory budget, so the budget is fixed
here and passed to `curate influence score` as --memory-budget), `scores_disk` and `index_needs` (behind `plan_index`).
The target: every estimate within 20% of its measurement.

By default the model and data are the anchor setting of `curate bench attribution` (a random-init 2.1M-parameter
Llama, 512 documents of 128 random tokens, 20 probes of 24 + 8 tokens), written as a Hugging Face model directory
with a word-level tokenizer (one word per token id, so a document is exactly its tokens), a jsonl corpus and
probes.jsonl. `--model DIR --corpus C --probes FILE` measure a real model on the first --documents of C instead.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from attribution.ekfac.memory import GB, default_budget, describe, factor_needs, plan_scoring, scores_disk
from attribution.store.memory import index_needs
from curate.bench.arguments import MemoryBenchArguments
from curate.errors import CurateError, InputError
from curate.paths import RunDir

STAGES = ("fit", "score", "index")
TARGET = 0.2  # the largest relative error of an estimate the issue accepts
PLAN_LINES = ("factors plan:", "memory estimate", "index plan:")  # how each command starts its printed plan


def word_tokenizer(vocab: int):
    """A word-level tokenizer whose token i is the word `w{i}` (0 is padding): text written from token ids
    reads back as exactly those ids, with no BOS added."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, **{f"w{i}": i for i in range(1, vocab)}}
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="<pad>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<pad>")


def _words(ids: list[int]) -> str:
    return " ".join(f"w{i}" for i in ids)


def write_anchor(args: MemoryBenchArguments, run: RunDir) -> None:
    """The attribution bench's model, documents and probes (at `args.settings`) as a run directory's files."""
    from attribution.task import IGNORE
    from curate.bench.attribution import build_data, build_model
    from curate.probes.sets import Probe, write_probes

    settings = args.settings
    build_model(settings).save_pretrained(run.model)
    word_tokenizer(settings.vocab).save_pretrained(run.model)
    documents, probes = build_data(settings)
    run.corpus.mkdir(parents=True)
    with (run.corpus / "part-00000.jsonl").open("w") as handle:
        for index, document in enumerate(documents):
            handle.write(json.dumps({"id": f"d{index:05d}", "text": _words(document.input_ids)}) + "\n")
    written = []
    for index, probe in enumerate(probes):
        prompt = [token for token, label in zip(probe.input_ids, probe.labels, strict=True) if label == IGNORE]
        completion = probe.input_ids[len(prompt):]
        written.append(Probe(f"p{index:03d}", "arithmetic", "reasoning", _words(prompt), " " + _words(completion),
                             f"w{completion[-1]}"))
    write_probes(written, run.probes)


def copy_documents(corpus: Path, count: int, out: Path) -> int:
    """The first `count` documents of `corpus` into `out` as jsonl (id and text); returns how many there were."""
    from curate.corpus.io import read_documents

    out.mkdir(parents=True)
    copied = 0
    with (out / "part-00000.jsonl").open("w") as handle:
        for copied, document in enumerate(read_documents(corpus), start=1):
            handle.write(json.dumps({"id": document.id, "text": document.text}) + "\n")
            if copied == count:
                break
    if not copied:
        raise InputError(f"{corpus} has no documents")
    return copied


def measure(command: list[str], log: Path) -> tuple[float, int]:
    """Seconds and peak resident bytes of `command` run as a child process, its output to `log`."""
    start = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C reaches the child too; reap it rather than leave it running
            process.kill()
            process.wait()
            raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait for it again
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise CurateError(f"`{' '.join(command[2:])}` failed with exit status {process.returncode}:\n{tail}")
    return time.perf_counter() - start, usage.ru_maxrss * 1024  # Linux reports kilobytes


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def estimates(model_dir: Path, probes: Path, documents: int, args: MemoryBenchArguments,
              budget: float) -> dict[str, tuple[dict[str, int], int]]:
    """Per stage, the bytes per component of its planned peak memory and its planned disk, as its command plans
    them for these settings."""
    from attribution.ekfac import FactorArguments, ScoreArguments, find_modules
    from attribution.model import load_causal_lm
    from attribution.store.arguments import IndexArguments
    from curate.probes.sets import read_probes

    model, _ = load_causal_lm(model_dir, "cpu", max_length=args.max_length)
    factor_args = FactorArguments(modules=args.modules, batch_size=args.batch_size, max_length=args.max_length,
                                  seed=args.seed)
    modules = find_modules(model, factor_args.modules)
    score_args = ScoreArguments(batch_size=args.batch_size, max_length=args.max_length)
    count = len(read_probes(probes))
    phases, _ = plan_scoring(model, modules, count, score_args, factors=True, build_queries=True, budget=budget)
    largest = max(phases.values(), key=lambda parts: sum(parts.values()))
    return {
        "fit": factor_needs(model, modules, factor_args),
        "score": (largest, scores_disk(modules, count, documents, score_args)),
        "index": index_needs(model, modules, IndexArguments(batch_size=args.batch_size, max_length=args.max_length),
                             documents),
    }


def _ratio(measured: float, planned: float) -> float:
    return measured / planned if planned else math.inf


def run_memory_bench(args: MemoryBenchArguments, echo: Callable[[str], None] = print) -> dict:
    """Run the three commands on the bench's run directory; print and return planned against measured memory and
    disk per stage."""
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise InputError(f"{args.out} is not empty: the commands would resume what is there; pass a new --out")
    root = Path(args.out or tempfile.mkdtemp(prefix="curate-bench-memory-"))
    try:
        return _run(args, RunDir(root), echo)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


def _run(args: MemoryBenchArguments, run: RunDir, echo: Callable[[str], None]) -> dict:
    import polars as pl

    from curate.tables import as_text

    if args.model is None:
        write_anchor(args, run)
        model_dir, probes, documents = run.model, run.probes, args.documents
        settings = args.settings
        described = (f"the attribution bench's {'--quick' if args.quick else 'anchor'} Llama ({settings.layers} "
                     f"layers, hidden {settings.hidden}, MLP {settings.intermediate}, vocab {settings.vocab}), "
                     f"random-token documents and probes")
    else:
        model_dir, probes = args.model, args.probes
        documents = copy_documents(args.corpus, args.documents, run.corpus)
        described = f"{args.model}, the first documents of {args.corpus}, the probes of {args.probes}"
    budget = default_budget("cpu")
    planned = estimates(model_dir, probes, documents, args, budget)
    echo(f"memory bench: {described}; {documents} documents, --max-length {args.max_length}, --batch-size "
         f"{args.batch_size}, --modules {args.modules}, threads {args.threads or 'torch default'}; run directory "
         f"{run.root}")
    common = ["--run-dir", str(run.root), "--model", str(model_dir), "--corpus", str(run.corpus),
              "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
              *(["--threads", str(args.threads)] if args.threads else [])]
    extra = {"fit": ["--seed", str(args.seed), "--modules", args.modules],
             "score": ["--probes", str(probes), "--memory-budget", f"{budget:.3f}"], "index": []}
    outputs = {"fit": run.factors, "score": run.scores, "index": run.store}
    logs = run.root / "bench-logs"
    logs.mkdir()
    stages = {}
    for stage in STAGES:
        seconds, peak = measure([sys.executable, "-m", "curate.cli", "influence", stage, *common, *extra[stage]],
                                logs / f"{stage}.log")
        parts, disk = planned[stage]
        lines = (logs / f"{stage}.log").read_text(errors="replace").splitlines()
        echo(f"{stage}: {seconds:.1f} s; planned {describe(parts)}; it printed: "
             + next((line for line in lines if line.startswith(PLAN_LINES)), "no plan"))
        stages[stage] = {"memory_planned": sum(parts.values()), "memory_measured": peak,
                         "disk_planned": disk, "disk_measured": folder_bytes(outputs[stage]), "seconds": seconds,
                         "parts": parts}
        stages[stage]["memory_ratio"] = _ratio(peak, stages[stage]["memory_planned"])
        stages[stage]["disk_ratio"] = _ratio(stages[stage]["disk_measured"], disk)
    table = pl.DataFrame([{
        "stage": stage, "planned peak GB": row["memory_planned"] / GB, "peak RSS GB": row["memory_measured"] / GB,
        "RSS / plan": row["memory_ratio"], "planned disk MB": row["disk_planned"] / 1e6,
        "disk MB": row["disk_measured"] / 1e6, "disk / plan": row["disk_ratio"], "seconds": row["seconds"],
    } for stage, row in stages.items()])
    echo(as_text(table))
    off = [f"{stage} {kind} {row[f'{kind}_ratio']:.2f}×" for stage, row in stages.items()
           for kind in ("memory", "disk") if not abs(row[f"{kind}_ratio"] - 1) <= TARGET]
    echo(f"every estimate within {TARGET:.0%} of its measurement: " + (f"no ({', '.join(off)})" if off else "yes"))
    return {"stages": stages, "within_target": not off, "documents": documents,
            "run_dir": str(run.root) if args.out else None}
