"""Query gradients: each probe's measurement gradient, preconditioned and kept as a low-rank matrix per layer.

Influence of a document z on a probe (Grosse et al. 2023, eq. 4; Ruis et al. 2024):

    I(z) = −∇f(θ)ᵀ (G + λI)⁻¹ ∇L(z, θ)

with f = log p(completion | prompt) and L the document's summed token cross-entropy. Upweighting z by ε
moves θ by −ε (G + λI)⁻¹ ∇L, so I is the first-order change of f: a positive score means the document
raises the probe's log-probability. We store the query q = −(G + λI)⁻¹ ∇f per layer, so that a score is
the plain inner product ⟨q, ∇L(z)⟩ — the same code path for every method:
  ekfac:  (G + λI)⁻¹ V = Q_S ((Q_Sᵀ V Q_A) / (Λ + λ)) Q_Aᵀ per layer, λ = damping_scale × mean(Λ) by default;
  dot:    identity preconditioner, q = −∇f (gradient dot product);
  cosine: identity, and scores are divided by both (full-rank) gradient norms;
  random: no gradients; scores are seeded noise (the baseline that needs no model).
Each q is truncated to its top `rank` singular directions (rank 32 as in the paper; None keeps them all).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from attribution.ekfac.data import batch_size_option, encode_probes, max_length_option, to_batch
from attribution.ekfac.factors import Factors, load_tensors, model_fingerprint, save_tensors
from attribution.ekfac.modules import DEFAULT_MODULES, capture, find_modules, per_example_gradients
from attribution.task import summed_log_prob
from curate.errors import InputError
from curate.options import option

METHODS = ("ekfac", "dot", "cosine", "random")


@dataclass
class ScoreArguments:
    """How queries are built and documents scored."""

    method: str = option("ekfac", "influence method", choices=METHODS)
    damping: float | None = option(None, "absolute damping for every layer (None: --damping-scale)")
    damping_scale: float = option(0.1, "damping = this × mean corrected eigenvalue, per layer")
    rank: int | None = option(32, "rank of each preconditioned query per layer")  # None: exact (full rank)
    batch_size: int = batch_size_option()
    max_length: int = max_length_option()
    modules: str | None = option(None, "layer regex for dot/cosine without factors")  # ekfac: the factors' layers
    contraction: str = "auto"  # "factorised", "gradient", or "auto": whichever costs fewer flops per layer
    seed: int = option(0, "seed of --method random")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.rank is not None and self.rank < 1:
            raise InputError("rank must be ≥ 1 (or None for exact queries)")
        if self.contraction not in ("auto", "factorised", "gradient"):
            raise InputError(f"contraction must be auto, factorised or gradient, not {self.contraction!r}")
        if (self.damping is not None and self.damping < 0) or self.damping_scale < 0:
            raise InputError("damping must be ≥ 0")


@dataclass
class QueryLayer:
    """The queries of one layer as factors: q_i = left[i] @ right[i], left (Q, out, k), right (Q, k, in)."""

    left: torch.Tensor
    right: torch.Tensor


@dataclass
class Queries:
    """Preconditioned query gradients of a probe set, ready to score documents against."""

    probe_ids: list[str]
    nats: torch.Tensor  # (Q,) completion negative log-likelihood, for per-nat normalisation
    norms: torch.Tensor  # (Q,) ‖∇f‖ over the tracked layers, for cosine similarity
    layers: dict[str, QueryLayer]
    args: ScoreArguments
    header: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        tensors = {"nats": self.nats, "norms": self.norms}
        for name, layer in self.layers.items():
            tensors[f"{name}/left"], tensors[f"{name}/right"] = layer.left, layer.right
        meta = {"probe_ids": self.probe_ids, "args": asdict(self.args), "header": self.header}
        save_tensors(tensors, path, meta)

    @classmethod
    def load(cls, path: Path) -> Queries:
        tensors, meta = load_tensors(path)
        layers = {name: QueryLayer(tensors[f"{name}/left"], tensors[f"{name}/right"]) for name in meta["header"]["modules"]}
        return cls(meta["probe_ids"], tensors["nats"], tensors["norms"], layers, ScoreArguments(**meta["args"]), meta["header"])

    def describe(self) -> dict:
        """What `scores/probes.json` records next to the scores."""
        return {
            **self.header,
            "arguments": asdict(self.args),
            "probes": [
                {"id": probe_id, "nats": float(nats), "gradient_norm": float(norm)}
                for probe_id, nats, norm in zip(self.probe_ids, self.nats, self.norms, strict=True)
            ],
        }


def ekfac_precondition(gradient: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor, lambdas: torch.Tensor,
                       damping: float) -> torch.Tensor:
    """(G + λI)⁻¹ V for a batch of (out, in) matrices V, with G the layer's EK-FAC curvature."""
    rotated = q_s.t() @ gradient @ q_a
    return q_s @ (rotated / (lambdas + damping)) @ q_a.t()


