"""EK-FAC query preconditioning, today's algorithm against the earlier dense one it replaced: a development
benchmark, not part of the `curate` CLI, kept so a change to `attribution.ekfac.precondition` can be timed
against the algorithm it replaced.

    .venv/bin/python benchmarks/precondition.py --quick
    .venv/bin/python benchmarks/precondition.py --model DIR --factors DIR --probe-file F --corpus C --threads 2

Per probe and tracked layer both compute the rank-k query q = −Q_S ((Q_Sᵀ ∇f Q_A) ⊘ (Λ + λ)) Q_Aᵀ:
  earlier (commit 1b5a492, copied below as the reference): the dense gradient ∇f = Σ_t g_t a_tᵀ, rotated into
    the eigenbasis and back as dense matrices, then truncated through its float64 Gram matrix and `eigh`;
  today (`attribution.ekfac.precondition.ekfac_query`): the tokens' vectors rotated, the division, block Krylov
    truncation (`top_singular`) in the eigenbasis, and only the rank-k factors rotated back.
Both run on the same captured (a, g) of each probe batch, interleaved layer by layer, and each phase is timed
with `time.perf_counter`: capture (the forward+backward, shared, reported apart), rotate in, truncate, rotate
out. Beside the seconds stand each phase's matmul FLOPs, so the ceiling of the speed-up can be read off: at equal
FLOP rates the ratio of FLOPs, and with the capture counted, (capture + earlier) / capture even if today's work
took no time. Agreement: the relative Frobenius error of the rank-k queries, and per probe the largest score
change ⟨q, ∇L(z)⟩ over the benchmark's documents relative to the largest score (summed over layers, as scored).
A sweep over Krylov tolerances repeats the truncation at each, with its block count, time and agreement.

The default model is a random-init Llama with SmolLM2-135M's layer shapes and `--layers` layers; factors are
fitted on random-token documents (their quality does not matter, their shapes do), or read with `--factors`.
Random tokens give flatter spectra and kinder agreement than text: on SmolLM2-135M with its fitted factors,
real probes and documents (`--probe-file`, `--corpus`) need more Krylov blocks for the same score agreement.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from attribution.ekfac import FactorArguments, Factors, ScoreArguments, fit_factors
from attribution.ekfac.arguments import DEFAULT_MODULES
from attribution.ekfac.data import encode_probes, to_batch
from attribution.ekfac.modules import Tracked, capture, find_modules, per_example_gradients
from attribution.ekfac.precondition import (
    KRYLOV_BLOCK,
    KRYLOV_TOLERANCE,
    QueryLayer,
    krylov_basis,
    layer_damping,
    low_rank,
    rotate_and_divide,
    rotate_back,
    through_whole_gram,
)
from attribution.options import add_options, option, options_from
from attribution.task import IGNORE, Encoded, summed_log_prob
from curate.errors import CurateError, InputError
from curate.tables import as_text

# SmolLM2-135M's layer shapes (its config.json): the default random-init model.
SMOLLM2_SHAPES = {"hidden": 576, "intermediate": 1536, "heads": 9, "kv_heads": 3, "vocab": 49152}
QUICK_SHAPES = {"hidden": 128, "intermediate": 256, "heads": 4, "kv_heads": 2, "vocab": 256}


@dataclass
class PreconditionBenchArguments:
    """Query preconditioning, today's algorithm against the earlier dense one."""

    model: Path | None = option(None, "a Hugging Face model directory (default: a random-init Llama with "
                                "SmolLM2-135M's layer shapes)")
    modules: str | None = option(None, "regex over layer names (default: the MLP linears)")
    factors: Path | None = option(None, "fitted factors of --model to use (default: fit them on --documents "
                                  "random-token documents; their spectra set how many Krylov blocks are needed)")
    probe_file: Path | None = option(None, "real probes (probes.jsonl) instead of random tokens, --probes of them "
                                     "spread over the file; needs --model for its tokenizer")
    corpus: Path | None = option(None, "real documents (a corpus folder or file) instead of random tokens; needs "
                                 "--model")
    layers: int = option(4, "layers of the random-init model")
    probes: int = option(16, "random-token probes, prompt and completion each 40 ± 8 tokens")
    rank: int = option(32, "rank of each query per layer")
    documents: int = option(8, "random-token documents: factors are fitted on them and they are scored")
    document_tokens: int = option(128, "tokens per document (real ones: truncated, and those under half skipped)")
    batch_size: int = option(8, "probes per forward+backward, as in `curate influence score`")
    tolerances: list[float] = option([1e-8, 1e-6, 1e-5, 1e-4, 1e-3],
                                     "Krylov tolerances to time and check against the earlier algorithm")
    repeats: int = option(1, "runs of each layer's work per algorithm; each phase's fastest is kept")
    seed: int = option(0, "seed of the model, the tokens and the fit")
    threads: int | None = option(None, "torch threads (None: torch's choice)")
    quick: bool = option(False, "tiny layer shapes and short sequences, 32-token documents (seconds; for tests)")
    prompt_tokens: int = 40  # mean lengths; each probe's are drawn within ±20% of them
    completion_tokens: int = 40

    def __post_init__(self) -> None:
        if min(self.layers, self.probes, self.rank, self.documents, self.batch_size, self.repeats,
               self.document_tokens - 1) < 1:
            raise InputError("--layers, --probes, --rank, --documents, --batch-size and --repeats must be ≥ 1, "
                             "--document-tokens ≥ 2")
        if any(tolerance <= 0 for tolerance in self.tolerances):
            raise InputError("--tolerances must be > 0")
        if self.factors is not None and self.model is None:
            raise InputError("--factors needs the --model they were fitted on")
        if (self.probe_file is not None or self.corpus is not None) and self.model is None:
            raise InputError("--probe-file and --corpus need a --model with a tokenizer")
        if self.quick:
            self.prompt_tokens, self.completion_tokens, self.document_tokens = 12, 12, 32

    @property
    def shapes(self) -> dict[str, int]:
        return QUICK_SHAPES if self.quick else SMOLLM2_SHAPES


