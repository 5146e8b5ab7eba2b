"""The classifier's settings, each with its default and help text in one place (imports nothing heavy, so the
CLI builds its flags from them quickly and a worker that only loads a classifier file needs no more)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from attribution.options import option
from curate.analysis_arguments import AGGREGATIONS
from curate.errors import InputError

BACKENDS = ("hashed", "embedding", "sentence", "static")


@dataclass
class LabelArguments:
    """How training labels are taken from an influence ranking (see `curate.classify.labels`)."""

    top_k: float = option(0.2, "positives: a count (>= 1) or a share of the corpus (< 1)")
    negatives_per_positive: float = option(1.0, "negatives sampled per positive")
    bottom_share: float = option(
        1.0, "share of negatives from the bottom of the ranking (the rest from the middle)"
    )
    middle: tuple[float, float] = (0.2, 0.6)  # rank-percentile band (0 = lowest) of the middle negatives
    bottom: float = option(
        0.2, "rank percentile (0 = lowest) below which the bottom negatives are drawn; with as many negatives per "
        "positive as the rest holds, every other document is a negative", flag="--bottom-band"
    )
    aggregate: str = option(
        "magnitude", "how a document's reasoning-probe scores combine", choices=AGGREGATIONS
    )
    per_grad_norm: bool = option(False, "rank by score / document gradient norm")
    exclude_factual: bool = option(False, "drop positives also top-ranked for facts")
    against_factual: bool = option(
        False, "rank by how much more a document moves the reasoning probes than the factual ones "
        "(reasoning rank percentile minus factual rank percentile)"
    )
    sets: list[str] = option(
        [], "reasoning probe sets whose scores make the labels, e.g. code_trace howto (all if not given)",
        flag="--label-sets",
    )
    against_sets: list[str] = option(
        [], "factual probe sets the --against-factual contrast subtracts, e.g. tech_fact (all if not given)",
    )
    seed: int = 0  # samples the negatives

    def __post_init__(self) -> None:
        ranges = {"--top-k": (self.top_k, self.top_k > 0, "above 0"),
                  "--negatives-per-positive": (self.negatives_per_positive, self.negatives_per_positive > 0, "above 0"),
                  "--bottom-share": (self.bottom_share, 0 <= self.bottom_share <= 1, "from 0 to 1"),
                  "--bottom-band": (self.bottom, 0 < self.bottom <= 1, "above 0, at most 1")}
        for flag, (value, within, bounds) in ranges.items():
            if not within:
                raise InputError(f"{flag} takes a number {bounds}, got {value}")


@dataclass
class RecallArguments:
    """Nearest-neighbour recall rounds after the first fit (embedding backend, `curate.classify.train`)."""

    rounds: int = option(0, "faiss nearest-neighbour expansion rounds", flag="--recall-rounds")
    neighbours: int = 10
    min_probability: float = 0.5


@dataclass
class ClassifierArguments:
    """`train_classifier`: inputs default to the run directory's; `labels` and `recall` are set apart."""

    run_dir: Path
    scores: Path | None = option(None, "scores directory (RUN_DIR/scores if not given)")
    probes: Path | None = option(None, "probe file (RUN_DIR/probes/probes.jsonl if not given)")
    corpus: Path | None = option(None, "the scored corpus (RUN_DIR/corpus if not given)")
    out: Path | None = option(None, "output directory (RUN_DIR/classifier if not given)")
    text_key: str = "text"
    id_key: str = "id"
    skip_bad_records: bool = False  # count malformed records and write them to OUT/bad_records.jsonl
    backend: str = option(
        "hashed", "features: hashed n-grams, a local HF model's embeddings, the packaged MiniLM sentence embeddings, or "
        "static embeddings distilled from it (the last two need the `embed` extra)", choices=BACKENDS
    )
    word_ngrams: tuple[int, int] = option((1, 2), "hashed word n-gram range: MIN MAX")
    char_ngrams: tuple[int, int] | None = option(
        None, "also hash character n-grams in this range, MIN MAX, e.g. 3 5 (slower; off if not given)"
    )
    embedding_model: Path | None = option(
        None, "local HF model for --backend embedding (RUN_DIR/model if not given)"
    )
    seed: int = option(0, "seed of the held-out split and the model")
    heldout_fraction: float = option(
        0.2, "share of documents never used for training, on which every classifier is evaluated"
    )
    truth_key: str = option("procedural", "ground-truth metadata field, if the corpus has one")
    compare: list[str] = option(
        [], "also train from other rankings, NAME=SCORES_DIR, e.g. cosine=runs/x/scores-cosine random=..."
    )
    source_folds: bool = option(
        False, "also measure transfer between the scored sources: refit without each source's documents and score "
        "that source's (needs the ground truth; what label settings are chosen by, never the held-out sources)"
    )
    labels: LabelArguments = field(default_factory=LabelArguments)
    recall: RecallArguments = field(default_factory=RecallArguments)

    def __post_init__(self) -> None:
        for name in ("word_ngrams", "char_ngrams"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 2:
                    raise InputError(f"{name} takes two numbers, MIN MAX; got {list(value)}")
                setattr(self, name, tuple(value))  # the command line gives a list


@dataclass
class EvaluationArguments:
    """`evaluate_classifiers`: which corpus, classifiers and documents, and where the kept line is drawn."""

    corpus: Path
    out: Path
    classifiers: list[str] = option(
        [], "classifiers to evaluate, NAME=PATH each; PATH may be `builtin` (the shipped one)", flag="--classifier"
    )
    exclude: list[Path] = option(
        [], "documents never evaluated: corpora (e.g. the scored sample the classifiers learned from) or .txt "
        "files of ids, one a line"
    )
    heldout_fraction: float = option(
        ClassifierArguments.heldout_fraction, "evaluate the documents `classifier train` holds out by id hash (1: all)"
    )
    sources: list[str] = option(
        [], "evaluate every document of these whole sources instead (held-out sources, never scored or trained "
        "on); NAME.txt: a file of names, one a line"
    )
    exclude_sources: list[str] = option(
        [], "never evaluate documents of these sources (e.g. the held-out ones); NAME.txt: a file of names")
    seed: int = option(ClassifierArguments.seed, "seed of the held-out split (`classifier train`'s --seed)")
    label_key: str = option(ClassifierArguments.truth_key, "evaluation-only metadata field: true for procedural")
    threshold: float = option(0.5, "P(procedural) from which a document is kept")
    keep_fraction: float = option(0.3, "also keep the top share of documents by score")
    batch_size: int = option(512, "documents scored per classifier call")
    text_key: str = "text"
    id_key: str = "id"
    skip_bad_records: bool = False

    def __post_init__(self) -> None:
        self.corpus, self.out = Path(self.corpus), Path(self.out)
        if not self.classifiers:
            raise InputError("give at least one classifier, NAME=PATH")
        if not 0 < self.keep_fraction <= 1:
            raise InputError(f"--keep-fraction must be in (0, 1], got {self.keep_fraction}")
        if not 0 <= self.threshold <= 1:
            raise InputError(f"--threshold must be in [0, 1] (a probability), got {self.threshold}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")

    def named_classifiers(self) -> dict[str, str]:
        """NAME -> PATH; a bare PATH is its own name."""
        named = {}
        for item in self.classifiers:
            name, _, path = item.partition("=") if "=" in item else (item, "", item)
            if not name or not path or name in named:
                raise InputError(f"--classifier takes NAME=PATH with distinct names, not {item!r}")
            named[name] = path
        return named
