"""Compressions of per-document gradients: each tracked layer's gradient G = Σ_t g_t a_tᵀ (out × in) is stored as

    C(G) = Lᵀ G R = Σ_t (Lᵀ g_t)(Rᵀ a_t)ᵀ        (k_out × k_in; never forms G)

and a query q (out × in) is mapped to D(q) = L'ᵀ q R', with maps chosen so that ⟨D(q), C(G)⟩ is ⟨q, G⟩ exactly
when every direction is kept, and an unbiased estimate of it otherwise:
  logra     L = L' = P_out, R = R' = P_in: seeded Gaussian projections with N(0, 1/k) entries (LoGra, Choe et
            al. 2024), so E[P Pᵀ] = I; the query is preconditioned exactly in the full space (with the fitted
            EK-FAC) and then projected: the only approximation is the sketched inner product.
  eigen     L = Q_S[:, rows] D_s^{-1/2}, L' = Q_S[:, rows] D_s^{1/2} (R, R' alike with Q_A[:, cols] and D_a): the
            gradient rotated into the EK-FAC eigenbasis and truncated to the rows and columns holding most
            corrected-eigenvalue mass (Σ_j Λ_ij, Σ_i Λ_ij). Inside the kept block preconditioning is exact
            (division by Λ + λ); outside it the score is dropped. D_s D_aᵀ, the rank-one fit of Λ + λ, only
            rescales the two sides against each other (the scores are unchanged), so that every stored number
            weighs about the same in a score: rounding (`precision`) then spends its steps evenly. Without it the
            numbers along small eigenvalues, which preconditioning weighs the most, are rounded the coarsest
            for their size, and agreement with full EK-FAC drops (see docs/performance.md).
  whitened  L = Q_S D_s^{-1/2} P_out, L' = Q_S D_s^{1/2} P_out (R, R' alike with D_a): both sides are rescaled
            in the eigenbasis by the rank-one (Kronecker) fit D_s D_aᵀ of Λ + λ before the Gaussian sketch, so
            that the sketch spends its accuracy where the preconditioned score lives rather than on the
            high-variance directions preconditioning divides away. Still exact at full size, unbiased below it.
`curate bench attribution --store` found eigen agreeing best with full EK-FAC at every size measured, on the
random-init anchor and on the quickstart's trained LM; hence the default (`IndexArguments`), whose numbers are
stored in int2 (`precision`).
A side whose k reaches the layer's width is kept whole (identity, or the whole eigenbasis): no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from attribution.ekfac.data import stable_seed
from attribution.ekfac.factors import Factors, load_tensors, save_tensors
from attribution.ekfac.modules import Tracked
from attribution.ekfac.precondition import QueryLayer
from attribution.errors import InputError
from attribution.store.arguments import IndexArguments
from attribution.store.precision import BITS, bytes_per_layer

COMPRESSION_FILE = "compression.safetensors"
WHITENING_DAMPING_SCALE = 0.1  # λ of the rank-one fit only (the default scoring damping); scores hold at any λ


@dataclass
class LayerMaps:
    """Document side (store_out (out, k_out), store_in (in, k_in)) and query side (query_out, query_in)."""

    store_out: torch.Tensor
    store_in: torch.Tensor
    query_out: torch.Tensor
    query_in: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return (self.store_out.size(1), self.store_in.size(1))


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 matrices in hardware (CUDA with bf16, or AMX or AVX512-BF16 CPUs);
    elsewhere bfloat16 matmuls are emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return device.type == "cpu" and any(getattr(cpu, check, lambda: False)()
                                        for check in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


def compute_dtype(args: IndexArguments, device: torch.device) -> str:
    """The dtype documents are compressed in. "auto" picks bfloat16 for stores of 4 bits or fewer where the
    hardware has it: its rounding (2⁻⁹ of each number) is far below a 4-bit step, and it makes the maps' products
    several times faster (see docs/performance.md); float32 otherwise, so float32 and int8 stores stay as exact
    as their numbers."""
    if args.compute_dtype != "auto":
        return args.compute_dtype
    low_bits = BITS.get(args.precision, 32) <= 4
    return "bfloat16" if low_bits and native_bfloat16(device) else "float32"


def _gaussian(width: int, k: int, seed: int, *name: object) -> torch.Tensor:
    """(width, k) with N(0, 1/k) entries, so that E[P Pᵀ] = I; the identity when k ≥ width (keeps everything)."""
    if k >= width:
        return torch.eye(width)
    generator = torch.Generator().manual_seed(stable_seed(seed, *name))
    return torch.randn(width, k, generator=generator) / k**0.5


def _kronecker_fit(lambdas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column scales s, a with s_i a_j ≈ Λ_ij + λ (the independence fit: row sum × column sum / total)."""
    damped = lambdas.double() + WHITENING_DAMPING_SCALE * lambdas.double().mean()
    total = damped.sum()
    return damped.sum(1) / total.sqrt(), damped.sum(0) / total.sqrt()


