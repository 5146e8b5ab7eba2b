"""`curate bench attribution`: this engine against kronfluence, side by side, at matched settings.

Both run in one process on the same random-init Llama LM, documents and probes: EK-FAC on the MLP layers,
true Fisher with the same sampled labels, damping 0.1 × mean corrected eigenvalue per layer, rank-32 queries.
Printed (each the best of `--repeats` interleaved runs): fitting and scoring time, total, peak memory (resident
set growth during each phase, sampled by `PeakMemory`), documents/s, score agreement (Pearson and Spearman per probe), our/kronfluence time ratios, and the
throughput of plain forward+backward passes over the same documents (the practical limit for scoring). Then
how our time grows with the number of documents (linear) and probes (nearly flat: the low-rank queries of
all probes are contracted in one matmul).

The default is the anchor setting (4 layers, hidden 128, MLP 512, vocab 4096; 512 documents × 128 tokens;
20 probes); `--quick` is a tiny version for a smoke test. `--model DIR --corpus C --probe-file F` run the same on
a real model, its documents and probes (`--modules` picks the layers); `--store --store-only` measures only the
compressed gradient store (`curate.bench.store`).
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from dataclasses import replace

import torch
from scipy.stats import pearsonr, spearmanr
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from attribution.ekfac import (
    FactorArguments,
    ScoreArguments,
    find_modules,
    fit_factors,
    precondition_queries,
    score_documents,
)
from attribution.task import IGNORE, Encoded, collate, summed_log_prob
from curate.bench.arguments import BenchSettings
from curate.bench.reference import KRONFLUENCE_INSTALL
from curate.errors import InputError, MissingDependency, require


def build_model(settings: BenchSettings) -> LlamaForCausalLM:
    torch.manual_seed(settings.seed)
    config = LlamaConfig(
        vocab_size=settings.vocab, hidden_size=settings.hidden, intermediate_size=settings.intermediate,
        num_hidden_layers=settings.layers, num_attention_heads=settings.heads, num_key_value_heads=settings.heads,
        max_position_embeddings=max(settings.tokens, settings.prompt_tokens + settings.completion_tokens),
    )
    return LlamaForCausalLM(config).eval()


def build_data(settings: BenchSettings) -> tuple[list[Encoded], list[Encoded]]:
    """Uniformly random token sequences: documents are all scored, probes only on their completion."""
    generator = torch.Generator().manual_seed(settings.seed)
    documents = []
    for _ in range(settings.documents):
        ids = torch.randint(1, settings.vocab, (settings.tokens,), generator=generator).tolist()
        documents.append(Encoded(ids, list(ids)))
    probes = []
    for _ in range(settings.probes):
        ids = torch.randint(1, settings.vocab, (settings.prompt_tokens + settings.completion_tokens,),
                            generator=generator).tolist()
        probes.append(Encoded(ids, [IGNORE] * settings.prompt_tokens + ids[settings.prompt_tokens:]))
    return documents, probes


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS, so a phase's growth isn't hidden by an earlier phase's leftovers."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Growth of the resident set size over a block, sampled by a thread every `SAMPLE_SECONDS` (MiB)."""

    SAMPLE_SECONDS = 0.005  # often enough to catch a phase's short-lived peak, rarely enough to cost nothing

    def __init__(self):
        self.peak_mib = 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            time.sleep(self.SAMPLE_SECONDS)

    def __enter__(self) -> PeakMemory:
        gc.collect()
        _release_free_memory()
        self._base = self._peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = (max(self._peak, self._rss()) - self._base) / 2**20


