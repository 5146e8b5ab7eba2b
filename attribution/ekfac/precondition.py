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
Each q is truncated to its top `rank` singular directions (rank 32 as in the paper; None keeps them all). For
dot and cosine q = −Σ_t g_t a_tᵀ has rank at most T, its token count, and its decomposition is exact and cheap
(`token_low_rank`); for EK-FAC the division by Λ + λ makes it full rank, and block Krylov iteration
(`top_singular`) finds the top directions without a full decomposition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from attribution.ekfac.arguments import ScoreArguments
from attribution.ekfac.data import encode_probes, to_batch
from attribution.ekfac.factors import (
    Factors,
    load_tensors,
    model_fingerprint,
    rotated_gradients,
    save_tensors,
)
from attribution.ekfac.modules import DEFAULT_MODULES, capture, find_modules, per_example_gradients
from attribution.ekfac.threads import one_thread
from attribution.errors import InputError
from attribution.progress import progress_bar
from attribution.task import summed_log_prob


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


def layer_damping(lambdas: torch.Tensor, args: ScoreArguments) -> float:
    return float(args.damping) if args.damping is not None else args.damping_scale * float(lambdas.mean())


# Block Krylov settings of `top_singular`: columns added per block, and the relative gain in the energy of the top
# directions (Σ σᵢ², i ≤ rank) below which one more block counts as converged. The tolerance is set on real text,
# whose flatter spectra need more blocks than random tokens for the same score agreement (see docs/performance.md).
KRYLOV_BLOCK = 16
KRYLOV_TOLERANCE = 1e-8
# A matrix whose short side is at most this many times the rank is truncated through its whole float64 Gram
# instead: block Krylov would span most of it before converging, with an eigendecomposition per block on the
# way, so one `eigh` of the whole Gram is cheaper (see docs/performance.md).
EXACT_WIDTH_PER_RANK = 4


def through_whole_gram(short: int, rank: int) -> bool:
    """Whether `top_singular` truncates a matrix with this short side through its whole Gram (no Krylov blocks)."""
    return short <= EXACT_WIDTH_PER_RANK * rank


