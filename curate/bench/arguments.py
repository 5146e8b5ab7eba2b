"""The benchmarks' settings (nothing heavy imported, so the CLI builds its flags from them quickly)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from attribution.ekfac.arguments import DEFAULT_MODULES
from attribution.options import option
from attribution.store.arguments import COMPRESSIONS, PRECISIONS
from curate.classify.arguments import ClassifierArguments
from curate.errors import InputError
from curate.paths import RunDir

# k per side of each compression the store bench measures; at the anchor's 512 × 128 layers these keep 4.8%, 19%,
# 37.5% and 69% of the gradient's numbers, and in int2 (`--precisions`) 0.4% to 4.8% of its float32 bytes
STORE_SIZES = (56, 112, 192, 352)


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
    # A real model instead of the random-init one: the shape fields above then do not apply.
    model: Path | None = option(None, "a Hugging Face model directory instead of the random-init Llama (with "
                                "--corpus and --probe-file)")
    corpus: Path | None = option(None, "documents for --model (a corpus folder or file): its first --documents of "
                                 "at least half --tokens tokens, truncated to --tokens")
    probe_file: Path | None = option(None, "probes (probes.jsonl) for --model: --probes of them, spread evenly over "
                                     "the file")
    modules: str | None = option(None, "regex over layer names (default: the MLP linears)")
    dims: list[int] = option(list(STORE_SIZES), "k per side of each compression the store bench measures")
    compressions: list[str] = option(list(COMPRESSIONS), "the compressions the store bench measures (each size of "
                                     "each is one pass over the documents)")
    precisions: list[str] = option(list(PRECISIONS), "how the store bench keeps the stored numbers (each size is "
                                   "built once and scored in each precision)")
    store_only: bool = option(False, "with --store, only the store bench: no plain pass, no timing of the "
                              "engine or kronfluence")

    def __post_init__(self) -> None:
        given = [self.model is not None, self.corpus is not None, self.probe_file is not None]
        if any(given) and not all(given):
            raise InputError("--model, --corpus and --probe-file go together: a real model, its documents and probes")
        if self.store_only and not self.store:
            raise InputError("--store-only needs --store")
        if not self.dims or min(self.dims) < 1:
            raise InputError("--dims must be one or more sizes ≥ 1")
        if not self.compressions or set(self.compressions) - set(COMPRESSIONS):
            raise InputError(f"--compressions must be one or more of {', '.join(COMPRESSIONS)}")
        if not self.precisions or set(self.precisions) - set(PRECISIONS):
            raise InputError(f"--precisions must be one or more of {', '.join(PRECISIONS)}")

    @property
    def module_pattern(self) -> str:
        return self.modules or DEFAULT_MODULES

    @classmethod
    def quick(cls) -> BenchSettings:
        return cls(documents=48, tokens=32, probes=4, prompt_tokens=8, completion_tokens=4, vocab=256,
                   hidden=32, intermediate=64, layers=2, heads=4, rank=8)


_QUICK = BenchSettings.quick()


@dataclass
class MemoryBenchArguments:
    """`curate bench memory`: the peak memory and disk `curate influence fit`, `score` and `index` plan, against
    what each measures, run as its own process on the anchor setting of `curate bench attribution` (written into
    a run directory) or on a given model, corpus and probes."""

    model: Path | None = option(None, "a Hugging Face model directory (with --corpus and --probes; default: the "
                                "attribution bench's random-init anchor Llama)")
    corpus: Path | None = option(None, "documents for --model (a corpus folder or file): its first --documents "
                                 "are copied into the run directory")
    probes: Path | None = option(None, "probes (probes.jsonl) for --model")
    documents: int | None = option(None, f"documents fitted, scored and indexed (default: {BenchSettings.documents}; "
                                   f"--quick {_QUICK.documents})")
    max_length: int | None = option(None, f"tokens per document, the commands' --max-length (default: "
                                    f"{BenchSettings.tokens}; --quick {_QUICK.tokens})")
    batch_size: int = option(BenchSettings.batch_size, "the commands' --batch-size")
    modules: str = option(DEFAULT_MODULES, "`influence fit`'s --modules (score and index take the factors' layers)")
    threads: int | None = option(None, "the commands' --threads (None: torch's choice)")
    quick: bool = option(False, "a tiny model and corpus (seconds; for tests)")
    out: Path | None = option(None, "an empty or new run directory the commands write into (default: a "
                              "temporary one, removed afterwards)")
    seed: int = option(BenchSettings.seed, "seed of the anchor model, documents and probes, and of the fit")

    def __post_init__(self) -> None:
        given = [self.model is not None, self.corpus is not None, self.probes is not None]
        if any(given) and not all(given):
            raise InputError("--model, --corpus and --probes go together: a real model, its documents and probes")
        base = self.settings
        self.documents, self.max_length = self.documents or base.documents, self.max_length or base.tokens
        if min(self.documents, self.batch_size, self.max_length - 1) < 1 or (self.threads or 1) < 1:
            raise InputError("--documents, --batch-size and --threads must be ≥ 1, --max-length ≥ 2")

    @property
    def settings(self) -> BenchSettings:
        """The attribution bench's setting the model and data are built from."""
        base = _QUICK if self.quick else BenchSettings()
        return replace(base, documents=self.documents or base.documents, tokens=self.max_length or base.tokens,
                       batch_size=self.batch_size, seed=self.seed, threads=self.threads)


