"""Settings of the compressed gradient store (light: no torch, so the CLI builds its flags quickly)."""

from __future__ import annotations

from dataclasses import dataclass

from attribution.ekfac.arguments import batch_size_option, max_length_option
from curate.errors import InputError
from curate.options import option

COMPRESSIONS = ("logra", "eigen", "whitened")
PRECISIONS = ("float32", "int8", "int4")  # attribution.store.precision
DOCUMENTS_PER_SHARD = 1000  # documents per shard file of a one-process run (of each task with --tasks)


@dataclass
class IndexArguments:
    """How `curate index` compresses each document's gradient, per tracked layer, to k_out × k_in numbers
    (`attribution.store.compress` describes the compressions)."""

    # eigen: the best agreement with full EK-FAC of the three at every size `curate bench attribution --store`
    # measured. int4 at k = 192 keeps 192 × 128 of the anchor's 512 × 128 layers in 4.98% of their float32 bytes
    # (a smaller share of wider layers), and agreed better than k = 56 in float32 or k = 112 in int8 (`precision`)
    compression: str = option("eigen", "how each layer's gradient is compressed", choices=COMPRESSIONS)
    dims: int = option(192, "k: directions kept on each side of a layer, min(k, its width) (0: all of them); in "
                       "int4 about 5%% of a layer's float32 bytes is k = 0.63·√(out·in) (SmolLM2's MLPs: 576)")
    precision: str = option("int4", "how the stored numbers are kept (int8/int4: per-row scaled integers)",
                            choices=PRECISIONS)
    seed: int = option(0, "seed of the random projections (logra, whitened)")
    modules: str | None = option(None, "layer regex without factors (default: the factors' layers)")
    batch_size: int = batch_size_option()
    max_length: int = max_length_option()
    documents_per_shard: int = option(DOCUMENTS_PER_SHARD, "documents per shard file (of each task with --tasks)")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise InputError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {self.compression!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.dims < 0:
            raise InputError("--dims must be ≥ 1 (or 0 to keep every direction)")
        if self.batch_size < 1 or self.max_length < 2 or self.documents_per_shard < 1:
            raise InputError("--batch-size and --documents-per-shard must be ≥ 1 and --max-length ≥ 2")

    def kept(self, width: int) -> int:
        """Directions kept on a side `width` wide."""
        return width if self.dims == 0 else min(self.dims, width)

    @property
    def needs_factors(self) -> bool:
        return self.compression != "logra"
