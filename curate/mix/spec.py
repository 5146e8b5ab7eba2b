"""The mix spec: buckets of documents (by score range and/or source), their token shares, the budget.

TOML (JSON with the same keys also works):

    total_tokens = 2_000_000      # token budget of the whole mix
    max_repetitions = 4           # no document appears more often than this
    seed = 0
    score_key = "procedural_score"
    on_shortfall = "report"       # or "keep_shares" (see below)
    shards = 4                    # output shards

    [[bucket]]
    name = "procedural"
    score = [0.8, 1.0]            # scores in [0.8, 1.0); the top of the highest range is included
    weight = 0.4                  # share of the mix's tokens (weights are normalised to sum to 1)

    [[bucket]]
    name = "code"
    source = ["code"]             # metadata `source` in this list
    weight = 0.2

    [[bucket]]
    name = "rest"                 # no condition: every document no earlier bucket took
    weight = 0.4

A document belongs to the first bucket whose conditions all hold. When a bucket cannot reach its share
under `max_repetitions`, "report" keeps the other buckets' token targets (the total falls short and the
achieved shares drift, both stated in the manifest); "keep_shares" shrinks the total until every bucket
can meet its share.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from curate.classify import SCORE_KEY
from curate.errors import InputError

SHORTFALL_POLICIES = ("report", "keep_shares")


@dataclass(frozen=True)
class BucketSpec:
    name: str
    weight: float
    score: tuple[float, float] | None = None
    source: tuple[str, ...] | None = None

    def matches(self, score: float | None, source: str | None, top: float) -> bool:
        if self.score is not None:
            low, high = self.score
            if score is None or not (low <= score < high or score == high == top):
                return False
        return self.source is None or source in self.source


@dataclass
class MixSpec:
    total_tokens: int
    buckets: list[BucketSpec]
    max_repetitions: int = 4
    seed: int = 0
    score_key: str = SCORE_KEY
    on_shortfall: str = "report"
    shards: int = 4
    _top: float = field(init=False, repr=False, default=math.inf)

    def __post_init__(self):
        if self.total_tokens <= 0:
            raise InputError(f"mix spec: total_tokens must be positive, got {self.total_tokens}")
        if self.max_repetitions < 1:
            raise InputError(f"mix spec: max_repetitions must be >= 1, got {self.max_repetitions}")
        if self.on_shortfall not in SHORTFALL_POLICIES:
            raise InputError(f"mix spec: on_shortfall must be one of {SHORTFALL_POLICIES}")
        if self.shards < 1:
            raise InputError("mix spec: shards must be >= 1")
        if not self.buckets:
            raise InputError("mix spec: no [[bucket]] given")
        names = [b.name for b in self.buckets]
        if len(set(names)) != len(names):
            raise InputError(f"mix spec: bucket names repeat ({names})")
        if any(b.weight < 0 for b in self.buckets) or sum(b.weight for b in self.buckets) <= 0:
            raise InputError("mix spec: bucket weights must be >= 0 and not all 0")
        ranges = [b.score for b in self.buckets if b.score is not None]
        self._top = max((high for _, high in ranges), default=math.inf)

    @property
    def uses_scores(self) -> bool:
        return any(b.score is not None for b in self.buckets)

    def shares(self) -> list[float]:
        total = sum(b.weight for b in self.buckets)
        return [b.weight / total for b in self.buckets]

    def bucket_of(self, score: float | None, source: str | None) -> int:
        """Index of the first bucket the document belongs to, or -1."""
        for index, bucket in enumerate(self.buckets):
            if bucket.matches(score, source, self._top):
                return index
        return -1

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["buckets"] = [{k: v for k, v in asdict(b).items() if v is not None} for b in self.buckets]
        return data


def _bucket(data: dict, where: str) -> BucketSpec:
    unknown = set(data) - {"name", "weight", "score", "source"}
    if unknown or "name" not in data or "weight" not in data:
        raise InputError(f"{where}: a bucket needs name and weight, optionally score and source (got {sorted(data)})")
    what = f"{where}: bucket {data['name']!r}"
    score = data.get("score")
    if score is not None:
        if not (isinstance(score, list | tuple) and len(score) == 2
                and _number(score[0], f"{what}: score") < _number(score[1], f"{what}: score")):
            raise InputError(f"{what}: score must be [low, high] with low < high")
        score = (float(score[0]), float(score[1]))
    source = data.get("source")
    if source is not None:
        if not isinstance(source, str | list):
            raise InputError(f"{what}: source must be a name or a list of names, got {source!r}")
        source = (source,) if isinstance(source, str) else tuple(str(s) for s in source)
    return BucketSpec(str(data["name"]), _number(data["weight"], f"{what}: weight"), score, source)


def load_mix_spec(path: str | Path) -> MixSpec:
    """Read a mix spec from a TOML or JSON file."""
    path = Path(path)
    if not path.exists():  # fall back to the specs shipped in `recipes/`, e.g. mix_spec_example.toml
        packaged = resources.files("recipes") / path.name
        if not packaged.is_file():
            raise InputError(f"{path}: no such mix spec")
        path = Path(str(packaged))
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({error})") from error
    return mix_spec_from_dict(data, str(path))


def mix_spec_from_dict(data: dict, where: str = "mix spec") -> MixSpec:
    data = dict(data)
    buckets = data.pop("bucket", None) or data.pop("buckets", None) or []
    known = {"total_tokens", "max_repetitions", "seed", "score_key", "on_shortfall", "shards"}
    if unknown := set(data) - known:
        raise InputError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known | {'bucket'})}")
    if "total_tokens" not in data:
        raise InputError(f"{where}: total_tokens is required")
    for key, value in data.items():
        if key in ("score_key", "on_shortfall"):
            if not isinstance(value, str):
                raise InputError(f"{where}: {key} must be a string, got {value!r}")
        else:  # a count: JSON may write it as 1e9
            if isinstance(value, float) and value.is_integer():
                data[key] = value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"{where}: {key} must be a whole number, got {value!r}")
    if not isinstance(buckets, list) or not all(isinstance(b, dict) for b in buckets):
        raise InputError(f"{where}: buckets must be tables ([[bucket]]), got {buckets!r}")
    return MixSpec(buckets=[_bucket(b, where) for b in buckets], **data)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{what} must be a number, got {value!r}")
    return float(value)
