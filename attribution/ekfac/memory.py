"""The memory scoring needs, estimated before any work starts and held to a budget the user sets.

The estimate counts the large tensors each phase holds at its peak, in float32:
  runtime          the interpreter, torch and libraries;
  model            every parameter and buffer;
  factors          Q_A, Q_S and Λ of each tracked layer, while the queries are built (EK-FAC only);
  queries          per layer, probes × k directions × (in + out), where k is --rank (or the layer's smaller side
                   when exact); as loaded, then arranged for one matmul per batch (in --score-dtype), the
                   loaded copy freed once arranged; probes counts each query set scored in the pass (EK-FAC
                   and --baselines);
  preconditioning  one batch of probes' gradients per layer, (B, out, in), in the copies a rotation takes, and
                   the float64 Gram matrices of the low-rank step;
  batch            one batch at --max-length tokens: the forward pass's activations and logits kept for the
                   backward pass, the tracked layers' inputs and output gradients, and the scoring products;
  full queries     (out × in × probes) for the layers the gradient path scores; only as many as the budget
                   leaves room for (`scoring.materialised_layers`): the others are scored factorised, exactly.
Estimates, not measurements: allocator slack is left to the margin between the budget and the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from attribution.ekfac.arguments import BUDGET_SHARE, FactorArguments
from attribution.ekfac.modules import Tracked
from attribution.ekfac.precondition import ScoreArguments
from attribution.ekfac.scoring import materialised_layers
from attribution.errors import ResourceError

GB = 1e9
FLOAT = 4
# Python, torch, transformers and datatrove themselves, measured on a tiny LM whose own memory is negligible
# (see docs/performance.md)
RUNTIME = int(0.7 * GB)

ID_BYTES = 32  # a document id in a score part or a store shard, generously

LOWER_IT = "a smaller --rank, --batch-size or --max-length, fewer layers (--modules) or fewer probes"


def _available_now() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def device_memory(device: str) -> int:
    """Bytes of memory free where the model runs: the GPU's, or this machine's (a container's limit, if lower),
    less what other processes hold now: a budget from the machine's total plans on memory others hold, and the
    kernel kills the run (see docs/performance.md)."""
    import torch

    if device != "cpu" and torch.cuda.is_available() and torch.device(device).type == "cuda":
        return torch.cuda.mem_get_info(torch.device(device))[0]
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        total = min(total, int(Path("/sys/fs/cgroup/memory.max").read_text()))
    except (OSError, ValueError):  # no cgroup v2 limit ("max")
        pass
    available = _available_now()
    return min(total, available) if available else total


def default_budget(device: str, processes: int = 1) -> float:
    """GB one of `processes` scoring processes sharing the device may use."""
    return BUDGET_SHARE * device_memory(device) / processes / GB


def _rank(tracked: Tracked, rank: int | None) -> int:
    short = min(tracked.out_features, tracked.in_features)
    return short if rank is None else min(rank, short)


def _forward(model: nn.Module, batch: int, tokens: int) -> int:
    """Activations a forward pass keeps for the backward pass, and the logits with their softmax and gradient."""
    config = getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", 0)
    per_layer = 8 * hidden + 4 * (getattr(config, "intermediate_size", None) or 4 * hidden)
    per_token = 3 * getattr(config, "vocab_size", 0) + getattr(config, "num_hidden_layers", 0) * per_layer
    return batch * tokens * per_token * FLOAT


def plan_scoring(model: nn.Module, modules: list[Tracked], probes: int, args: ScoreArguments, factors: bool,
                 build_queries: bool, budget: float) -> tuple[dict[str, dict[str, int]], int]:
    """Bytes per component of each phase ("queries", "scoring"), and how many bytes full queries may take.
    Raises ResourceError, naming the estimate, the budget and what lowers it, when a phase cannot fit."""
    if args.method == "random":
        modules = []
    ranks = {t.name: _rank(t, args.rank) for t in modules}
    queries = sum(probes * ranks[t.name] * (t.in_features + t.out_features) * FLOAT for t in modules)
    base = {"runtime": RUNTIME, "model": sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))}
    probe_batch = min(args.batch_size, probes)
    phases = {"queries": {**base, "queries": queries}}
    if build_queries:
        phases["queries"] |= {
            "factors": sum((t.in_features**2 + t.out_features**2 + t.in_features * t.out_features) * FLOAT
                           for t in modules) if factors else 0,
            "preconditioning": max((probe_batch * (4 * t.out_features * t.in_features * FLOAT
                                                   + 2 * min(t.out_features, t.in_features) ** 2 * 8)
                                    for t in modules), default=0),
            "batch": _forward(model, probe_batch, args.max_length),
        }
    tokens = args.batch_size * args.max_length
    captured = sum(tokens * (t.in_features + t.out_features) * FLOAT for t in modules)
    products = max((3 * tokens * probes * ranks[t.name] * FLOAT + args.batch_size * t.out_features * t.in_features * FLOAT
                    for t in modules), default=0)
    itemsize = 2 if args.score_dtype == "bfloat16" else FLOAT  # of the arranged and the full queries
    arranged = queries * itemsize // FLOAT
    # the stages free the queries as loaded once the scorer has arranged them (`score_parts(release_queries=)`)
    phases["arranging"] = {**base, "queries": queries + arranged}
    phases["scoring"] = {**base, "queries": arranged,
                         "batch": _forward(model, args.batch_size, args.max_length) + captured + products}
    room = int(budget * GB) - sum(phases["scoring"].values())
    full = materialised_layers(modules, probes, ranks, args.max_length, args.batch_size, args.contraction,
                               max(room, 0), getattr(torch, args.score_dtype))
    phases["scoring"]["full queries"] = sum(t.out_features * t.in_features * probes * itemsize for t in full)
    for phase, parts in phases.items():
        if sum(parts.values()) > budget * GB:
            doing = {"queries": "building the queries", "arranging": "arranging the queries"}.get(phase, "scoring")
            raise ResourceError(f"{doing} would need about "
                                f"{describe(parts)} but the memory budget is {budget:.1f} GB (--memory-budget); "
                                f"lower the need with {LOWER_IT}")
    return phases, max(room, 0)


def factor_needs(model: nn.Module, modules: list[Tracked], args: FactorArguments) -> tuple[dict[str, int], int]:
    """Bytes per component of one fitting process's peak memory, and bytes of the files the factors take.

    Memory: the runtime and model, a batch's forward pass and captured (a, g), the float64 sums (A and S
    covariances, then the corrected eigenvalues beside the float64 eigenbases) and an eigendecomposition's
    workspace. Disk: covariance.safetensors (float64 A and S) and factors.safetensors (float32 eigenbases and
    eigenvalues)."""
    tokens = args.batch_size * args.max_length
    square = sum(t.in_features**2 + t.out_features**2 for t in modules)
    cells = sum(t.in_features * t.out_features for t in modules)
    widest = max((max(t.in_features, t.out_features) for t in modules), default=0)
    parts = {
        "runtime": RUNTIME,
        "model": sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())),
        "batch": _forward(model, args.batch_size, args.max_length)
        + sum(tokens * (t.in_features + t.out_features) * FLOAT for t in modules),
        "statistics": 2 * square * 8 + cells * 8,  # covariance sums and the eigenbases, then the eigenvalue sums
        "eigendecomposition": 3 * widest**2 * 8,
    }
    return parts, square * 8 + (square + cells) * FLOAT


def plan_factors(model: nn.Module, modules: list[Tracked], args: FactorArguments) -> tuple[str, str]:
    """Descriptions of one fitting process's peak memory (by component) and of the disk the factors take
    (`factor_needs`)."""
    parts, disk = factor_needs(model, modules, args)
    return describe(parts), f"{disk / 1e6:.3g} MB"


def scores_disk(modules: list[Tracked], probes: int, documents: int, args: ScoreArguments) -> int:
    """Bytes `curate influence score` writes: the queries (float32 factors of each probe's rank-k query per layer), and per
    document a float32 score per probe, its gradient norm and its id in the parquet parts."""
    if args.method == "random":
        modules = []
    queries = sum(probes * _rank(t, args.rank) * (t.in_features + t.out_features) * FLOAT for t in modules)
    return queries + documents * ((probes + 1) * FLOAT + ID_BYTES)


def describe(parts: dict[str, int]) -> str:
    """The total in GB and its largest parts, e.g. "<total> GB (model <GB>, queries <GB>, ...)"."""
    shown = ", ".join(f"{name} {size / GB:.2f}" for name, size in parts.items() if size >= 0.005 * GB)
    return f"{sum(parts.values()) / GB:.1f} GB ({shown})"
