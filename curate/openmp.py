"""How idle OpenMP threads wait, set before torch loads libgomp (it reads the environment once).

Opt-in (`CURATE_OMP_SPIN=1` or `curate --omp-spin`): the best wait depends on the machine and on what else
shares its cores, so the CLI leaves libgomp's defaults alone unless asked. See docs/performance.md.
"""

from __future__ import annotations

import os

SPIN_COUNT = "3000"
OPT_IN = "CURATE_OMP_SPIN"  # environment variable: 1 (or true, yes, on) opts in


def spin_requested() -> bool:
    """Whether the environment opts in to bounded spinning."""
    return os.environ.get(OPT_IN, "").strip().lower() in ("1", "true", "yes", "on")


def set_openmp_waiting(enabled: bool | None = None) -> bool:
    """Idle threads spin `SPIN_COUNT` times, then sleep: a short spin keeps small parallel regions fast without
    the default's long spin stealing cores from processes that share them. Applied only when `enabled`, or when
    `enabled` is None and `CURATE_OMP_SPIN` opts in, and never over an explicit OMP_WAIT_POLICY or
    GOMP_SPINCOUNT. Returns whether it applied."""
    if not (spin_requested() if enabled is None else enabled) or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    return True
