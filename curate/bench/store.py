"""`curate bench attribution --store`: the compressed gradient store against full EK-FAC, at the bench's setting.

Measured in the same process, on the bench's model, documents and probes (the random-init anchor, or `--model`
with `--corpus` and `--probe-file`), with the same fitted factors:
  one scoring pass   rank-`settings.rank` queries and a pass over the documents (what `curate influence score` does),
                     timed just before and just after the default store's build: the mean is what every ratio
                     divides;
  exact pass         exact queries (`--exact`): the reference every agreement is measured against;
  build              `curate influence index`'s work: one pass compressing every document, against one scoring pass;
  query              scoring the probes from the store (exact queries mapped into it, the stored numbers decoded
                     to float32, one matmul per layer), against one scoring pass: what a new probe set costs
                     once the store exists; the probes' own forward and backward, timed alone, bound it;
  bytes/doc          stored bytes per document in each precision (`--precisions`; each size is built once and
                     encoded in each) against the full per-document gradient in float32 (Σ out·in · 4 bytes);
  agreement          per probe, Pearson and Spearman correlation across documents with the exact scores (median
                     over probes), and the overlap of the top 1% of documents (at least one document).
Each compression at a few sizes k (`--dims`) and precisions, printed as a table and drawn as agreement against
stored bytes and against query speed. A swept size is compressed in float32 and encoded in each precision; the
default store is built as `curate influence index` builds it, in its compute dtype (`compress.compute_dtype`).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch
from scipy.stats import pearsonr, spearmanr

from attribution.ekfac import (
    FactorArguments,
    ScoreArguments,
    find_modules,
    fit_factors,
    precondition_queries,
    score_documents,
)
from attribution.ekfac.data import encode_probes, to_batch
from attribution.ekfac.modules import capture
from attribution.store.arguments import IndexArguments
from attribution.store.compress import Compression, compute_dtype
from attribution.store.index import compress_documents
from attribution.store.precision import encode, inner_products
from attribution.store.query import map_queries
from attribution.task import summed_log_prob
from curate.bench.arguments import BenchSettings

DEFAULT_LABEL = "5%"  # the k column of the default store, whose k is chosen per layer (IndexArguments.share)


def top_overlap(ours: torch.Tensor, reference: torch.Tensor, fraction: float = 0.01) -> float:
    count = max(1, math.ceil(fraction * ours.numel()))
    return len(set(ours.topk(count).indices.tolist()) & set(reference.topk(count).indices.tolist())) / count


def agreement(ours: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    columns = range(ours.size(1))
    return {
        "pearson": statistics.median(pearsonr(ours[:, j], reference[:, j])[0] for j in columns),
        "spearman": statistics.median(spearmanr(ours[:, j], reference[:, j])[0] for j in columns),
        "top1%": statistics.median(top_overlap(ours[:, j], reference[:, j]) for j in columns),
    }


def _timed(work: Callable):
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def probe_pass(model, probes, modules, settings: BenchSettings) -> float:
    """Seconds of the probes' forward and backward alone (`capture`, in batches of --batch-size): what a query
    costs before it touches any store, so pass / this bounds every store's speed-up."""
    _, encoded = encode_probes(probes, None)
    device = next(model.parameters()).device
    start = time.perf_counter()
    for first in range(0, len(encoded), settings.batch_size):
        batch = to_batch(encoded[first : first + settings.batch_size], 0, device)
        capture(model, modules, batch, lambda logits, b: summed_log_prob(logits, b["labels"]))
    return time.perf_counter() - start


def store_scores(model, probes, factors, compression: Compression, encoded: dict, precision: str,
                 settings: BenchSettings):
    """Scores from an in-memory store, the way `attribution.store.query` scores a shard: the numbers decoded from
    `precision`, the queries mapped into the store."""
    args = ScoreArguments(rank=None, batch_size=settings.batch_size, max_length=settings.tokens, progress=False)
    queries = precondition_queries(model, None, probes, factors, args, eigenbasis=True)
    mapped = map_queries(queries, compression, factors)
    return sum(inner_products(encoded, name, precision, compression.layers[name].shape[1], query)
               for name, query in mapped.items())


