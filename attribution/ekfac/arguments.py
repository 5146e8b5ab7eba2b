"""The settings of fitting factors and scoring, each with its default and help text in one place. Nothing heavy
is imported here (torch and transformers load with the stages), so the CLI builds its flags from them quickly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attribution.errors import InputError
from attribution.options import option

# Linear layers directly inside an MLP block: gate_proj/up_proj/down_proj in Llama-style models, c_fc/c_proj in
# GPT-2 (whose attention also has a c_proj, hence the block name), fc1/fc2, dense_h_to_4h/dense_4h_to_h, ...
DEFAULT_MODULES = r"\.(mlp|feed_forward|ffn)\.[^.]+$"
FISHERS = ("true", "empirical")
METHODS = ("ekfac", "dot", "cosine", "random")
BASELINES = ("dot", "cosine")  # the methods that can share an EK-FAC scoring pass (`ScoreRunArguments.baselines`)
SCORE_DTYPES = ("float32", "bfloat16")
DOCUMENTS_PER_PART = 1000  # documents per score file of a one-process run
BUDGET_SHARE = 0.8  # of the device's memory, by default


# Declared once for the factor and the score arguments (and so for their --batch-size and --max-length flags).
def batch_size_option() -> Any:
    return option(8, "documents per forward+backward")


def max_length_option() -> Any:
    return option(512, "tokens per document, truncated")


@dataclass
class FactorArguments:
    """How factors are fitted. `modules` is a regex over layer names (see `DEFAULT_MODULES`)."""

    modules: str = option(DEFAULT_MODULES, "regex over layer names; the default matches MLP linears")
    fisher: str = option("true", "gradients from labels sampled from the model (true) or the data (empirical)",
                         choices=FISHERS)
    batch_size: int = batch_size_option()
    max_length: int = max_length_option()
    max_documents: int | None = option(None, "fit on the first N documents of the corpus only (None: all)",
                                        flag="--documents")
    seed: int = option(0, "seed of the true Fisher's sampled labels")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.fisher not in FISHERS:
            raise InputError(f"fisher must be 'true' or 'empirical', not {self.fisher!r}")
        if self.batch_size < 1 or self.max_length < 2:
            raise InputError("batch_size must be ≥ 1 and max_length ≥ 2")


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
    # Only the contraction of document gradients with the queries runs in bfloat16 (the model's pass, the
    # gradient norms and the sums stay float32): it is where the time goes, and the scores stay close to
    # float32's (see docs/performance.md)
    score_dtype: str = option("float32", "dtype of the score contraction (bfloat16: faster where the hardware "
                              "has it, scores within about 0.4%% of float32's)", choices=SCORE_DTYPES)
    seed: int = option(0, "seed of --method random")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.rank is not None and self.rank < 1:
            raise InputError("rank must be ≥ 1 (or None for exact queries)")
        if self.score_dtype not in SCORE_DTYPES:
            raise InputError(f"score_dtype must be one of {', '.join(SCORE_DTYPES)}, not {self.score_dtype!r}")
        if self.contraction not in ("auto", "factorised", "gradient"):
            raise InputError(f"contraction must be auto, factorised or gradient, not {self.contraction!r}")
        if (self.damping is not None and self.damping < 0) or self.damping_scale < 0:
            raise InputError("damping must be ≥ 0")


@dataclass
class DeviceArguments:
    """Where the model runs, for fitting and scoring alike."""

    device: str = option("cpu", "torch device")
    threads: int | None = option(None, "torch CPU threads (None: torch's choice)")

    def load(self, path: Path, max_length: int):
        """The model and tokenizer at `path`; a `max_length` beyond the model's positions is refused here."""
        from attribution.model import load_causal_lm

        return load_causal_lm(path, self.device, threads=self.threads, max_length=max_length)

    def for_coordinator(self, workers: int) -> DeviceArguments:
        """The settings of the process that prepares the queries before local datatrove workers score: no worker
        runs then, so it takes the threads they will share (`--threads 1 --workers 2` would otherwise leave it on
        one core of two)."""
        return DeviceArguments(self.device, self.threads * workers if self.threads else None)


@dataclass
class ScoreRunArguments:
    """How `curate influence score` splits its output and bounds its memory, in one process or in each datatrove task."""

    documents_per_part: int = option(DOCUMENTS_PER_PART, "documents per output part (of each task with --tasks)")
    baselines: list[str] = option([], "baseline methods scored in the same pass over the corpus, each into "
                                  "OUT-METHOD: every document's gradient is computed once for all", choices=BASELINES)
    memory_budget: float | None = option(None, f"GB of memory one scoring process may use (None: "
                                         f"{BUDGET_SHARE * 100:.0f}%% of the device's, shared by local --workers)")

    def __post_init__(self) -> None:
        if self.documents_per_part < 1 or (self.memory_budget is not None and self.memory_budget <= 0):
            raise InputError("--documents-per-part must be ≥ 1 and --memory-budget > 0")
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown or len(set(self.baselines)) < len(self.baselines):
            raise InputError(f"--baselines takes each of {', '.join(BASELINES)} at most once, not {self.baselines}")

    def baseline_folder(self, out: Path, method: str) -> Path:
        """Where a baseline scored beside the scores in `out` goes: `RUN/scores` -> `RUN/scores-cosine`."""
        return Path(out).with_name(f"{Path(out).name}-{method}")