PHASES = ("rotate in", "truncate", "rotate out")
EIGH_FLOPS = 4  # × N³: a dense symmetric eigendecomposition with eigenvectors, roughly (LAPACK syevd)


# ---------------------------------------------------------------------------------------------------------
# The earlier algorithm, as it was at 1b5a492 (`ekfac_precondition` and `low_rank` of attribution/ekfac), split
# at its phases; `earlier_query` composes them into what that `precondition_queries` computed per layer.


def earlier_rotate_in(
    a: torch.Tensor, g: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor, lambdas: torch.Tensor, damping: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The dense gradient and its squared norm per probe, rotated into the eigenbasis and divided by Λ + λ."""
    gradient = per_example_gradients(a, g)
    squared = gradient.double().square().sum(dim=(1, 2))
    rotated = q_s.t() @ gradient @ q_a
    return rotated / (lambdas + damping), squared


def earlier_rotate_out(divided: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor) -> torch.Tensor:
    """(G + λI)⁻¹ ∇f, dense, back in the layer's basis."""
    return q_s @ divided @ q_a.t()


def earlier_low_rank(matrices: torch.Tensor, rank: int | None) -> QueryLayer:
    """Best rank-k factors of each matrix M: the top-k eigenvectors V_k of its float64 Gram matrix on the shorter
    side, and (M V_k) V_kᵀ."""
    wide = matrices.size(-1) > matrices.size(-2)
    tall = matrices.transpose(-1, -2) if wide else matrices  # (.., long side, short side)
    k = tall.size(-1) if rank is None else min(rank, tall.size(-1))
    gram = tall.double().transpose(-1, -2) @ tall.double()
    vectors = torch.linalg.eigh(gram).eigenvectors[..., -k:].to(matrices.dtype)  # eigh sorts ascending
    projected = tall @ vectors
    if wide:  # M = (V_k)(M^T V_k)^T
        return QueryLayer(vectors.contiguous(), projected.transpose(-1, -2).contiguous())
    return QueryLayer(projected.contiguous(), vectors.transpose(-1, -2).contiguous())


def earlier_query(
    a: torch.Tensor, g: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor, lambdas: torch.Tensor, damping: float,
    rank: int | None,
) -> tuple[QueryLayer, torch.Tensor]:
    """One layer's rank-k EK-FAC queries of a captured probe batch by the earlier algorithm, and ‖∇f‖² per probe."""
    divided, squared = earlier_rotate_in(a, g, q_s, q_a, lambdas, damping)
    return earlier_low_rank(-earlier_rotate_out(divided, q_s, q_a), rank), squared


# ---------------------------------------------------------------------------------------------------------
# FLOPs of each phase for a batch of B probes of T (padded) tokens on an (out, in) layer: matmuls only.


def today_rotate_in_flops(batch: int, tokens: int, out: int, inp: int) -> float:
    if tokens * (out**2 + inp**2) < out * inp * (out + inp):  # `rotated_gradients` rotates the tokens
        return batch * 2.0 * tokens * (out**2 + inp**2 + out * inp)
    return batch * 2.0 * (tokens * out * inp + out * inp * (out + inp))


def krylov_flops(batch: int, long: int, short: int, rank: int, blocks: int) -> float:
    """`top_singular` with `blocks` blocks on (long, short) matrices: 2·blocks + 1 products with A, Gram–Schmidt
    twice per further block, the float64 Gram of the images, and the Rayleigh–Ritz factors."""
    if blocks == 0:
        return 0.0
    c = KRYLOV_BLOCK
    products = (2 * blocks + 1) * 2.0 * long * short * c
    orthogonalise = 4.0 * short * c * c * blocks * (blocks - 1)
    gram = 1.0 * long * c * c * blocks * (blocks + 1)
    ritz = 2.0 * (long + short) * c * blocks * rank + EIGH_FLOPS * (c * blocks) ** 3
    return batch * (products + orthogonalise + gram + ritz)


def flops(batch: int, tokens: int, out: int, inp: int, rank: int, blocks: int) -> dict[str, dict[str, float]]:
    long, short = max(out, inp), min(out, inp)
    dense_rotation = batch * 2.0 * (out**2 * inp + out * inp**2)
    gram_truncation = batch * (2.0 * long * short**2 + EIGH_FLOPS * short**3 + 2.0 * long * short * rank)
    narrow = rank < short and through_whole_gram(short, rank)
    return {
        "earlier": {"rotate in": batch * 2.0 * tokens * out * inp + dense_rotation,
                    "truncate": gram_truncation,
                    "rotate out": dense_rotation},
        "today": {"rotate in": today_rotate_in_flops(batch, tokens, out, inp),
                  "truncate": gram_truncation if narrow else krylov_flops(batch, long, short, rank, blocks),
                  "rotate out": batch * 2.0 * rank * (out**2 + inp**2)},
    }


# ---------------------------------------------------------------------------------------------------------
# Model, factors, probes and documents


def build_model(args: PreconditionBenchArguments):
    from transformers import LlamaConfig, LlamaForCausalLM

    shapes = args.shapes
    torch.manual_seed(args.seed)
    config = LlamaConfig(
        vocab_size=shapes["vocab"], hidden_size=shapes["hidden"], intermediate_size=shapes["intermediate"],
        num_hidden_layers=args.layers, num_attention_heads=shapes["heads"], num_key_value_heads=shapes["kv_heads"],
        max_position_embeddings=max(args.document_tokens, 2 * (args.prompt_tokens + args.completion_tokens)),
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def random_sequences(args: PreconditionBenchArguments, vocab: int) -> tuple[list[Encoded], list[Encoded]]:
    """Documents (every token scored) and probes (only the completion scored) of uniformly random tokens."""
    generator = torch.Generator().manual_seed(args.seed)

    def tokens(count: int) -> list[int]:
        return torch.randint(1, vocab, (count,), generator=generator).tolist()

    def around(mean: int) -> int:
        spread = max(1, mean // 5)
        return mean + int(torch.randint(-spread, spread + 1, (1,), generator=generator))

    documents = [Encoded(ids, list(ids)) for ids in (tokens(args.document_tokens) for _ in range(args.documents))]
    probes = []
    for _ in range(args.probes):
        prompt, completion = around(args.prompt_tokens), around(args.completion_tokens)
        ids = tokens(prompt + completion)
        probes.append(Encoded(ids, [IGNORE] * prompt + ids[prompt:]))
    return documents, probes


def real_sequences(args: PreconditionBenchArguments, tokenizer, documents: list[Encoded], probes: list[Encoded]):
    """--probe-file's probes (--probes of them, spread evenly over the file) and --corpus's first --documents
    documents of at least half --document-tokens, where given; the random ones otherwise."""
    if args.probe_file is not None:
        from curate.probes.sets import read_probes

        read = read_probes(args.probe_file)
        probes = encode_probes([read[i * len(read) // min(args.probes, len(read))]
                                for i in range(min(args.probes, len(read)))], tokenizer)[1]
    if args.corpus is not None:
        from curate.bench.attribution import long_documents

        documents = long_documents(args.corpus, tokenizer, args.document_tokens, args.documents)
    return documents, probes


def load_setup(args: PreconditionBenchArguments, echo: Callable[[str], None]):
    """The model, its tracked layers, their factors, and the documents and probes."""
    if args.model is None:
        model = build_model(args)
        described = (f"random-init Llama, {args.layers} layers of SmolLM2-135M's shapes"
                     if not args.quick else f"random-init Llama, {args.layers} tiny layers (--quick)")
        documents, probes = random_sequences(args, model.config.vocab_size)
    else:
        from attribution.model import load_causal_lm, model_positions

        model, tokenizer = load_causal_lm(args.model, "cpu", threads=args.threads, max_length=args.document_tokens)
        described = str(args.model)
        documents, probes = random_sequences(args, model.config.vocab_size)
        documents, probes = real_sequences(args, tokenizer, documents, probes)
        positions = model_positions(model)
        if positions is not None and max(len(p.input_ids) for p in probes) > positions:
            raise InputError(f"a probe is longer than the model's {positions} positions")
    modules = find_modules(model, args.modules or DEFAULT_MODULES)
    if not modules:
        raise InputError(f"no linear layer of the model matches --modules {args.modules!r}")
    start = time.perf_counter()
    if args.factors is not None:
        factors = Factors.load(args.factors)
        factors.check_model(model)
        missing = [t.name for t in modules if t.name not in factors.layers]
        if missing:
            raise InputError(f"{args.factors} has no factors for layers {missing[:5]}; narrow --modules")
        how = f"read from {args.factors}"
    else:
        pattern = "|".join(f"^{re.escape(t.name)}$" for t in modules)
        factors = fit_factors(model, None, documents, FactorArguments(
            modules=pattern, batch_size=args.batch_size, max_length=args.document_tokens, seed=args.seed,
            progress=False))
        how = f"fitted on the {len(documents)} documents"
    parameters = sum(p.numel() for p in model.parameters())
    shapes = sorted({t.shape for t in modules})
    echo(f"model: {described}, {parameters / 1e6:.1f}M parameters; {len(modules)} tracked layers of shapes "
         f"{', '.join(f'{o}×{i}' for o, i in shapes)}; factors {how} ({time.perf_counter() - start:.1f} s); "
         f"{len(probes)} {'' if args.probe_file else 'random-token '}probes of {lengths(probes)} tokens, "
         f"{len(documents)} {'' if args.corpus else 'random-token '}documents of {lengths(documents)}; "
         f"batch {args.batch_size}; "
         f"rank {args.rank}; {torch.get_num_threads()} threads")
    return model, modules, factors, documents, probes


def lengths(sequences: list[Encoded]) -> str:
    low, high = min(len(s.input_ids) for s in sequences), max(len(s.input_ids) for s in sequences)
    return f"{low}" if low == high else f"{low}-{high}"


def document_tokens(model, modules: list[Tracked], documents: list[Encoded], batch_size: int) -> dict:
    """Each layer's (a, g) token vectors of each batch of documents, to score queries against."""
    parts = defaultdict(list)
    for start in range(0, len(documents), batch_size):
        batch = to_batch(documents[start : start + batch_size], 0, torch.device("cpu"))
        captured = capture(model, modules, batch, log_prob)
        for t in modules:
            parts[t.name].append((captured.activations[t.name], captured.gradients[t.name]))
    return parts


def scores(query: QueryLayer, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """⟨L R, Σ_t g_t a_tᵀ⟩ = Σ_t (g_t L)·(R a_t) for each probe and document: (probes, documents), float64."""
    left, right = query.left.double(), query.right.double()
    return torch.cat([(torch.einsum("dto,pok->pdtk", g.double(), left) *
                       torch.einsum("dti,pki->pdtk", a.double(), right)).sum(dim=(2, 3)) for a, g in batches], dim=1)


def query_errors(reference: QueryLayer, other: QueryLayer) -> torch.Tensor:
    """‖L₁R₁ − L₂R₂‖_F / ‖L₁R₁‖_F per probe, through k×k products in float64 (no dense matrix)."""
    l1, r1, l2, r2 = (t.double() for t in (reference.left, reference.right, other.left, other.right))

    def inner(la, ra, lb, rb):  # ⟨La Ra, Lb Rb⟩ = tr((Laᵀ Lb)(Rb Raᵀ))
        return ((la.mT @ lb) * (ra @ rb.mT)).sum(dim=(1, 2))

    norm = inner(l1, r1, l1, r1)
    squared = norm + inner(l2, r2, l2, r2) - 2 * inner(l1, r1, l2, r2)
    return (squared.clamp(min=0) / norm.clamp(min=1e-300)).sqrt()


def krylov_blocks(divided: torch.Tensor, rank: int, tolerance: float) -> int:
    """How many blocks `top_singular` builds on this batch (0 when `low_rank` needs no decomposition, or when
    the matrices are narrow enough to be truncated through their whole Gram)."""
    tall = divided.mT if divided.size(-1) > divided.size(-2) else divided
    if rank >= tall.size(-1) or through_whole_gram(tall.size(-1), rank):
        return 0
    return -(-krylov_basis(tall, rank, tolerance)[1].size(-1) // KRYLOV_BLOCK)


@contextmanager
def timing(seconds: dict, phase: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[phase] += time.perf_counter() - start


def earlier_phases(a, g, q_s, q_a, lambdas, damping: float, rank: int, clock: dict) -> QueryLayer:
    with timing(clock, "rotate in"):
        divided, _ = earlier_rotate_in(a, g, q_s, q_a, lambdas, damping)
    with timing(clock, "rotate out"):
        dense = earlier_rotate_out(divided, q_s, q_a)
    with timing(clock, "truncate"):
        query = earlier_low_rank(-dense, rank)
    return query


def today_phases(a, g, q_s, q_a, lambdas, damping: float, rank: int, clock: dict) -> tuple[torch.Tensor, QueryLayer]:
    """`ekfac_query`'s phases, timed; the divided gradient too, for the tolerance sweep."""
    with timing(clock, "rotate in"):
        divided, _ = rotate_and_divide(a, g, q_s, q_a, lambdas, damping)
    with timing(clock, "truncate"):
        found = low_rank(divided, rank)
    with timing(clock, "rotate out"):
        query = rotate_back(found, q_s, q_a)
    return divided, query


def truncation(divided: torch.Tensor, rank: int, tolerance: float, clock: dict) -> QueryLayer:
    with timing(clock, "truncate"):
        query = low_rank(divided, rank, tolerance)
    return query


def fastest(repeats: int, work: Callable[[dict], object]) -> tuple[object, dict[str, float]]:
    """`work(clock)` run `repeats` times: its last result and each phase's fastest time (a shared machine's
    neighbours only ever add time)."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        clock = defaultdict(float)
        result = work(clock)
        best = {phase: min(best.get(phase, seconds), seconds) for phase, seconds in clock.items()}
    return result, best


def add(totals: dict[str, float], clock: dict[str, float]) -> None:
    for phase, seconds in clock.items():
        totals[phase] += seconds


def log_prob(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return summed_log_prob(logits, batch["labels"])


# ---------------------------------------------------------------------------------------------------------
# The benchmark


def run_precondition_bench(args: PreconditionBenchArguments, echo: Callable[[str], None] = print) -> dict:
    """Time both algorithms phase by phase on the same captured gradients; print and return the results."""
    if args.threads:
        torch.set_num_threads(args.threads)
    model, modules, factors, documents, probes = load_setup(args, echo)
    doc_tokens = document_tokens(model, modules, documents, args.batch_size)
    tolerances = sorted(set(args.tolerances) | {KRYLOV_TOLERANCE}, reverse=True)
    layer = {t.name: factors.layers[t.name] for t in modules}
    damping = {name: layer_damping(f.corrected_eigenvalues, ScoreArguments()) for name, f in layer.items()}

    seconds = {name: dict.fromkeys(PHASES, 0.0) for name in ("earlier", "today")}
    counted = {name: dict.fromkeys(PHASES, 0.0) for name in ("earlier", "today")}
    sweep = {t: {"truncate": 0.0, "blocks": [], "query": 0.0} for t in tolerances}
    capture_seconds, query_error = 0.0, 0.0
    score = {name: torch.zeros(len(probes), len(documents), dtype=torch.float64) for name in ("earlier", *tolerances)}
    order = sorted(range(len(probes)), key=lambda index: len(probes[index].input_ids))  # as `precondition_queries`
    for start in range(0, len(order), args.batch_size):
        rows = order[start : start + args.batch_size]
        batch = to_batch([probes[index] for index in rows], 0, torch.device("cpu"))
        began = time.perf_counter()
        captured = capture(model, modules, batch, log_prob)
        capture_seconds += time.perf_counter() - began
        tokens = batch["input_ids"].size(1)
        with torch.no_grad():
            for t in modules:
                a, g = captured.activations[t.name], captured.gradients[t.name]
                factor = layer[t.name]
                q_s, q_a, lambdas = factor.gradient_vectors, factor.activation_vectors, factor.corrected_eigenvalues
                earlier, clock = fastest(args.repeats, partial(
                    earlier_phases, a, g, q_s, q_a, lambdas, damping[t.name], args.rank))
                add(seconds["earlier"], clock)
                (divided, today), clock = fastest(args.repeats, partial(
                    today_phases, a, g, q_s, q_a, lambdas, damping[t.name], args.rank))
                add(seconds["today"], clock)
                query_error = max(query_error, float(query_errors(earlier, today).max()))
                score["earlier"][rows] += scores(earlier, doc_tokens[t.name])
                blocks = {}
                for tolerance in tolerances:  # the truncation again at each tolerance, timed alone
                    entry = sweep[tolerance]
                    found, clock = fastest(args.repeats, partial(truncation, divided, args.rank, tolerance))
                    add(entry, clock)
                    swept = rotate_back(found, q_s, q_a)
                    blocks[tolerance] = krylov_blocks(divided, args.rank, tolerance)
                    entry["blocks"].append(blocks[tolerance])
                    entry["query"] = max(entry["query"], float(query_errors(earlier, swept).max()))
                    score[tolerance][rows] += scores(swept, doc_tokens[t.name])
                for name, phases in flops(len(rows), tokens, *t.shape, args.rank, blocks[KRYLOV_TOLERANCE]).items():
                    for phase, count in phases.items():
                        counted[name][phase] += count
        echo(f"  probes {start + len(rows)}/{len(order)}: capture {capture_seconds:.1f} s, earlier "
             f"{sum(seconds['earlier'].values()):.1f} s, today {sum(seconds['today'].values()):.1f} s")

    def score_error(name) -> float:  # per probe: largest change over documents / largest score; worst probe
        change = (score[name] - score["earlier"]).abs().amax(dim=1)
        return float((change / score["earlier"].abs().amax(dim=1).clamp(min=1e-300)).max())

    results = {
        "capture_seconds": capture_seconds,
        "phases": seconds,
        "flops": counted,
        "agreement": {"query": query_error, "score": score_error(KRYLOV_TOLERANCE)},
        "tolerances": [],
    }
    earlier_total, today_total = sum(seconds["earlier"].values()), sum(seconds["today"].values())
    results["speedup"] = {"preconditioning": earlier_total / today_total,
                          "with_capture": (capture_seconds + earlier_total) / (capture_seconds + today_total)}
    flop_totals = {name: sum(counted[name].values()) for name in counted}
    results["ceilings"] = {"flops": flop_totals["earlier"] / flop_totals["today"],
                           "rotation": flop_totals["earlier"] / counted["today"]["rotate in"],
                           "capture": (capture_seconds + earlier_total) / capture_seconds}
    for tolerance in tolerances:
        entry = sweep[tolerance]
        preconditioning = today_total - seconds["today"]["truncate"] + entry["truncate"]
        results["tolerances"].append({
            "tolerance": tolerance, "blocks": sum(entry["blocks"]) / len(entry["blocks"]),
            "truncate_seconds": entry["truncate"], "preconditioning_seconds": preconditioning,
            "speedup": earlier_total / preconditioning, "query_error": entry["query"],
            "score_error": score_error(tolerance), "current": tolerance == KRYLOV_TOLERANCE,
        })
    echo(report(results, args))
    return results


def report(results: dict, args: PreconditionBenchArguments) -> str:
    """The phase table, the ceilings and the tolerance sweep, as text."""
    import polars as pl

    seconds, counted, capture_seconds = results["phases"], results["flops"], results["capture_seconds"]
    rows = [{"phase": "capture (fwd+bwd, shared)", "earlier s": capture_seconds, "today s": capture_seconds,
             "earlier/today": 1.0, "earlier GFLOP": None, "today GFLOP": None, "earlier GFLOP/s": None,
             "today GFLOP/s": None}]
    for phase in (*PHASES, "preconditioning"):
        old = sum(seconds["earlier"].values()) if phase == "preconditioning" else seconds["earlier"][phase]
        new = sum(seconds["today"].values()) if phase == "preconditioning" else seconds["today"][phase]
        old_flops = sum(counted["earlier"].values()) if phase == "preconditioning" else counted["earlier"][phase]
        new_flops = sum(counted["today"].values()) if phase == "preconditioning" else counted["today"][phase]
        rows.append({"phase": phase, "earlier s": old, "today s": new, "earlier/today": old / max(new, 1e-12),
                     "earlier GFLOP": old_flops / 1e9, "today GFLOP": new_flops / 1e9,
                     "earlier GFLOP/s": old_flops / 1e9 / max(old, 1e-12),
                     "today GFLOP/s": new_flops / 1e9 / max(new, 1e-12)})
    old_all, new_all = capture_seconds + rows[-1]["earlier s"], capture_seconds + rows[-1]["today s"]
    rows.append({"phase": "with capture", "earlier s": old_all, "today s": new_all, "earlier/today": old_all / new_all,
                 "earlier GFLOP": None, "today GFLOP": None, "earlier GFLOP/s": None, "today GFLOP/s": None})
    sweep = pl.DataFrame([
        {"tolerance": f"{t['tolerance']:g}{' (current)' if t['current'] else ''}", "Krylov blocks": t["blocks"],
         "truncate s": t["truncate_seconds"], "preconditioning s": t["preconditioning_seconds"],
         "earlier/today": t["speedup"], "query rel. error": f"{t['query_error']:.1e}",
         "score rel. error": f"{t['score_error']:.1e}"}
        for t in results["tolerances"]
    ])
    speedup, ceilings, agreement = results["speedup"], results["ceilings"], results["agreement"]
    return "\n".join([
        as_text(pl.DataFrame(rows), float_precision=2),
        f"speed-up earlier/today: preconditioning {speedup['preconditioning']:.2f}×, with capture "
        f"{speedup['with_capture']:.2f}×",
        f"ceilings: FLOPs earlier/today {ceilings['flops']:.2f}× (the speed-up at equal FLOP rates); "
        f"{ceilings['rotation']:.2f}× if only today's token rotation (rotate in) cost anything; with capture, "
        f"(capture + earlier) / capture = {ceilings['capture']:.2f}× even if today's preconditioning took no time",
        f"agreement with the earlier algorithm (max over probes and layers): query {agreement['query']:.1e}, "
        f"score {agreement['score']:.1e} (relative)",
        f"Krylov tolerance sweep (truncation repeated at each; rank {args.rank}, block {KRYLOV_BLOCK}):",
        as_text(sweep, float_precision=2),
    ])


def main(argv: list[str] | None = None) -> int:
    """The benchmark's command line: print the tables; a bad argument is one line and exit status 2."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/precondition.py",
        description="EK-FAC query preconditioning per phase against the earlier dense algorithm",
    )
    add_options(parser, PreconditionBenchArguments)
    args = parser.parse_args(argv)
    try:
        run_precondition_bench(options_from(PreconditionBenchArguments, args))
    except CurateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