def run_store_bench(model, documents, probes, settings: BenchSettings, echo=print) -> list[dict]:
    runs = 4 + len(settings.compressions) * len(settings.dims)
    # each phase is one pass over the documents, minutes long on a real model: say which one is running
    echo(f"store bench: fitting factors on {len(documents)} documents, then {runs} passes (rank {settings.rank} "
         f"scoring, the default store, rank {settings.rank} scoring again, exact scoring, then "
         f"{len(settings.compressions)} compressions × k {settings.dims})")
    factors = fit_factors(model, None, documents, FactorArguments(modules=settings.module_pattern,
                                                                  batch_size=settings.batch_size,
                                                                  max_length=settings.tokens, progress=False))
    modules = find_modules(model, factors.header["module_pattern"])
    full_floats = sum(t.out_features * t.in_features for t in modules)

    def full_pass(rank):
        args = ScoreArguments(rank=rank, batch_size=settings.batch_size, max_length=settings.tokens, progress=False)
        return score_documents(model, None, documents, precondition_queries(model, None, probes, factors, args)).scores

    def measure(args: IndexArguments, precisions: list[str], label) -> list[dict]:
        """Build a store at `args` and query it in each precision: rows with the scores, not yet compared."""
        # one precision is built in it, as `curate influence index` does, since a store's float32 numbers are large (see
        # docs/performance.md); several keep float32 to encode in each
        built = precisions[0] if len(precisions) == 1 else "float32"
        dtype = compute_dtype(replace(args, precision=built), next(model.parameters()).device)
        compression = Compression.build(modules, args, factors, {"compute_dtype": dtype})
        (_, layers, _, _), build = _timed(lambda: compress_documents(model, None, documents, compression, args,
                                                                     precision=built))
        measured = []
        for precision in precisions:
            encoded = layers if precision == built else {key: value for layer in compression.layers for key, value
                                                         in encode(layer, layers[layer], precision).items()}
            scores, query = _timed(lambda e=encoded, p=precision:
                                   store_scores(model, probes, factors, compression, e, p, settings))
            measured.append({"compression": args.compression, "k": label, "precision": precision, "scores": scores,
                             "fraction": compression.bytes_per_document(precision) / (4 * full_floats),
                             "build": build, "query": query})
            del encoded
        return measured

    default = IndexArguments(seed=settings.seed, batch_size=settings.batch_size, max_length=settings.tokens,
                             progress=False)
    # The default store is built between two timed scoring passes, and its ratios use their mean: the machine's
    # speed drifts (2× within an hour on a shared 2-core VM), so a pass timed minutes apart misstates them.
    echo(f"pass 1/{runs}: scoring, queries of rank {settings.rank}")
    ranked, before = _timed(lambda: full_pass(settings.rank))
    echo(f"pass 2/{runs}: the default store ({before:.1f} s for the first)")
    rows = measure(default, [default.precision], DEFAULT_LABEL)
    echo(f"pass 3/{runs}: scoring, queries of rank {settings.rank} again")
    _, after = _timed(lambda: full_pass(settings.rank))
    pass_seconds = (before + after) / 2
    floor = min(probe_pass(model, probes, modules, settings) for _ in range(3))
    echo(f"pass 4/{runs}: scoring, exact queries")
    exact, exact_seconds = _timed(lambda: full_pass(None))
    for number, (name, size) in enumerate(((name, size) for name in settings.compressions for size in settings.dims),
                                          start=5):
        echo(f"pass {number}/{runs}: {name}, k {size}")
        rows += measure(replace(default, compression=name, dims=size), settings.precisions, size)
    rows = [{"compression": f"full rank {settings.rank}", "k": "-", "precision": "float32", "fraction": 1.0,
             "build": float("nan"), "query": pass_seconds, **agreement(ranked, exact)}] + \
        [{**row, **agreement(row.pop("scores"), exact)} for row in rows]
    echo(f"gradient store, {len(documents)} documents, {len(probes)} probes; full per-document gradient "
         f"{full_floats * 4 / 1e3:.0f} kB; one scoring pass (rank {settings.rank}) {pass_seconds:.2f} s (the mean of "
         f"{before:.2f} s before the default store's build and {after:.2f} s after), exact pass {exact_seconds:.2f} "
         f"s; the probes' forward and backward alone {floor:.3f} s, so no store queries more than "
         f"{pass_seconds / floor:.0f}× faster than a pass; agreement with the exact EK-FAC scores at the same factors "
         f"(median over probes)")
    echo(f"{'compression':<14}{'k':>5}{'precision':>10}{'bytes/doc':>11}{'of full':>9}{'build s':>9}{'build/pass':>11}"
         f"{'query s':>9}{'pass/query':>11}{'Pearson':>9}{'Spearman':>9}{'top-1%':>8}")
    for row in rows:
        echo(f"{row['compression']:<14}{row['k']:>5}{row['precision']:>10}{row['fraction'] * full_floats * 4:>11.0f}"
             f"{row['fraction']:>9.2%}"
             f"{row['build']:>9.2f}{row['build'] / pass_seconds:>11.2f}{row['query']:>9.3f}"
             f"{pass_seconds / row['query']:>11.1f}{row['pearson']:>9.3f}{row['spearman']:>9.3f}{row['top1%']:>8.2f}")
    if settings.store_plot:
        path = plot_curves(rows, settings.store_plot, pass_seconds, floor)
        echo(f"agreement against storage and against query speed -> {path}")
    return rows


