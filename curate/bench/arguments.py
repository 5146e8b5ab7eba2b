"""The benchmarks' settings (nothing heavy imported, so the CLI builds its flags from them quickly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.classify.arguments import ClassifierArguments
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
