"""The benchmarks' settings (nothing heavy imported, so the CLI builds its flags from them quickly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.classify.arguments import ClassifierArguments
from curate.errors import InputError
from curate.options import option
from curate.paths import RunDir


@dataclass
class BenchSettings:
    """`curate bench attribution`: the anchor setting by default, `quick()` for a smoke test."""

    documents: int = 512
    tokens: int = 128
    probes: int = 20
    prompt_tokens: int = 24
    completion_tokens: int = 8
    vocab: int = 4096
    hidden: int = 128
    intermediate: int = 512
    layers: int = 4
    heads: int = 4
    rank: int = 32
    batch_size: int = 8
    seed: int = 0
    repeats: int = 1
    kronfluence: bool = True
    scaling: bool = True
    threads: int | None = None  # torch threads; None: torch's choice
    store: bool = False  # also measure the compressed gradient store (`curate.bench.store`)
    store_plot: str | None = "bench-store-agreement.png"  # its agreement-against-storage curves

    @classmethod
    def quick(cls) -> BenchSettings:
        return cls(documents=48, tokens=32, probes=4, prompt_tokens=8, completion_tokens=4, vocab=256,
                   hidden=32, intermediate=64, layers=2, heads=4, rank=8)


@dataclass
class FilterBenchArguments:
    """`curate bench filter`: reads the run's corpus and classifier, writes to `output_dir`."""

    run_dir: Path
    out: Path | None = option(None, "bench outputs (RUN_DIR/bench/filter if not given)")
    repeats: int = option(3, "timed passes per filter; the best is reported")
    copies: int = option(5, "times the corpus is repeated in the timed input")
    heldout_fraction: float = option(ClassifierArguments.heldout_fraction, "as used by train-classifier")
    seed: int = option(
        ClassifierArguments.seed, "seed of the held-out split (as in train-classifier) and of fastText"
    )
    overwrite: bool = option(False, "replace the bench's outputs in a non-empty --out")

    @property
    def output_dir(self) -> Path:
        return self.out or RunDir(self.run_dir).root / "bench" / "filter"


# SmolLM2-135M's layer shapes (its config.json): the random-init model of `curate bench precondition`.
SMOLLM2_SHAPES = {"hidden": 576, "intermediate": 1536, "heads": 9, "kv_heads": 3, "vocab": 49152}
QUICK_SHAPES = {"hidden": 128, "intermediate": 256, "heads": 4, "kv_heads": 2, "vocab": 256}


@dataclass
class PreconditionBenchArguments:
    """`curate bench precondition`: query preconditioning, today's algorithm against the earlier dense one."""

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
    batch_size: int = option(8, "probes per forward+backward, as in `curate score`")
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
