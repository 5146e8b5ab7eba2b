"""Settings of the compressed gradient store (light: no torch, so the CLI builds its flags quickly)."""

from __future__ import annotations

from dataclasses import dataclass

from attribution.ekfac.arguments import batch_size_option, max_length_option
from attribution.errors import InputError
from attribution.options import option

COMPRESSIONS = ("logra", "eigen", "whitened")
PRECISIONS = ("float32", "int8", "int4", "int2", "int1")  # attribution.store.precision
COMPUTE_DTYPES = ("auto", "float32", "bfloat16")
DOCUMENTS_PER_SHARD = 1000  # documents per shard file of a one-process run (of each task with --tasks)


@dataclass
class IndexArguments:
    """How `curate influence index` compresses each document's gradient, per tracked layer, to k_out × k_in numbers
    (`attribution.store.compress` describes the compressions)."""

    # eigen, int2 and 5%: at equal bytes, eigen agrees best with full EK-FAC and more directions in fewer bits
    # beat fewer in more (see docs/performance.md)
    compression: str = option("eigen", "how each layer's gradient is compressed", choices=COMPRESSIONS)
    dims: int | None = option(None, "k: directions kept on each side of a layer, min(k, its width) (0: all of them; "
                              "default: the largest k that keeps each layer within --share of its bytes)")
    share: float = option(0.05, "without --dims, the most of each layer's float32 gradient bytes a document may "
                          "take in the store")
    precision: str = option("int2", "how the stored numbers are kept (intN: N bits with one step per row)",
                            choices=PRECISIONS)
    compute_dtype: str = option("auto", "dtype documents are compressed in (auto: bfloat16 for stores of 4 bits or "
                                "fewer where the hardware multiplies it natively, else float32)",
                                choices=COMPUTE_DTYPES)
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
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise InputError(f"compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, not {self.compute_dtype!r}")
        if self.dims is not None and self.dims < 0:
            raise InputError("--dims must be ≥ 1 (or 0 to keep every direction)")
        if not 0 < self.share <= 1:
            raise InputError("--share must be a fraction in (0, 1]")
        if self.batch_size < 1 or self.max_length < 2 or self.documents_per_shard < 1:
            raise InputError("--batch-size and --documents-per-shard must be ≥ 1 and --max-length ≥ 2")

    def kept(self, out_features: int, in_features: int) -> tuple[int, int]:
        """(k_out, k_in) kept of a layer: --dims on each side, or the largest k within --share of its bytes."""
        from attribution.store.precision import bytes_per_layer

        def sides(k: int) -> tuple[int, int]:
            return min(k, out_features), min(k, in_features)

        if self.dims is not None:
            return sides(self.dims or max(out_features, in_features))
        budget = self.share * bytes_per_layer(out_features, in_features, "float32")
        fits = [k for k in range(1, max(out_features, in_features) + 1)
                if bytes_per_layer(*sides(k), self.precision) <= budget]
        return sides(max(fits, default=1))

    def describe(self) -> str:
        size = {None: f"each layer within {self.share:.0%} of its bytes", 0: "every direction"}.get(self.dims,
                                                                                                  f"k {self.dims}")
        return f"{self.compression} store ({size}, {self.precision})"

    @property
    def needs_factors(self) -> bool:
        return self.compression != "logra"