def krylov_basis(
    matrices: torch.Tensor, k: int, tolerance: float = KRYLOV_TOLERANCE
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The block Krylov basis V of each tall matrix A of a batch (B, M, N), M ≥ N, that `top_singular` builds:
    (A V in float64, V, the float64 Gram (AV)ᵀ(AV)). V has KRYLOV_BLOCK columns per block (fewer in the last
    block only once V spans all N dimensions)."""
    batch, _, width = matrices.shape
    start = torch.randn(width, KRYLOV_BLOCK, generator=torch.Generator().manual_seed(0)).to(matrices)
    with one_thread():
        block = torch.linalg.qr(matrices.mT @ (matrices @ start)).Q
    basis = matrices.new_zeros(batch, width, 0)
    images = matrices.new_zeros(batch, matrices.size(1), 0, dtype=torch.float64)
    gram = matrices.new_zeros(batch, 0, 0, dtype=torch.float64)
    energy = None
    while True:
        image = matrices @ block
        new = image.double()
        cross = images.mT @ new
        gram = torch.cat([torch.cat([gram, cross], -1), torch.cat([cross.mT, new.mT @ new], -1)], -2)
        images, basis = torch.cat([images, new], -1), torch.cat([basis, block], -1)
        size = gram.size(-1)
        with one_thread():
            captured = torch.linalg.eigvalsh(gram)[..., -k:].sum(-1)
        if size == width or (energy is not None and bool((captured - energy <= tolerance * captured).all())):
            break
        energy, following = captured, matrices.mT @ image
        for _ in range(2):  # Gram–Schmidt against the basis so far, twice: once loses orthogonality in float32
            following -= basis @ (basis.mT @ following)
        with one_thread():
            block = torch.linalg.qr(following[..., : width - size]).Q
    return images, basis, gram


def top_singular(
    matrices: torch.Tensor, k: int, tolerance: float = KRYLOV_TOLERANCE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors (A V_k, V_kᵀ) of the best rank-k approximation of each tall matrix A of a batch (B, M, N), M ≥ N,
    with V_k its top right singular vectors; deterministic.

    Block Krylov iteration (Musco & Musco 2015) builds an orthonormal basis V of [AᵀA S, (AᵀA)² S, ...]
    from a fixed random start S, block by block, until the top-k energy stops growing; the top eigenvectors of
    the Gram matrix (AV)ᵀ(AV) then give V_k (Rayleigh–Ritz). That Gram is built in float64, because the k-th
    eigenvalue can be 1e-4 of the first. Each block costs two products with A, where an exact SVD or the Gram of
    A costs M·N² and an N×N eigendecomposition; once V spans all N dimensions the result is exact. A narrow A
    (N ≤ EXACT_WIDTH_PER_RANK · k) starts from the whole basis: the exact truncation, at that cheaper cost.
    """
    if through_whole_gram(matrices.size(-1), k):  # the basis is the identity: V_k are the Gram's eigenvectors
        images, basis = matrices.double(), None
        gram = images.mT @ images
    else:
        images, basis, gram = krylov_basis(matrices, k, tolerance)
    with one_thread():
        vectors = torch.linalg.eigh(gram).eigenvectors[..., -k:]  # ascending: the top k are last
    right = vectors if basis is None else basis.double() @ vectors
    return (images @ vectors).to(matrices.dtype), right.mT.to(matrices.dtype)


def low_rank(matrices: torch.Tensor, rank: int | None, tolerance: float = KRYLOV_TOLERANCE) -> QueryLayer:
    """Best rank-k factors of each matrix M of a batch (Eckart–Young); rank None, or one at least M's shorter
    side, keeps M exactly as M·I, with no decomposition at all. `tolerance`: `top_singular`'s."""
    wide = matrices.size(-1) > matrices.size(-2)
    tall = matrices.mT if wide else matrices  # (B, long side, short side)
    short = tall.size(-1)
    if rank is None or rank >= short:
        left, right = tall, torch.eye(short, dtype=tall.dtype, device=tall.device).expand(tall.size(0), -1, -1)
    else:
        left, right = top_singular(tall, rank, tolerance)
    return QueryLayer(right.mT, left.mT) if wide else QueryLayer(left, right)


def token_low_rank(a: torch.Tensor, g: torch.Tensor, rank: int) -> tuple[QueryLayer, torch.Tensor]:
    """Best rank-k factors of each Σ_t g_t a_tᵀ of a batch (a: (B, T, in), g: (B, T, out)), exactly, and each
    one's squared Frobenius norm. The sum has rank ≤ T: thin QR factorisations of the token vectors leave a
    small core R_g R_aᵀ whose SVD is the whole SVD, at T²·(out + in) flops instead of out·in per iteration.
    Fewer than k directions are padded with zeros."""
    with one_thread():
        q_g, r_g = torch.linalg.qr(g.mT)  # (B, out, r), (B, r, T)
        q_a, r_a = torch.linalg.qr(a.mT)
        u, sigma, vh = torch.linalg.svd(r_g.double() @ r_a.double().mT)
    k = min(rank, sigma.size(-1))
    left = q_g @ (u[..., :k] * sigma[..., None, :k]).to(a.dtype)
    right = vh[..., :k, :].to(a.dtype) @ q_a.mT
    if k < rank:
        left = torch.nn.functional.pad(left, (0, rank - k))
        right = torch.nn.functional.pad(right, (0, 0, 0, rank - k))
    return QueryLayer(left, right), sigma.square().sum(-1)


def rotate_and_divide(
    a: torch.Tensor, g: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor, lambdas: torch.Tensor, damping: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """−(Q_Sᵀ ∇f Q_A) ⊘ (Λ + λ) for each probe of a captured batch (B, out, in), and ‖∇f‖² per probe (float32
    sums; Q_S and Q_A are orthogonal, so the rotated gradient has ∇f's norm): the eigenbasis half of a query."""
    gradient = rotated_gradients(a, g, q_s, q_a)
    squared = gradient.square().sum(dim=(1, 2))
    return gradient.div_(lambdas + damping).neg_(), squared


def rotate_back(query: QueryLayer, q_s: torch.Tensor, q_a: torch.Tensor) -> QueryLayer:
    """Rank-k factors found in the eigenbasis, rotated back to the layer's: (Q_S L)(R Q_Aᵀ)."""
    return QueryLayer(q_s @ query.left, query.right @ q_a.t())


def ekfac_query(
    a: torch.Tensor, g: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor, lambdas: torch.Tensor, damping: float,
    rank: int | None, eigenbasis: bool = False,
) -> tuple[QueryLayer, torch.Tensor]:
    """One layer's EK-FAC queries for a captured batch, and ‖∇f‖² per probe; `eigenbasis` leaves them in the
    layer's eigenbasis (Q_Sᵀ q Q_A), unrotated. Its three phases are separate functions so that
    `benchmarks/precondition.py` can time each."""
    divided, squared = rotate_and_divide(a, g, q_s, q_a, lambdas, damping)
    query = low_rank(divided, rank)
    return (query if eigenbasis else rotate_back(query, q_s, q_a)), squared


def _empty_layer(count: int, shape: tuple[int, int], rank: int | None) -> QueryLayer:
    k = min(shape) if rank is None else min(rank, *shape)
    return QueryLayer(torch.empty(count, shape[0], k), torch.empty(count, k, shape[1]))


@torch.no_grad()
def precondition_queries(
    model: nn.Module, tokenizer, probes, factors: Factors | None = None, args: ScoreArguments | None = None,
    eigenbasis: bool = False,
) -> Queries:
    """The query of every probe: −(G + λI)⁻¹ ∇f per tracked layer (identity G for dot/cosine), low-rank.
    `eigenbasis` (EK-FAC only) keeps each query in its layer's eigenbasis, Q_Sᵀ q Q_A, for a caller that would
    rotate it again anyway (the gradient store, whose maps it turns into that basis once per layer).

    EK-FAC works in the layer's eigenbasis, where G is diagonal: a probe's gradient Σ_t g_t a_tᵀ is rotated
    through its tokens (T·(out² + in²) flops, `rotated_gradients`), divided by Λ + λ, truncated there, and only
    the rank-k factors are rotated back, since Q_S and Q_A are orthogonal. Probes run in batches of similar
    length, so little of a batch is padding; a batch's dense gradients live for one layer at a time, and the
    queries go straight into tensors allocated once.
    """
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
    count = len(encoded)
    nats, squared_norms = torch.zeros(count), torch.zeros(count, dtype=torch.float64)
    layers = {} if args.method == "random" else {t.name: _empty_layer(count, t.shape, args.rank) for t in modules}
    by_length = sorted(range(count), key=lambda index: len(encoded[index].input_ids))
    with progress_bar(total=count, desc="preconditioning queries", unit="probe", disable=not args.progress) as bar:
        for start in range(0, count, args.batch_size):
            rows = by_length[start : start + args.batch_size]
            batch = to_batch([encoded[index] for index in rows], pad_id, device)
            captured = capture(model, modules, batch, lambda logits, b: summed_log_prob(logits, b["labels"]))
            if not torch.isfinite(captured.values).all():
                raise InputError(f"non-finite log-probability for probes {[probe_ids[index] for index in rows]}")
            nats[rows] = -captured.values.float().cpu()
            for tracked in modules:
                a, g = captured.activations[tracked.name], captured.gradients[tracked.name]
                if args.method in ("dot", "cosine") and args.rank is not None and args.rank < min(tracked.shape):
                    query, squared = token_low_rank(a, g.neg(), args.rank)
                    squared_norms[rows] += squared.cpu()
                    layers[tracked.name].left[rows] = query.left.cpu()
                    layers[tracked.name].right[rows] = query.right.cpu()
                    continue
                if args.method == "ekfac":
                    layer = factors.layers[tracked.name]
                    q_s, q_a, lambdas = (t.to(device) for t in (
                        layer.gradient_vectors, layer.activation_vectors, layer.corrected_eigenvalues))
                    query, squared = ekfac_query(a, g, q_s, q_a, lambdas, damping[tracked.name], args.rank,
                                                  eigenbasis)
                    squared_norms[rows] += squared.double().cpu()
                else:
                    gradient = per_example_gradients(a, g)
                    squared_norms[rows] += gradient.square().sum(dim=(1, 2)).double().cpu()
                    if args.method == "random":
                        continue
                    query = low_rank(gradient.neg_(), args.rank)
                layers[tracked.name].left[rows] = query.left.cpu()
                layers[tracked.name].right[rows] = query.right.cpu()
            bar.update(len(rows))
    header = {
        "method": args.method,
        "fingerprint": model_fingerprint(model),
        "modules": [t.name for t in modules] if layers else [],
        "damping": damping,
        "rank": args.rank,
        "basis": "eigen" if eigenbasis and args.method == "ekfac" else "layer",
        "sign": "positive: upweighting the document raises log p(completion | prompt)",
    }
    return Queries(probe_ids, nats, squared_norms.sqrt().float(), layers, args, header)
