"""Run a recipe: its stages in order, each a `curate` command, skipping stages already completed.

A stage counts as complete when its marker `RUN_DIR/.stages/NAME.done` exists; the marker is written only
after the stage's command returned successfully, so an interrupted stage is run again from its start.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from curate.errors import UserFacingError


@dataclass
class Stage:
    name: str
    command: list[str]
    args: dict = field(default_factory=dict)

    def argv(self, run_dir: Path) -> list[str]:
        argv = [*self.command, "--run-dir", str(run_dir)]
        for key, value in self.args.items():
            if isinstance(value, bool):
                argv += [f"--{key}"] if value else []
                continue
            values = value if isinstance(value, list) else [value]
            argv += [f"--{key}", *(str(v).replace("{run_dir}", str(run_dir)) for v in values)]
        return argv


@dataclass
class Recipe:
    run_dir: Path
    stages: list[Stage]

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        path = Path(path)
        if not path.exists():
            packaged = resources.files("recipes") / path.name
            if not packaged.is_file():
                raise UserFacingError(f"{path}: no such recipe")
            path = Path(str(packaged))
        try:
            data = tomllib.loads(path.read_text())
            stages = [Stage(**stage) for stage in data["stage"]]
            return cls(Path(data.get("run_dir", f"runs/{path.stem}")), stages)
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as error:
            raise UserFacingError(f"{path}: not a valid recipe ({error})") from error


def run_recipe(recipe: Recipe, run_dir: Path | None = None, force: bool = False) -> dict[str, float]:
    """Run every incomplete stage; returns seconds spent per stage (0 for skipped ones)."""
    from curate.cli import main

    run_dir = run_dir or recipe.run_dir
    markers = run_dir / ".stages"
    markers.mkdir(parents=True, exist_ok=True)
    timings = {}
    for stage in recipe.stages:
        marker = markers / f"{stage.name}.done"
        if marker.exists() and not force:
            print(f"== {stage.name}: already complete, skipped")
            timings[stage.name] = 0.0
            continue
        argv = stage.argv(run_dir)
        print(f"== {stage.name}: curate {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        status = main(argv)
        if status:
            raise UserFacingError(f"stage {stage.name!r} failed with status {status}")
        timings[stage.name] = time.perf_counter() - started
        marker.write_text(json.dumps({"argv": argv, "seconds": timings[stage.name]}))
    return timings
