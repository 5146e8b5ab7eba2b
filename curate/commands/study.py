"""`curate study removal|lds|mix|mix-sweep|register|ceiling|anneal|lso|neurons`: evidence that the rankings are causal and
that curated mixes help; each study writes under RUN_DIR/validate (or its --out)."""

from __future__ import annotations

from pathlib import Path

from attribution.options import add_options, options_from
from curate.commands import anneal, ceiling_study, lso, neurons, register_study
from curate.paths import RunDir, add_run_dir_argument
from curate.validate.arguments import (
    LdsArguments,
    MixSweepArguments,
    MixValidationArguments,
    RemovalArguments,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("study", help="studies: removal-and-retrain, LDS, mixes, annealing, LSO, neurons")
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")

    removal = experiments.add_parser(
        "removal", help="remove top-k documents per method, retrain, measure probes"
    )
    add_experiment_arguments(removal, RemovalArguments, "RUN_DIR/validate/removal")
    removal.set_defaults(func=run_removal)

    lds = experiments.add_parser("lds", help="linear datamodeling score: retrain on random subsets, correlate")
    add_experiment_arguments(lds, LdsArguments, "RUN_DIR/validate/lds")
    lds.set_defaults(func=run_lds)

    mix = experiments.add_parser("mix", help="train on a random sample, the curated mix, and the whole crawl")
    add_experiment_arguments(mix, MixValidationArguments, "RUN_DIR/validate/mix")
    mix.set_defaults(func=run_mix)

    sweep = experiments.add_parser("mix-sweep", help="mixes at the random arm's budget: reasoning against held-out loss")
    add_experiment_arguments(sweep, MixSweepArguments, "RUN_DIR/validate/mix-sweep", skip=("procedural_share",))
    sweep.set_defaults(func=run_mix_sweep)

    register_study.register(experiments)
    ceiling_study.register(experiments)

    anneal.register(experiments, add_experiment_arguments)
    lso.register(experiments)
    neurons.register(experiments)


def add_experiment_arguments(parser, arguments: type, default_out: str, skip: tuple[str, ...] = ()) -> None:
    add_run_dir_argument(parser)
    parser.add_argument("--out", type=Path, help=f"results directory (default: {default_out})")
    add_options(parser, arguments, skip=skip)
    parser.add_argument(
        "--shard", default="0/1", help="run cells I, I+N, ... of the grid: I/N (independent jobs)"
    )
    parser.add_argument("--summarise-only", action="store_true", help="only tabulate and plot finished cells")


def run_removal(args) -> None:
    from curate.validate.cells import parse_shard
    from curate.validate.removal import run_grid, write_summary

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "removal"
    arguments = options_from(RemovalArguments, args)
    if not args.summarise_only:
        run_grid(run_dir, out, arguments, parse_shard(args.shard))
    print(write_summary(run_dir, out, arguments))
    print(f"tables and plot in {out}")


def run_lds(args) -> None:
    from curate.validate.cells import parse_shard
    from curate.validate.lds import run_experiment, write_summary

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "lds"
    arguments = options_from(LdsArguments, args)
    if not args.summarise_only:
        run_experiment(run_dir, out, arguments, parse_shard(args.shard))
    print(write_summary(run_dir, out, arguments, after_shard=not args.summarise_only))
    print(f"tables and plot in {out}")


def run_mix(args) -> None:
    from curate.validate.cells import parse_shard
    from curate.validate.mix import run_validation, write_summary

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "mix"
    if not args.summarise_only:
        run_validation(run_dir, out, options_from(MixValidationArguments, args), parse_shard(args.shard))
    print(write_summary(out))
    print(f"tables and plot in {out}")


def run_mix_sweep(args) -> None:
    from curate.validate.cells import parse_shard
    from curate.validate.mix_sweep import run_sweep, write_frontier

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "mix-sweep"
    arguments = options_from(MixSweepArguments, args)
    if not args.summarise_only:
        run_sweep(run_dir, out, arguments, parse_shard(args.shard))
    print(write_frontier(out, arguments))
    print(f"frontier table, plot and recommended mix in {out}")

