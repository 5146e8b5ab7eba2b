"""datatrove pipeline steps for procedural curation.

- `ProceduralScoreFilter` (filters.procedural): annotate `procedural_score` with the classifier; keep by threshold
  or keep-fraction, or annotate only.
- `HeuristicFilter` (filters.heuristic_filter) and the detector functions of `filters.heuristics`.
- `Reweighter` (filters.reweight): up/down-sample by score bucket.
- `filters.pipeline`: the whole filter as one pipeline on a local, Slurm or Ray executor, and its summary.
- `filters.arguments`: the filter's and the executors' settings (light: the CLI's flags come from them).
- `filters.influence`: influence scoring as a pipeline step (sharded attribution); imported on its own (torch).
"""

from attribution.lazy import lazy_exports

_MODULES = {  # module -> names; datatrove takes a second to import, so the steps load when first used
    "arguments": ("Bucket", "parse_buckets"),
    "heuristic_filter": ("HeuristicFilter",),
    "heuristics": ("FEATURE_NAMES", "heuristic_features"),
    "procedural": ("ProceduralScoreFilter",),
    "reweight": ("Reweighter",),
}
__all__, __getattr__ = lazy_exports(__name__, _MODULES)
