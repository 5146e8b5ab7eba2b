"""The validation experiments' settings (nothing heavy imported, so the CLI builds its flags from them quickly)."""

from __future__ import annotations

from dataclasses import dataclass

from curate.options import option


@dataclass
class RemovalArguments:
    targets: list[str] = option(["arithmetic", "slope", "linear", "factual"], "probe sets to remove documents for")
    methods: list[str] = option(
        ["ekfac", "cosine", "dot", "random"],
        "rankings to compare; each reads RUN_DIR/scores (ekfac) or RUN_DIR/scores-METHOD",
    )
    fractions: list[float] = option(
        [0.01, 0.02, 0.05], "shares of the corpus to remove (a baseline with nothing removed always runs)"
    )
    seeds: list[int] = option([0, 1, 2], "training seeds; each cell is retrained once per seed")
    steps: int | None = option(None, "training steps per retrain (None: the run's own)")
    accuracy: bool = option(True, "greedy generation per probe (--no-accuracy: loss only, a few seconds less per cell)")


@dataclass
class MixValidationArguments:
    budget_share: float = option(
        0.5, "token budget of the random and curated arms, as a share of the crawl's training tokens"
    )
    # Well above the crawl's own share: the classifier's procedural documents already hold 47% of the
    # embedded corpus's tokens, so 0.5 was no reweighting at all.
    procedural_share: float = option(
        0.9,
        "share of the curated mix's tokens from documents the classifier scores procedural; keep it well above "
        "the crawl's own share, which the summary reports per arm",
    )
    threshold: float = option(0.5, "procedural_score at or above which a document counts as procedural")
    max_repetitions: int = option(2, "most copies of one document in the curated mix")
    seeds: list[int] = option([0, 1, 2], "training seeds; each arm is trained once per seed")
    probe_seed: int = option(1, "seed of the evaluation probes (differs from the selection probes)")
    steps: int | None = option(None, "training steps per arm (None: the run's own)")
    accuracy: bool = option(True, "greedy generation per probe (--no-accuracy: loss only)")
