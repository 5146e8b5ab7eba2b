"""The validation experiments' settings (nothing heavy imported, so the CLI builds its flags from them quickly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attribution.options import option
from curate.classify.arguments import BACKENDS
from curate.errors import InputError


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
    # Well above the crawl's own share, which on the embedded corpus is already near half, so that the curated
    # arm is reweighted at all (see docs/results.md)
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



@dataclass
class MixSweepArguments(MixValidationArguments):
    """`curate study mix-sweep`: families of mixes at the random arm's token budget, for a frontier of
    reasoning gained against held-out loss paid. `procedural_share` (the one curated arm) is unused."""

    # Upsampling x4 must stay within the cap (the curated arm's 2 would cut the family to one arm).
    max_repetitions: int = option(4, "most copies of one document in any arm; upsampling factors may not exceed it")
    shares: list[float] = option(
        [0.6, 0.7, 0.8, 0.9],
        "procedural token shares of the share arms (an arm at the crawl's own share always runs)",
    )
    top_fractions: list[float] = option(
        [0.3, 0.5, 0.7], "shares of the documents kept, those the classifier scores highest, one arm each"
    )
    upsample: list[float] = option(
        [2.0, 3.0, 4.0], "factors procedural documents' sampling weight is multiplied by, one arm each"
    )
    heldout_tolerance: float = option(
        0.05, "held-out loss above the random arm's, as a share of it, that a recommended mix may cost"
    )
    target_gain: float = option(
        0.05, "drop in reasoning loss (nats/token) below the random arm's that meets the target"
    )

    def __post_init__(self) -> None:
        for name, values, low, high in (
            ("--shares", self.shares, 0.0, 1.0),
            ("--top-fractions", self.top_fractions, 0.0, 1.0),
            ("--budget-share", [self.budget_share], 0.0, 1.0),
        ):
            if bad := [v for v in values if not low < v <= high]:
                raise InputError(f"{name} takes values in ({low:g}, {high:g}], not {bad}")
        if self.max_repetitions < 1:
            raise InputError(f"--max-repetitions must be at least 1, not {self.max_repetitions}")
        if bad := [r for r in self.upsample if not 1 <= r <= self.max_repetitions]:
            raise InputError(
                f"--upsample factors must lie in [1, --max-repetitions = {self.max_repetitions}], not {bad}"
            )
        for name, values in (("--shares", self.shares), ("--top-fractions", self.top_fractions),
                             ("--upsample", self.upsample), ("--seeds", self.seeds)):
            if len({f"{v:g}" for v in values}) != len(values):
                raise InputError(f"{name} repeats a value: {values}")
        if not self.seeds:
            raise InputError("--seeds: at least one seed")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"--steps must be at least 1, not {self.steps}")
        if self.heldout_tolerance < 0:
            raise InputError(f"--heldout-tolerance must be >= 0, not {self.heldout_tolerance}")

@dataclass
class LdsArguments:
    models: int = option(32, "LMs retrained, each on its own random subset of the training documents", flag="--retrains")
    alpha: float = option(0.5, "share of the training documents in each subset")
    seed: int = option(0, "seeds the subsets and the bootstrap; subset I trains with seed SEED+I")
    methods: list[str] = option(
        ["ekfac", "cosine", "dot", "random"],
        "rankings to score: each reads RUN_DIR/scores (ekfac) or RUN_DIR/scores-METHOD; NAME=DIR reads DIR",
    )
    steps: int | None = option(None, "training steps per retrain (None: the run's own)")
    bootstrap: int = option(1000, "bootstrap resamples of the subsets and a probe set's probes, for its mean's interval")
    accuracy: bool = option(False, "greedy generation per probe as well (the score uses the loss only)")

    def __post_init__(self) -> None:
        # A Spearman correlation over two subsets is +-1 whatever the scores: no evidence at all.
        if self.models < 3:
            raise InputError(f"--retrains must be at least 3, not {self.models}")
        if not 0 < self.alpha < 1:
            raise InputError(f"--alpha, the share of documents in a subset, must be in (0, 1), not {self.alpha}")
        if self.bootstrap < 1:
            raise InputError(f"--bootstrap must be at least 1, not {self.bootstrap}")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"--steps must be at least 1, not {self.steps}")


@dataclass
class RegisterArguments:
    """`curate study register`: which label rules separate procedure from technical register."""

    rankings: list[str] = option(
        [], "NAME=SCORES_DIR per ranking (default: ekfac=RUN_DIR/scores and each RUN_DIR/scores-METHOD)"
    )
    label_rule: str = option(
        "code_trace+howto/factual", "the rule whose per-source table is written: GROUP/CONTRAST[ per norm][, signed|breadth]"
    )
    category_key: str = option("category", "evaluation-only field naming each document's category")
    corpus: Path | None = option(None, "the scored documents (default: RUN_DIR/sample, else RUN_DIR/corpus)")
    probes: Path | None = option(None, "the scored probes (default: RUN_DIR/probes/probes.jsonl)")
    out: Path | None = option(None, "results directory (default: RUN_DIR/validate/register)")


@dataclass
class CeilingArguments:
    """`curate study ceiling`: classifiers trained on the evaluation-only labels themselves, the best labels there
    are, judged on the held-out sources: how far any influence labels could go with these training sources."""

    sample: Path | None = option(None, "the training documents, labelled (default: RUN_DIR/sample, the scored sample)")
    corpus: Path | None = option(None, "the corpus holding the held-out sources (default: RUN_DIR/corpus)")
    heldout_sources: list[str] = option(
        [], "held-out sources, names or a NAME.txt of them (default: RUN_DIR/corpus/heldout_sources.txt)")
    backend: str = option("hashed", "the classifier's representation", choices=BACKENDS)
    extra_per_source: int = option(
        200, "leave-one-source-out: documents drawn from each other held-out source and added to the sample")
    label_key: str = option("procedural", "evaluation-only metadata field: true for procedural")
    source_key: str = "source"
    category_key: str = "category"
    seed: int = option(0, "seeds the draws and the classifiers")
    out: Path | None = option(None, "results directory (default: RUN_DIR/validate/ceiling)")

    def __post_init__(self) -> None:
        if self.extra_per_source < 1:
            raise InputError(f"--extra-per-source takes a count of at least 1, got {self.extra_per_source}")


ARM_FAMILIES = ("random", "share", "top", "upsample", "influence", "base", "removal")


@dataclass
class AnnealArguments:
    """`curate study anneal`: continued training of a pretrained causal LM on each arm's mix for one token
    budget with the learning rate decayed to zero, then held-out probes and held-out corpus loss."""

    model: Path | None = option(None, "the pretrained Hugging Face model to anneal (default: RUN_DIR/model)")
    corpus: Path | None = option(None, "the crawl the arms draw from (default: RUN_DIR/corpus)")
    annotations: Path | None = option(
        None, "the crawl annotated with procedural_score by `curate filter` (default: RUN_DIR/filtered/kept); "
        "read only for the share, top and upsample arms"
    )
    tokens: int = option(1_000_000, "token budget of every annealing run (packed tokens, each document then EOS)")
    arms: list[str] = option(
        list(ARM_FAMILIES), "families of arms to run: random, share, top, upsample (classifier curation), "
        "influence (top documents by RUN_DIR/scores for the reasoning sets), base (the un-annealed model, "
        "evaluated once), removal (the removal grid)",
    )
    shares: list[float] = option([0.5, 0.7, 0.9], "procedural token shares of the share arms")
    top_fractions: list[float] = option(
        [0.3, 0.5], "shares of the documents kept, highest procedural_score (top arms) or highest influence "
        "(influence arms; of the scored documents), one arm each"
    )
    upsample: list[float] = option([2.0, 4.0], "factors procedural documents' sampling weight is multiplied by")
    threshold: float = option(0.5, "procedural_score at or above which a document counts as procedural")
    max_repetitions: int = option(
        4, "most copies of one document in an arm (the random arm and the removal arms draw each at most once)"
    )
    removal_targets: list[str] = option(["code_trace", "howto"], "probe sets whose top documents the removal arms drop")
    removal_methods: list[str] = option(
        ["ekfac", "cosine", "random"],
        "rankings of the removal arms: ekfac reads RUN_DIR/scores, cosine RUN_DIR/scores-cosine; random is a seeded "
        "random order",
    )
    removal_fractions: list[float] = option([0.1], "shares of the removal mix each removal arm drops")
    removal_documents: int | None = option(
        None, "the removal mix: a seeded draw of this many scored documents per seed (default: all of them); each "
        "removal arm drops its ranking's top share of the mix and trains on the rest, each document once. Size it so "
        "--tokens nearly exhausts what is kept, or most removed documents would not have been drawn anyway"
    )
    seeds: list[int] = option([0, 1, 2], "annealing seeds: data order and the draw of each arm's documents")
    # Decay to zero is what annealing means (Llama 3, OLMo 2): the gain is measured at the end of a schedule.
    lr: float = option(
        3e-4, "peak learning rate; well below a pretraining peak, so a small budget adapts the model without "
        "undoing it"
    )
    schedule: str = option(
        "linear", "decay after warm-up, to exactly 0 at the last step: linear or cosine", choices=("linear", "cosine")
    )
    warmup: float = option(
        0.05, "share of the steps spent warming up linearly from near 0 to the peak (AdamW's moments start empty)"
    )
    weight_decay: float = option(
        0.0, "AdamW weight decay; 0 by default because decay pulls weights toward 0, not toward the pretrained model"
    )
    grad_clip: float = option(1.0, "gradient norm clip per step; guards the first steps of new data")
    train_layers: str = option(
        "all", "what is trained, the rest frozen: all, upper-half (the upper half of the decoder layers and the "
        "final norm; embeddings stay, they are tied to the output in small models), or a regex over parameter names",
    )
    seq_len: int = option(512, "tokens per packed training sequence (documents joined by EOS, cut at this length)")
    batch_size: int = option(8, "sequences per optimizer step")
    threads: int = option(1, "torch CPU threads per process; scale out with --shard instead, one process a core")
    device: str = option("cpu", "torch device: cpu, cuda or auto")
    heldout_fraction: float = option(
        0.02, "share of the crawl's documents (by a seeded hash of the id) set aside as the held-out slice, "
        "excluded from every arm's pool"
    )
    heldout_seed: int = option(12345, "seed of the held-out slice's hash; fixed so every arm excludes the same slice")
    heldout_tokens: int = option(100_000, "most tokens of the held-out slice the general loss is measured on")
    probe_seed: int = option(
        1000, "seed of the evaluation probes (make_real_probes); differs from the run's, and any probe sharing a "
        "prompt with RUN_DIR/probes is dropped"
    )
    probes_per_set: int | None = option(None, "evaluation probes per set (default: the real track's sizes)")
    max_new_tokens: int = option(96, "greedy tokens generated per checkable probe (code tracing and maths)")
    heldout_tolerance: float = option(0.02, "general held-out loss above random's, as a share, an arm may cost")
    target_gain: float = option(0.05, "drop in reasoning loss (nats/token) below random's that meets the target")

    def __post_init__(self) -> None:
        if bad := sorted(set(self.arms) - set(ARM_FAMILIES)):
            raise InputError(f"--arms: unknown {bad}; choose among {', '.join(ARM_FAMILIES)}")
        for name, values in (("--shares", self.shares), ("--top-fractions", self.top_fractions),
                             ("--removal-fractions", self.removal_fractions)):
            if bad := [v for v in values if not 0 < v <= 1]:
                raise InputError(f"{name} takes values in (0, 1], not {bad}")
        if bad := [r for r in self.upsample if not 1 <= r <= self.max_repetitions]:
            raise InputError(f"--upsample factors must lie in [1, --max-repetitions = {self.max_repetitions}], not {bad}")
        if bad := sorted(set(self.removal_methods) - {"ekfac", "cosine", "random"}):
            raise InputError(f"--removal-methods: unknown {bad}; choose among ekfac, cosine, random")
        if not self.seeds:
            raise InputError("--seeds: at least one seed")
        if self.removal_documents is not None and self.removal_documents < 2:
            raise InputError(f"--removal-documents must be at least 2, not {self.removal_documents}")
        if self.tokens < self.seq_len or self.seq_len < 2 or self.batch_size < 1:
            raise InputError("--tokens must hold at least one --seq-len sequence, of at least 2 tokens, and "
                             "--batch-size be at least 1")
        if not 0 <= self.warmup < 1 or self.lr <= 0:
            raise InputError("--warmup must be in [0, 1) and --lr positive")
        if not 0 < self.heldout_fraction < 1:
            raise InputError(f"--heldout-fraction must be in (0, 1), not {self.heldout_fraction}")