def layer_damping(lambdas: torch.Tensor, args: ScoreArguments) -> float:
    return float(args.damping) if args.damping is not None else args.damping_scale * float(lambdas.mean())


def low_rank(matrices: torch.Tensor, rank: int | None) -> QueryLayer:
    """Best rank-k factors of each matrix M (Eckart–Young), deterministic; rank None keeps every direction.

    The top-k singular directions on M's shorter side are the top eigenvectors V_k of its Gram matrix (built in
    float64), and M V_k V_kᵀ is the best rank-k approximation. Factoring it as (M V_k) V_kᵀ needs no division
    by singular values, so it stays accurate where they are tiny, and at full rank V_k V_kᵀ = I exactly.
    This costs a fraction of an SVD.
    """
    wide = matrices.size(-1) > matrices.size(-2)
    tall = matrices.transpose(-1, -2) if wide else matrices  # (.., long side, short side)
    k = tall.size(-1) if rank is None else min(rank, tall.size(-1))
    gram = tall.double().transpose(-1, -2) @ tall.double()
    vectors = torch.linalg.eigh(gram).eigenvectors[..., -k:].to(matrices.dtype)  # eigh sorts ascending
    projected = tall @ vectors
    if wide:  # M = (V_k)(M^T V_k)^T
        return QueryLayer(vectors.contiguous(), projected.transpose(-1, -2).contiguous())
    return QueryLayer(projected.contiguous(), vectors.transpose(-1, -2).contiguous())


@torch.no_grad()
def precondition_queries(
    model: nn.Module, tokenizer, probes, factors: Factors | None = None, args: ScoreArguments | None = None
) -> Queries:
    """The query of every probe: −(G + λI)⁻¹ ∇f per tracked layer (identity G for dot/cosine), low-rank."""
    args = args or ScoreArguments()
    model.eval()
    if args.method == "ekfac":
        if factors is None:
            raise InputError("method ekfac needs fitted factors")
        factors.check_model(model)
        pattern = factors.header["module_pattern"]
    else:
        pattern = args.modules or (factors.header["module_pattern"] if factors else DEFAULT_MODULES)
    modules = find_modules(model, pattern)
    if args.method == "ekfac":
        missing = [t.name for t in modules if t.name not in factors.layers]
        if missing:
            raise InputError(f"the factors have no statistics for layers {missing[:5]}")
    probe_ids, encoded = encode_probes(probes, tokenizer)
    device = next(model.parameters()).device
    pad_id = getattr(tokenizer, "pad_token_id", None) or 0

    damping = {t.name: layer_damping(factors.layers[t.name].corrected_eigenvalues, args) for t in modules} \
        if args.method == "ekfac" else {}
    nats, squared_norms, parts = [], [], {t.name: [] for t in modules}
    for start in range(0, len(encoded), args.batch_size):
        batch = to_batch(encoded[start : start + args.batch_size], pad_id, device)
        captured = capture(model, modules, batch, lambda logits, b: summed_log_prob(logits, b["labels"]))
        if not torch.isfinite(captured.values).all():
            raise InputError(f"non-finite log-probability for probes {probe_ids[start:start + args.batch_size]}")
        nats.append(-captured.values.cpu())
        squared_norm = torch.zeros(batch["input_ids"].size(0), dtype=torch.float64)
        for tracked in modules:
            gradient = per_example_gradients(captured.activations[tracked.name], captured.gradients[tracked.name])
            squared_norm += gradient.double().square().sum(dim=(1, 2)).cpu()
            if args.method == "random":
                continue
            if args.method == "ekfac":
                layer = factors.layers[tracked.name]
                gradient = ekfac_precondition(gradient, *(t.to(device) for t in (
                    layer.gradient_vectors, layer.activation_vectors, layer.corrected_eigenvalues)), damping[tracked.name])
            query = low_rank(-gradient, args.rank)
            parts[tracked.name].append(QueryLayer(query.left.cpu(), query.right.cpu()))
        squared_norms.append(squared_norm)
    layers = {} if args.method == "random" else {
        name: QueryLayer(torch.cat([p.left for p in chunks]), torch.cat([p.right for p in chunks]))
        for name, chunks in parts.items()
    }
    header = {
        "method": args.method,
        "fingerprint": model_fingerprint(model),
        "modules": [t.name for t in modules] if layers else [],
        "damping": damping,
        "rank": args.rank,
        "sign": "positive: upweighting the document raises log p(completion | prompt)",
    }
    return Queries(probe_ids, torch.cat(nats).float(), torch.cat(squared_norms).sqrt().float(), layers, args, header)

