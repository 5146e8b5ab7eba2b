"""`curate run RECIPE`: run a recipe's stages, skipping those already complete."""

from __future__ import annotations

from pathlib import Path

from curate.recipe import Recipe, run_recipe


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run the stages of a recipe (TOML), skipping completed ones")
    parser.add_argument("recipe", type=Path, help="recipe file, e.g. recipes/quickstart.toml")
    parser.add_argument("--run-dir", type=Path, help="override the recipe's run directory")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="set a recipe variable, e.g. --set seed=1 (repeatable)")
    parser.add_argument("--rerun", action="store_true", help="run every stage again even if complete, passing "
                        "--overwrite to the stages that take it (others, e.g. `study` cells, resume)")
    parser.set_defaults(func=run)


def run(args) -> None:
    timings = run_recipe(Recipe.load(args.recipe).with_values(args.set), args.run_dir, args.rerun)
    print(
        f"done in {sum(timings.values()):.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    )
