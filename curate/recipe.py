"""Run a recipe: its stages in order, each a `curate` command, skipping stages already completed.

A stage counts as complete when its marker `RUN_DIR/.stages/NAME.done` exists; the marker is written only
after the stage's command returned successfully, so an interrupted stage is run again from its start.

Argument values may name "{run_dir}" and the recipe's `[variables]` (e.g. "{seed}"); `curate run --set
seed=1` overrides a variable, so one recipe runs the whole pipeline again under another seed.
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

    def argv(self, run_dir: Path, variables: dict | None = None) -> list[str]:
        names = {**(variables or {}), "run_dir": run_dir}

        def fill(value: object) -> str:
            text = str(value)
            for name, replacement in names.items():
                text = text.replace(f"{{{name}}}", str(replacement))
            return text

        argv = [*self.command, "--run-dir", str(run_dir)]
        for key, value in self.args.items():
            if isinstance(value, bool):
                argv += [f"--{key}"] if value else []
                continue
            values = value if isinstance(value, list) else [value]
            argv += [f"--{key}", *(fill(v) for v in values)]
        return argv


@dataclass
class Recipe:
    run_dir: Path
    stages: list[Stage]
    variables: dict = field(default_factory=dict)

    def with_values(self, assignments: list[str]) -> Recipe:
        """A copy with variables set from NAME=VALUE strings; only declared variables may be set."""
        variables = dict(self.variables)
        for assignment in assignments:
            name, sep, value = assignment.partition("=")
            if not sep or name not in variables:
                declared = ", ".join(variables) or "none"
                raise UserFacingError(f"--set takes NAME=VALUE with a declared variable ({declared}), not {assignment!r}")
            variables[name] = value
        return Recipe(self.run_dir, self.stages, variables)

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
            return cls(Path(data.get("run_dir", f"runs/{path.stem}")), stages, dict(data.get("variables", {})))
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
        argv = stage.argv(run_dir, recipe.variables)
        print(f"== {stage.name}: curate {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        status = main(argv)
        if status:
            raise UserFacingError(f"stage {stage.name!r} failed with status {status}")
        timings[stage.name] = time.perf_counter() - started
        marker.write_text(json.dumps({"argv": argv, "seconds": timings[stage.name]}))
    return timings