# the store's aims, drawn as guides: storing at most 5% of the gradient, querying 100× faster than a pass
BYTES_TARGET, SPEED_TARGET = 5, 100


def plot_curves(rows: list[dict], path: str, pass_seconds: float, floor: float):
    """Median Spearman and top-1% overlap against stored bytes, and Spearman against how many times faster than a
    pass the store answers, with the bound the probes' own forward and backward set (pass / `floor`)."""
    from curate.plots import new_figure, save_figure

    figure, axes = new_figure(15, 4, ncols=3)
    panels = [(axes[0], "fraction", "spearman"), (axes[1], "fraction", "top1%"), (axes[2], "speed", "spearman")]

    def x(row, key):
        return 100 * row["fraction"] if key == "fraction" else pass_seconds / row["query"]

    # colour: compression; line: precision; a star: the default store
    styles = {"float32": "-", "int8": "--", "int4": ":", "int2": "-.", "int1": (0, (1, 4))}
    swept = [row for row in rows[1:] if row["k"] != DEFAULT_LABEL]
    for colour, name in enumerate(dict.fromkeys(row["compression"] for row in swept)):
        for precision in dict.fromkeys(row["precision"] for row in swept if row["compression"] == name):
            mine = [row for row in swept if (row["compression"], row["precision"]) == (name, precision)]
            for axis, across, key in panels:
                axis.plot([x(row, across) for row in mine], [row[key] for row in mine], marker="o",
                          color=f"C{colour}", linestyle=styles[precision], label=f"{name} {precision}")
    for row in rows[1:]:
        if row["k"] == DEFAULT_LABEL:
            for axis, across, key in panels:
                axis.plot([x(row, across)], [row[key]], marker="*", markersize=14, color="black",
                          linestyle="none", label=f"default ({row['compression']} {row['precision']})")
    for axis, across, key in panels:
        axis.set_xscale("log")
        axis.set_ylabel({"spearman": "median Spearman", "top1%": "median top-1% overlap"}[key])
        if across == "fraction":
            axis.axvline(BYTES_TARGET, color="grey", linestyle=":", linewidth=1)
            axis.set_xlabel("stored bytes, % of the full per-document gradient in float32")
        else:
            axis.axvline(SPEED_TARGET, color="grey", linestyle=":", linewidth=1, label=f"{SPEED_TARGET}× target")
            axis.axvline(pass_seconds / floor, color="red", linestyle="--", linewidth=1,
                         label="bound: the probes' forward and backward")
            axis.set_xlabel("query speed-up: one scoring pass / one store query")
    axes[0].legend(fontsize="small")
    axes[2].legend(handles=axes[2].get_legend_handles_labels()[0][-3:], fontsize="small")
    return save_figure(figure, path)