def plain_forward_backward(model, documents: list[Encoded], batch_size: int) -> float:
    """Seconds for one ordinary training-style forward+backward pass (weight gradients included) per document."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    for offset in range(0, len(documents), batch_size):
        batch = collate(documents[offset : offset + batch_size])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        (-summed_log_prob(logits, batch["labels"]).sum()).backward()
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return elapsed


def run_ours(model, documents, probes, settings: BenchSettings) -> dict:
    factor_args = FactorArguments(modules=settings.module_pattern, batch_size=settings.batch_size,
                                  max_length=settings.tokens, seed=settings.seed, progress=False)
    score_args = ScoreArguments(rank=settings.rank, batch_size=settings.batch_size, max_length=settings.tokens,
                                progress=False)
    with PeakMemory() as fit_memory:
        start = time.perf_counter()
        factors = fit_factors(model, None, documents, factor_args)
        fit_seconds = time.perf_counter() - start
    with PeakMemory() as score_memory:
        start = time.perf_counter()
        queries = precondition_queries(model, None, probes, factors, score_args)
        scores = score_documents(model, None, documents, queries).scores
        score_seconds = time.perf_counter() - start
    return {"fit": fit_seconds, "score": score_seconds, "total": fit_seconds + score_seconds, "scores": scores,
            "memory": max(fit_memory.peak_mib, score_memory.peak_mib)}


def run_reference(model, documents, probes, settings: BenchSettings) -> dict:
    from curate.bench.reference import run_kronfluence

    with PeakMemory() as memory:
        result = run_kronfluence(model, documents, probes, settings.module_pattern, rank=settings.rank,
                                 batch_size=settings.batch_size, seed=settings.seed)
    return {"fit": result.fit_seconds, "score": result.score_seconds, "scores": result.scores,
            "total": result.fit_seconds + result.score_seconds, "memory": memory.peak_mib}


def scoring_seconds(model, factors, documents, probes, settings: BenchSettings) -> tuple[float, float]:
    """Seconds to build the queries (once per probe set) and to score the documents against them."""
    args = ScoreArguments(rank=settings.rank, batch_size=settings.batch_size, max_length=settings.tokens,
                          progress=False)
    start = time.perf_counter()
    queries = precondition_queries(model, None, probes, factors, args)
    prepared = time.perf_counter()
    score_documents(model, None, documents, queries)
    return prepared - start, time.perf_counter() - prepared


def agreement(ours: torch.Tensor, reference: torch.Tensor) -> tuple[float, float, float, float]:
    """Mean and minimum over probes of the Pearson and Spearman correlation across documents."""
    pearson = [pearsonr(ours[:, j], reference[:, j])[0] for j in range(ours.size(1))]
    spearman = [spearmanr(ours[:, j], reference[:, j])[0] for j in range(ours.size(1))]
    return sum(pearson) / len(pearson), min(pearson), sum(spearman) / len(spearman), min(spearman)


def load_real(settings: BenchSettings) -> tuple[nn.Module, list[Encoded], list[Encoded]]:
    """--model, the first --documents of --corpus of at least half --tokens tokens (truncated to --tokens), and
    --probes probes spread evenly over --probe-file (which lists its sets one after another)."""
    from attribution.ekfac.data import encode_probes
    from attribution.model import load_causal_lm
    from curate.probes.sets import read_probes

    model, tokenizer = load_causal_lm(settings.model, "cpu", threads=settings.threads, max_length=settings.tokens)
    documents = long_documents(settings.corpus, tokenizer, settings.tokens, settings.documents)
    read = read_probes(settings.probe_file)
    count = min(settings.probes, len(read))
    return model, documents, encode_probes([read[i * len(read) // count] for i in range(count)], tokenizer)[1]


def _lengths(sequences: list[Encoded]) -> str:
    low, high = min(len(s.input_ids) for s in sequences), max(len(s.input_ids) for s in sequences)
    return f"{low}" if low == high else f"{low}-{high}"


def run_bench(settings: BenchSettings, echo=print) -> dict:
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if settings.kronfluence and not settings.store_only:
        try:
            require("kronfluence", "bench", "the kronfluence reference", KRONFLUENCE_INSTALL)
        except MissingDependency as missing:  # the bench still times this engine alone
            echo(f"{missing}; timing this engine only (--no-kronfluence)")
            settings = replace(settings, kronfluence=False)
    if settings.model is None:
        model = build_model(settings)
        documents, probes = build_data(settings)
        parameters = sum(p.numel() for p in model.parameters())
        echo(f"model: Llama, {parameters / 1e6:.2f}M parameters ({settings.layers} layers, hidden {settings.hidden}, "
             f"MLP {settings.intermediate}, vocab {settings.vocab}); {settings.documents} documents × {settings.tokens} "
             f"tokens; {settings.probes} probes; rank {settings.rank}; batch {settings.batch_size}; "
             f"{torch.get_num_threads()} threads")
    else:
        model, documents, probes = load_real(settings)
        # the counts found, and the model's vocabulary for the random probes of the probe scaling
        settings = replace(settings, documents=len(documents), probes=len(probes), vocab=model.config.vocab_size)
        parameters = sum(p.numel() for p in model.parameters())
        tracked = find_modules(model, settings.module_pattern)
        echo(f"model: {settings.model}, {parameters / 1e6:.2f}M parameters, {len(tracked)} tracked layers "
             f"({settings.module_pattern}); {len(documents)} documents of {_lengths(documents)} tokens from "
             f"{settings.corpus}; {len(probes)} probes of {_lengths(probes)} tokens from {settings.probe_file}; "
             f"rank {settings.rank}; batch {settings.batch_size}; {torch.get_num_threads()} threads")
    results = {} if settings.store_only else compare(model, documents, probes, settings, echo)
    if settings.scaling and not settings.store_only:
        scaling(model, documents, probes, settings, echo)
    if settings.store:
        from curate.bench.store import run_store_bench

        results["store"] = run_store_bench(model, documents, probes, settings, echo)
    return results


def compare(model, documents: list[Encoded], probes: list[Encoded], settings: BenchSettings, echo=print) -> dict:
    """Plain forward+backward, this engine and kronfluence (each the best of --repeats), printed and returned."""
    # On a shared machine one run can be slowed by a neighbour: repeat everything interleaved, keep the best.
    runs = {"plain": [], "ours": [], "kronfluence": []}
    for _ in range(settings.repeats):
        runs["plain"].append(plain_forward_backward(model, documents, settings.batch_size))
        runs["ours"].append(run_ours(model, documents, probes, settings))
        if settings.kronfluence:
            runs["kronfluence"].append(run_reference(model, documents, probes, settings))
    plain = min(runs["plain"])
    plain_rate = settings.documents / plain
    best_of = f" (best of {settings.repeats})" if settings.repeats > 1 else ""
    echo(f"plain forward+backward{best_of}: {plain:.2f} s, {plain_rate:.1f} documents/s")
    results = {"plain_seconds": plain}
    for name in ("ours", "kronfluence"):
        if runs[name]:
            results[name] = {key: min(run[key] for run in runs[name]) for key in ("fit", "score", "total", "memory")}
            results[name]["scores"] = runs[name][0]["scores"]
    echo(f"{'':14}{'fit s':>8}{'score s':>9}{'total s':>9}{'peak MiB':>10}{'docs/s':>9}{'vs plain':>10}")
    for name in ("ours", "kronfluence"):
        if name in results:
            r = results[name]
            rate = settings.documents / r["score"]
            echo(f"{name:14}{r['fit']:8.2f}{r['score']:9.2f}{r['total']:9.2f}{r['memory']:10.0f}{rate:9.1f}"
                 f"{rate / plain_rate:10.2f}")
    echo(f"ours fit = {results['ours']['fit'] / plain:.2f} × plain fwd+bwd pass")
    if "kronfluence" in results:
        ours, ref = results["ours"], results["kronfluence"]
        echo("ours / kronfluence time: fit {:.2f}, score {:.2f}, total {:.2f} (speed-up {:.2f}×); memory {:.2f}".format(
            ours["fit"] / ref["fit"], ours["score"] / ref["score"], ours["total"] / ref["total"],
            ref["total"] / ours["total"], ours["memory"] / max(ref["memory"], 1e-9)))
        mean_p, min_p, mean_s, min_s = agreement(ours["scores"], ref["scores"])
        results["agreement"] = {"pearson_mean": mean_p, "pearson_min": min_p, "spearman_mean": mean_s,
                                "spearman_min": min_s}
        echo(f"agreement with kronfluence per probe: Pearson mean {mean_p:.5f} min {min_p:.5f}; "
             f"Spearman mean {mean_s:.5f} min {min_s:.5f}")
    return results


def scaling(model, documents: list[Encoded], probes: list[Encoded], settings: BenchSettings, echo=print) -> None:
    """How our scoring time grows with the documents and with the probes."""
    factors = fit_factors(model, None, documents, FactorArguments(modules=settings.module_pattern,
                                                                  batch_size=settings.batch_size,
                                                                  max_length=settings.tokens, progress=False))
    echo("our scoring time as documents grow, all probes (queries are built once per probe set):")
    for fraction in (4, 2, 1):
        n = max(1, settings.documents // fraction)
        query_seconds, document_seconds = scoring_seconds(model, factors, documents[:n], probes, settings)
        echo(f"  {n:6d} documents: {document_seconds:7.2f} s ({document_seconds / n * 1000:.1f} ms/document)"
             f" + queries {query_seconds:.2f} s")
    echo(f"our scoring time as probes grow, {settings.documents} documents:")
    more_probes = build_data(replace(settings, probes=settings.probes * 4, seed=settings.seed + 1))[1]
    for count in sorted({1, max(1, settings.probes // 4), settings.probes, settings.probes * 4}):
        query_seconds, document_seconds = scoring_seconds(model, factors, documents, more_probes[:count], settings)
        echo(f"  {count:6d} probes: documents {document_seconds:7.2f} s + queries {query_seconds:.2f} s")


def long_documents(corpus, tokenizer, tokens: int, count: int) -> list[Encoded]:
    """The first `count` documents of `corpus` with at least half of `tokens` tokens, encoded and truncated to
    `tokens`: a benchmark's rows should measure full-length work, not short documents."""
    from attribution.ekfac.data import encode
    from curate.corpus.io import read_documents

    documents = []
    for document in read_documents(corpus):
        encoded = encode(document, tokenizer, tokens)
        if 2 * len(encoded.input_ids) >= tokens:
            documents.append(encoded)
        if len(documents) == count:
            break
    if not documents:
        raise InputError(f"{corpus} has no document of {tokens // 2} tokens or more")
    return documents
