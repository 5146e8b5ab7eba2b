"""What the engine needs of a probe: an id, a prompt and a completion (`ProbeLike`). The probe sets, their file
format and its checks belong to the toolkit (`curate.probes`); a stage that reads a probes file takes the reader
(`ProbeReader`) from its caller, so the engine knows no set or field beyond these three."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol


class ProbeLike(Protocol):
    """Anything whose completion influence is measured on: log p(completion | prompt)."""

    id: str
    prompt: str
    completion: str


ProbeReader = Callable[[Path], Sequence[ProbeLike]]  # a probes file's path -> its probes, checked

# the score files' own columns beside one column per probe id (`attribution.ekfac.scoring.DocumentScores`)
RESERVED_IDS = ("doc_id", "doc_grad_norm")


def id_problem(probe_id: str) -> str | None:
    """Why `probe_id` cannot name a probe (its scores are a column named after it), or None."""
    if not probe_id.strip():
        return "empty probe id"
    if probe_id in RESERVED_IDS:
        return f"probe id {probe_id!r} is reserved for a score column (reserved: {', '.join(RESERVED_IDS)})"
    return None
