"""The embedded synthetic pretraining corpus: a seeded miniature of a real pretraining mix.

Documents come from six sources (code, math, qa, wiki, web, trivia). Procedural documents teach a
computation procedure (worked solutions, code that computes, formulas applied step by step): the probe tasks'
procedures (two-step arithmetic, slopes, linear equations) in several surface forms, and many others.
Non-procedural documents state facts, including every fact the factual probes ask about, tell stories,
configure software, and give how-tos that compute nothing. Every probe-task instance in the corpus lies outside
the probes' number ranges, so no document works out a probe's problem.

Metadata `procedural` and `task` are ground truth for evaluation only, never for selection. datatrove and
the progress bar are imported where used, so the CLI builds its flags from `SynthArguments` quickly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.options import option
from curate.errors import InputError
from curate.world.corpus import code, math, qa, trivia, web, wiki
from curate.world.corpus.common import Ctx, words
from curate.world.corpus.procedures import TASKS

if TYPE_CHECKING:
    from datatrove.data import Document

SOURCES = ("code", "math", "qa", "wiki", "web", "trivia")
DEFAULT_WEIGHTS = {"code": 0.2, "math": 0.15, "qa": 0.15, "wiki": 0.2, "web": 0.2, "trivia": 0.1}
PROBE_TASKS = ("arithmetic", "slope", "linear")
# Share of procedural documents that teach a probe task's procedure; the rest teach other procedures.
PROBE_TASK_SHARE = 0.45
MAX_WORDS = 400

_MODULES = {"code": code, "math": math, "qa": qa, "wiki": wiki, "web": web, "trivia": trivia}
# How procedural each source is relative to the others, as in real mixes: code and maths mostly, wikis rarely.
_PROPENSITY = {"code": 0.6, "math": 0.65, "qa": 0.45, "wiki": 0.08, "web": 0.1, "trivia": 0.08}
_OTHER_TASKS = {
    "code": tuple(t for t in code.CODE_TASKS if t not in PROBE_TASKS),
    "qa": tuple(t for t in code.CODE_TASKS if t not in PROBE_TASKS),
    "math": tuple(t for t in TASKS if t not in PROBE_TASKS),
    "wiki": tuple(t for t in TASKS if t not in PROBE_TASKS),
    "web": tuple(t for t in TASKS if t not in PROBE_TASKS),
    "trivia": tuple(t for t in TASKS if t not in PROBE_TASKS + ("sorting", "interest")),
}


def procedural_rates(weights: dict[str, float], fraction: float) -> dict[str, float]:
    """Per-source probability of a procedural document, keeping the sources' relative propensities and
    making the expected overall share equal `fraction` (sources saturate at 1)."""
    total = sum(weights.values())

    def share(scale: float) -> float:
        return sum(w * min(1.0, _PROPENSITY[s] * scale) for s, w in weights.items()) / total

    lo, hi = 0.0, 1.0
    while share(hi) < fraction and hi < 1e6:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share(mid) < fraction else (lo, mid)
    return {s: min(1.0, _PROPENSITY[s] * hi) for s in weights}


def _check(n_docs: int, procedural_fraction: float, weights: dict[str, float]) -> None:
    if n_docs < 0:
        raise InputError(f"n_docs must be at least 0, got {n_docs}")
    if not 0.0 <= procedural_fraction <= 1.0:
        raise InputError(f"procedural_fraction must be between 0 and 1, got {procedural_fraction}")
    unknown = set(weights) - set(SOURCES)
    if unknown:
        raise InputError(f"unknown source(s) {sorted(unknown)} in weights; expected some of {list(SOURCES)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise InputError(f"source weights must be non-negative and not all zero, got {weights}")


def _trim(text: str) -> str:
    # A rare over-long document keeps its leading paragraphs, as a crawler's length cap would.
    if words(text) <= MAX_WORDS:
        return text
    kept: list[str] = []
    for para in text.split("\n\n"):
        if kept and words("\n\n".join([*kept, para])) > MAX_WORDS:
            break
        kept.append(para)
    return "\n\n".join(kept)


def generate_corpus(
    n_docs: int = 4000,
    seed: int = 0,
    procedural_fraction: float = 0.35,
    weights: dict[str, float] | None = None,
) -> Iterator[Document]:
    """Yields `n_docs` documents, identical for the same arguments; the first k documents do not depend on
    n_docs. `weights` gives each source's share (missing sources get none when weights are given)."""
    from datatrove.data import Document

    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    _check(n_docs, procedural_fraction, weights)
    sources = [s for s in SOURCES if weights.get(s, 0) > 0]
    source_weights = [weights[s] for s in sources]
    rates = procedural_rates({s: weights[s] for s in sources}, procedural_fraction)
    ctx = Ctx(random.Random(seed))
    rng = ctx.rng
    for i in range(n_docs):
        source = rng.choices(sources, source_weights)[0]
        module = _MODULES[source]
        if rng.random() < rates[source]:
            if rng.random() < PROBE_TASK_SHARE:
                task = rng.choice(PROBE_TASKS)
            else:
                task = rng.choice(_OTHER_TASKS[source])
            text, procedural = module.procedural(ctx, task), True
        else:
            (text, task), procedural = module.plain(ctx), False
        yield Document(
            text=_trim(text.strip()) + "\n",
            id=f"synth-{i:07d}",
            metadata={"source": source, "procedural": procedural, "task": task},
        )


@dataclass
class SynthArguments:
    """`curate corpus synth`: where and how much of the synthetic corpus to write."""

    out: Path
    n_docs: int = option(4000, "number of documents", flag="--documents")
    procedural_fraction: float = option(0.35, "share of procedural documents")
    seed: int = option(0, "seed of every random choice of the generator")
    format: str = option("jsonl", "shard format", choices=("jsonl", "parquet"))
    docs_per_shard: int = option(1000, "documents per shard", flag="--documents-per-shard")


def write_synthetic_corpus(args: SynthArguments) -> int:
    """Write the seeded synthetic corpus as shards; returns how many documents were written."""
    from attribution.progress import progress_bar
    from curate.corpus.io import write_documents

    documents = generate_corpus(n_docs=args.n_docs, seed=args.seed, procedural_fraction=args.procedural_fraction)
    documents = progress_bar(documents, total=args.n_docs, desc="corpus", unit="doc")
    return write_documents(documents, args.out, args.format, args.docs_per_shard)