@dataclass
class FilterBenchArguments:
    """`curate bench filter`: reads the run's corpus and classifier, writes to `output_dir`."""

    run_dir: Path
    out: Path | None = option(None, "bench outputs (RUN_DIR/bench/filter if not given)")
    repeats: int = option(3, "timed passes per filter; the best is reported")
    copies: int = option(5, "times the corpus is repeated in the timed input")
    heldout_fraction: float = option(ClassifierArguments.heldout_fraction, "as used by `classifier train`")
    seed: int = option(
        ClassifierArguments.seed, "seed of the held-out split (as in `classifier train`) and of fastText"
    )
    overwrite: bool = option(False, "replace the bench's outputs in a non-empty --out")

    @property
    def output_dir(self) -> Path:
        return self.out or RunDir(self.run_dir).root / "bench" / "filter"


# every classifier `curate bench representations` can train; the reference rows (FineWeb-Edu-style, oracle) come
# with "sentence" and "oracle"
REPRESENTATIONS = ("hashed", "hashed+char", "embedding", "sentence", "static", "fasttext", "two-stage", "oracle")


@dataclass
class RepresentationBenchArguments:
    """`curate bench representations`: text representations trained on the same labels, side by side."""

    training_set: Path | None = option(None, "required: labelled documents (parquet: doc_id, label 1/0; rows of a `round` "
                                       "other than 0 are left out), e.g. RUN/classifier/training_set.parquet")
    corpus: Path | None = option(None, "required: the corpus holding their texts, with evaluation-only metadata source and "
                                 "procedural")
    heldout_sources: list[str] = option([], "sources evaluated on, never trained on; none given: the real "
                                         "corpus's HELDOUT_SOURCES")
    out: Path | None = option(None, "required: output folder (representations.csv/.md, heldout_sources.csv, the plot)")
    candidates: list[str] = option(list(REPRESENTATIONS), "the classifiers to train (embedding needs "
                                   "--embedding-model; two-stage adds its stages, oracle the sentence model)",
                                   choices=REPRESENTATIONS)
    embedding_model: Path | None = option(None, "a local Hugging Face model for the LM-embedding row (left out "
                                          "if not given)")
    in_domain: int = option(2000, "in-domain held-out documents: a seeded sample of the training sources' "
                            "documents not in the training set")
    heldout_per_source: int | None = option(
        None, "evaluate on a seeded draw of at most this many documents of each held-out source (default: every "
        "document); every candidate sees the same draw, so a slow candidate's row stays comparable"
    )
    timing_documents: int = option(500, "documents of the seeded sample each classifier filters in the timed "
                                   "datatrove pipeline")
    repeats: int = option(1, "timed passes per classifier; the fastest is reported")
    first_stage: str = option("hashed", "the two-stage filter's first pass", choices=("hashed", "static"))
    first_threshold: float = option(0.2, "the first pass's permissive threshold")
    max_length: int = option(256, "tokens per document read by the sentence and LM-embedding models")
    seed: int = option(0, "seed of every sample and every fit")

    def __post_init__(self) -> None:
        for name in ("training_set", "corpus", "out"):
            if getattr(self, name) is None:
                raise InputError(f"--{name.replace('_', '-')} is required")
        if self.heldout_per_source is not None and self.heldout_per_source < 1:
            raise InputError(f"--heldout-per-source must be at least 1, not {self.heldout_per_source}")
        if min(self.in_domain, self.timing_documents - 1, self.repeats - 1, self.max_length - 1) < 0:
            raise InputError("--in-domain must be ≥ 0, --timing-documents, --repeats and --max-length ≥ 1")
        if not 0 <= self.first_threshold <= 1:
            raise InputError(f"--first-threshold must be in [0, 1], got {self.first_threshold}")
        if unknown := set(self.candidates) - set(REPRESENTATIONS):
            raise InputError(f"unknown candidates {', '.join(sorted(unknown))}; choose from {', '.join(REPRESENTATIONS)}")
