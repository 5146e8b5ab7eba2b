"""Where each stage of a run reads and writes, so every stage can run alone or take the user's own input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CLASSIFIER_FILE = "classifier.joblib"
TRAINING_SET_FILE = "training_set.parquet"  # the documents and labels a classifier was trained on


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __post_init__(self) -> None:  # a notebook passes a str
        object.__setattr__(self, "root", Path(self.root))

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def probes(self) -> Path:
        return self.root / "probes" / "probes.jsonl"

    @property
    def generated_probes(self) -> Path:
        """The probes with a model's own greedy completions (`curate probes make --generate-with`)."""
        return self.root / "probes" / "probes-generated.jsonl"

    @property
    def probe_eval(self) -> Path:
        return self.root / "probes" / "eval"

    @property
    def factors(self) -> Path:
        return self.root / "factors"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    @property
    def store(self) -> Path:
        """The compressed gradient store (`curate influence index`)."""
        return self.root / "store"

    def scores_for(self, method: str) -> Path:
        """EK-FAC scores live in `scores/`; the baselines' beside them in `scores-METHOD/`."""
        return self.scores if method == "ekfac" else self.root / f"scores-{method}"

    @property
    def validation(self) -> Path:
        return self.root / "validate"

    @property
    def classifier(self) -> Path:
        return self.root / "classifier"

    @property
    def classifier_file(self) -> Path:
        return self.classifier / CLASSIFIER_FILE

    @property
    def classifier_training_set(self) -> Path:
        return self.classifier / TRAINING_SET_FILE

    @property
    def filtered(self) -> Path:
        return self.root / "filtered"

    @property
    def mix(self) -> Path:
        return self.root / "mix"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def neurons(self) -> Path:
        return self.root / "neurons"


def add_run_dir_argument(parser) -> None:
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path("runs/default"),
        help="run directory; each stage's default input and output live under it (default: runs/default)",
    )
