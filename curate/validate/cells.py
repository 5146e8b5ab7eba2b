"""A grid of independent training runs ("cells"), each leaving one JSON result: resumable and shardable.

A cell whose result file exists is done; results are written whole (temporary file, then rename), so a
killed run leaves no half-written result. `shard=(i, n)` runs cells i, i+n, ... so a grid can be split
into independent jobs (e.g. a Slurm array), all writing into the same directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from attribution.progress import progress_bar
from curate.errors import InputError


class Cell(Protocol):
    @property
    def name(self) -> str: ...


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (cells I, I+N, ...) as (I, N)."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or int(index) >= int(count):
        raise InputError(f"--shard takes I/N with 0 <= I < N, not {text!r}")
    return int(index), int(count)


def run_cells(
    cells: Sequence[Cell],
    out: Path,
    run_one: Callable[[Cell], dict],
    shard: tuple[int, int] = (0, 1),
) -> list[Path]:
    """Run this shard's unfinished cells (load shared data lazily in `run_one`: nothing may be left to do)."""
    mine = list(cells)[shard[0] :: shard[1]]
    out.mkdir(parents=True, exist_ok=True)
    todo = [cell for cell in mine if not (out / f"{cell.name}.json").exists()]
    print(f"{len(mine) - len(todo)} of {len(mine)} cells already done; running {len(todo)}")
    for cell in progress_bar(todo, desc="cells", unit="cell"):
        result = run_one(cell)
        temporary = out / f".{cell.name}.json.tmp"
        temporary.write_text(json.dumps(result))
        os.replace(temporary, out / f"{cell.name}.json")
    return [out / f"{cell.name}.json" for cell in mine]


def read_cells(out: Path) -> list[dict]:
    return [
        json.loads(path.read_text()) for path in sorted(out.glob("*.json")) if path.name != "arguments.json"
    ]
