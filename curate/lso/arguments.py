"""What one Leave-Square-Out run does: the task, what is held out, extra documents, and the model's training.

Free of torch, so `curate study lso` can build its flags from these fields and still start fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attribution.options import option
from curate.lso.splits import Point
from curate.lso.tasks import FORMATS, TASKS


@dataclass
class LSOTrainConfig:
    n_layers: int = option(4, "transformer layers", flag="--layers")
    hidden: int = option(128, "hidden size")
    mlp: int = 512
    heads: int = 4
    steps: int = option(2000, "training steps")
    batch_size: int = option(64, "examples per step")
    lr: float = option(1e-3, "peak learning rate")
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = option(0, "seed of the model, batches and random split")
    device: str = "auto"


@dataclass
class LSOArguments:
    task: str = option("addition", "grid task", choices=TASKS)
    format: str = option("direct", "answer format", choices=FORMATS)
    centres: list[Point] = field(default_factory=lambda: [(50, 50)])
    half_width: int = option(10, "square: |a-A| <= H and |b-B| <= H")
    random_split: bool = option(False, "hold out a random share of the grid (--test-fraction) instead")
    test_fraction: float = option(0.3, "share held out by --random-split")
    procedural_docs: int = 0  # worked examples on operands outside the grid added to the training data
    procedural_format: str = option(
        "scratchpad", "format of the procedural documents", choices=("scratchpad", "rule")
    )
    procedural_range: tuple[int, int] = (100, 999)
    train: LSOTrainConfig = field(default_factory=LSOTrainConfig)

    @property
    def holdout(self) -> str:
        """What is held out: 'square50_50h10' (centres and half-width) or 'random30' (percent of the grid)."""
        if self.random_split:
            return f"random{round(100 * self.test_fraction)}"
        return "square" + "+".join(f"{a}_{b}" for a, b in self.centres) + f"h{self.half_width}"

    @property
    def name(self) -> str:
        extra = f"-proc{self.procedural_docs}{self.procedural_format}" if self.procedural_docs else ""
        return f"{self.task}-{self.format}-{self.holdout}{extra}-seed{self.train.seed}"