def layer_maps(tracked: Tracked, args: IndexArguments, factors: Factors | None) -> LayerMaps:
    out_features, in_features = tracked.shape
    k_out, k_in = args.kept(out_features, in_features)
    if args.compression == "logra":
        p_out = _gaussian(out_features, k_out, args.seed, tracked.name, "out")
        p_in = _gaussian(in_features, k_in, args.seed, tracked.name, "in")
        return LayerMaps(p_out, p_in, p_out, p_in)
    layer = factors.layers[tracked.name]
    q_s, q_a, lambdas = layer.gradient_vectors.double(), layer.activation_vectors.double(), layer.corrected_eigenvalues
    s, a = _kronecker_fit(lambdas)
    if args.compression == "eigen":
        # sorted, so the kept block keeps the eigenbasis order; ties cannot arise from float sums in practice
        rows = lambdas.double().sum(1).topk(k_out).indices.sort().values
        cols = lambdas.double().sum(0).topk(k_in).indices.sort().values
        out_map, in_map = q_s[:, rows], q_a[:, cols]
        return LayerMaps(*(m.float() for m in (out_map / s[rows].sqrt(), in_map / a[cols].sqrt(),
                                              out_map * s[rows].sqrt(), in_map * a[cols].sqrt())))
    p_out = _gaussian(out_features, k_out, args.seed, tracked.name, "out").double()
    p_in = _gaussian(in_features, k_in, args.seed, tracked.name, "in").double()
    return LayerMaps(*(m.float() for m in (q_s @ (p_out / s.sqrt()[:, None]), q_a @ (p_in / a.sqrt()[:, None]),
                                          q_s @ (p_out * s.sqrt()[:, None]), q_a @ (p_in * a.sqrt()[:, None]))))


@dataclass
class Compression:
    """The maps of every tracked layer and the header that says how they were made."""

    header: dict
    layers: dict[str, LayerMaps]

    @classmethod
    def build(cls, modules: list[Tracked], args: IndexArguments, factors: Factors | None, header: dict) -> Compression:
        if args.needs_factors:
            if factors is None:
                raise InputError(f"compression {args.compression} works in the EK-FAC eigenbasis: fit factors first "
                                 "(`curate influence fit`) or use --compression logra")
            missing = [t.name for t in modules if t.name not in factors.layers]
            if missing:
                raise InputError(f"the factors have no statistics for layers {missing[:5]}")
        return cls(header, {t.name: layer_maps(t, args, factors) for t in modules})

    def document_side(self, name: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """C(G) for each sequence of a batch (a: (B, T, in), g: (B, T, out)): (B, k_out, k_in) in float32, computed in
        the dtype of a and g (the store's `compute_dtype`)."""
        maps = self.layers[name]
        return torch.bmm((g @ maps.store_out.to(g)).mT, a @ maps.store_in.to(a)).float()

    def query_side(self, name: str, queries: QueryLayer, eigenbasis: tuple[torch.Tensor, torch.Tensor] | None = None
                   ) -> torch.Tensor:
        """D(q) for a batch of queries q = left @ right ((Q, out, r) and (Q, r, in)): (Q, k_out, k_in), never forming
        q. Queries left in the layer's eigenbasis (`precondition_queries(eigenbasis=True)`) come with its vectors
        (Q_S, Q_A): the maps turn into that basis instead (Q_Sᵀ L', Q_Aᵀ R'; for eigen, a selection of rows and
        columns), which spares each query the rotation back (out²·in flops) and the rotation in again."""
        maps = self.layers[name]
        out_map, in_map = maps.query_out, maps.query_in
        if eigenbasis is not None:
            q_s, q_a = eigenbasis
            out_map, in_map = (q_s.double().mT @ out_map.double()).float(), (q_a.double().mT @ in_map.double()).float()
        left, right = queries.left, queries.right
        return (out_map.mT.to(left) @ left) @ (right @ in_map.to(right))

    def to(self, dtype: torch.dtype) -> Compression:
        """The same compression with its maps in `dtype`, converted once rather than for every batch."""
        return Compression(self.header, {name: LayerMaps(*(value.to(dtype) for value in vars(maps).values()))
                                         for name, maps in self.layers.items()})

    @property
    def compute_dtype(self) -> str:
        return self.header.get("compute_dtype", "float32")  # stores from before `compute_dtype` were float32

    @property
    def precision(self) -> str:
        return self.header.get("precision", "float32")  # stores from before `precision` existed are float32

    def bytes_per_document(self, precision: str | None = None) -> int:
        """Bytes of one document's compressed layers in `precision` (default: the store's)."""
        return sum(bytes_per_layer(*maps.shape, precision or self.precision) for maps in self.layers.values())

    def save(self, path: Path) -> None:
        # logra and eigen use one map for both sides: safetensors refuses tensors that share memory
        tensors = {f"{name}/{key}": value.clone() for name, maps in self.layers.items() for key, value in vars(maps).items()}
        save_tensors(tensors, path, self.header)

    @classmethod
    def load(cls, path: Path) -> Compression:
        if not Path(path).exists():
            raise InputError(f"no gradient store at {Path(path).parent} ({Path(path).name} missing); run `curate influence index`")
        tensors, header = load_tensors(path)
        keys = ("store_out", "store_in", "query_out", "query_in")
        return cls(header, {name: LayerMaps(*(tensors[f"{name}/{key}"] for key in keys)) for name in header["modules"]})
