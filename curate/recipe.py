"""Run a recipe: its stages in order, each a `curate` command, skipping stages already completed.

A stage counts as complete when its marker `RUN_DIR/.stages/NAME.done` exists and records the same command
line and the same content of the files (and corpus) it names; the marker is written only after the stage's
command returned successfully, so an interrupted stage is run again from its start. A stage whose arguments
or inputs changed (another seed, another size, a new corpus) runs again, and so does every stage after it,
since each reads what the earlier ones wrote.

Argument values may name "{run_dir}" and the recipe's `[variables]` (e.g. "{seed}"); `curate run --set
seed=1` overrides a variable, so one recipe runs the whole pipeline again under another seed.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from curate.errors import InputError

RECIPE_KEYS = {"run_dir", "variables", "stage"}


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

        # Commands without a run directory (e.g. `corpus real`, `model import`) name their outputs in `args`.
        argv = [*self.command, *(["--run-dir", str(run_dir)] if takes_run_dir(self.command) else [])]
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
                raise InputError(f"--set takes NAME=VALUE with a declared variable ({declared}), not {assignment!r}")
            variables[name] = value
        return Recipe(self.run_dir, self.stages, variables)

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        path = Path(path)
        if not path.exists():
            packaged = resources.files("recipes") / path.name
            if not packaged.is_file():
                raise InputError(f"{path}: no such recipe")
            path = Path(str(packaged))
        try:
            data = tomllib.loads(path.read_text())
            stages = [Stage(**stage) for stage in data["stage"]]
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as error:
            raise InputError(f"{path}: not a valid recipe ({error})") from None
        unknown = sorted(set(data) - RECIPE_KEYS)
        if unknown:
            raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}; a recipe has {', '.join(sorted(RECIPE_KEYS))}")
        names = [stage.name for stage in stages]
        if len(set(names)) < len(names):
            raise InputError(f"{path}: stage names must be unique; repeated: {sorted({n for n in names if names.count(n) > 1})}")
        return cls(Path(data.get("run_dir", f"runs/{path.stem}")), stages, dict(data.get("variables", {})))


def takes_run_dir(command: list[str]) -> bool:
    """Whether the (sub-)command `command` has a --run-dir option, asked of the CLI's own parser."""
    import argparse

    from curate.cli import build_parser

    parser = build_parser(command[0])
    for word in command:
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subcommands or word not in subcommands[0].choices:
            break
        parser = subcommands[0].choices[word]
    return "--run-dir" in parser._option_string_actions


def check_arguments(recipe: Recipe, run_dir: Path) -> list[list[str]]:
    """Every stage's command line, parsed before any stage runs, so a typo in a late stage costs nothing."""
    from curate.cli import build_parser

    argvs = []
    for stage in recipe.stages:
        argv = stage.argv(run_dir, recipe.variables)
        try:
            with contextlib.redirect_stderr(io.StringIO()) as messages:
                build_parser(argv[0]).parse_args(argv)
        except SystemExit:
            reason = messages.getvalue().strip().splitlines()[-1:] or ["cannot parse"]
            raise InputError(f"stage {stage.name!r}: {reason[0].removeprefix('curate: error: ')}") from None
        argvs.append(argv)
    return argvs


def run_recipe(recipe: Recipe, run_dir: Path | None = None, rerun: bool = False) -> dict[str, float]:
    """Run every incomplete or changed stage (every stage with `rerun`, each passed --overwrite where it takes it);
    returns seconds spent per stage (0 for skipped ones)."""
    from curate.cli import main

    run_dir = run_dir or recipe.run_dir
    argvs = check_arguments(recipe, run_dir)
    markers = run_dir / ".stages"
    markers.mkdir(parents=True, exist_ok=True)
    timings = {}
    for stage, argv in zip(recipe.stages, argvs, strict=True):
        marker = markers / f"{stage.name}.done"
        done = json.loads(marker.read_text()) if marker.exists() else None
        changed = done and ("arguments" if done["argv"] != argv else
                            "inputs" if done.get("inputs", {}) != stage_inputs(argv) else "")
        if done and not changed and not rerun:
            print(f"== {stage.name}: already complete, skipped")
            timings[stage.name] = 0.0
            continue
        if changed:
            print(f"== {stage.name}: {changed} changed since it completed; it and every later stage run again")
            rerun = True
        print(f"== {stage.name}: curate {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        status = main([*argv, "--overwrite"] if rerun and _parses([*argv, "--overwrite"]) else argv)
        if status:
            raise InputError(f"stage {stage.name!r} failed with status {status}")
        timings[stage.name] = time.perf_counter() - started
        marker.write_text(json.dumps({"argv": argv, "inputs": stage_inputs(argv), "seconds": timings[stage.name]}))
    return timings


def stage_inputs(argv: list[str]) -> dict[str, str]:
    """Content fingerprints of the files a stage's command line names, and of the folder after --corpus or --input
    (a stage reading a changed file or corpus is not complete)."""
    from curate.corpus.io import corpus_fingerprint, file_fingerprint

    found = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        if Path(value).is_file():
            found[value] = file_fingerprint(Path(value))
        elif flag in ("--corpus", "--input") and Path(value).is_dir():
            with contextlib.suppress(InputError):  # no corpus there: the stage itself says so
                found[value] = corpus_fingerprint(value)
    return found


def _parses(argv: list[str]) -> bool:
    """Whether `curate` accepts this command line (used to ask a rerun stage to overwrite its old outputs)."""
    from curate.cli import build_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser(argv[0]).parse_args(argv)
    except SystemExit:
        return False
    return True
