"""datatrove pipeline steps for procedural curation.

- `ProceduralScoreFilter` (filters.procedural): annotate `procedural_score` with the classifier; keep by threshold
  or keep-fraction, or annotate only.
- `HeuristicFilter` (filters.heuristic_filter) and the detector functions of `filters.heuristics`.
- `Reweighter` (filters.reweight): up/down-sample by score bucket.
- `filters.pipeline`: the whole filter as one pipeline on a local, Slurm or Ray executor, and its summary.
- `filters.influence`: influence scoring as a pipeline step (sharded attribution); imported on its own (torch).
"""

from filters.heuristic_filter import HeuristicFilter
from filters.heuristics import FEATURE_NAMES, heuristic_features
from filters.procedural import ProceduralScoreFilter
from filters.reweight import Bucket, Reweighter, parse_buckets

__all__ = [
    "FEATURE_NAMES",
    "Bucket",
    "HeuristicFilter",
    "ProceduralScoreFilter",
    "Reweighter",
    "heuristic_features",
    "parse_buckets",
]
