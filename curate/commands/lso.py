"""`curate study lso`: Leave-Square-Out (registered by `curate.commands.study`).

    curate study lso --task addition --format direct --centre 50 50 --half-width 10
    curate study lso --task addition --format direct --random-split
    curate study lso --task addition --format direct --with-procedural-documents
    curate study lso --summarise-only

Every run adds NAME.json, NAME_cells.csv and NAME.png to --out; the table of all runs there is rewritten
(results.csv, results.md) after each.
"""

from __future__ import annotations

from pathlib import Path

from attribution.options import add_options, options_from
from curate.lso.arguments import LSOArguments, LSOTrainConfig


def register(experiments) -> None:
    parser = experiments.add_parser(
        "lso", help="Leave-Square-Out: hold out a square of a grid task, train, score"
    )
    add_options(parser, LSOArguments)
    parser.add_argument(
        "--centre",
        nargs=2,
        type=int,
        action="append",
        metavar=("A", "B"),
        help="centre of a held-out square; repeat for several (default: 50 50)",
    )
    parser.add_argument(
        "--with-procedural-documents",
        dest="with_procedural_docs",
        action="store_true",
        help="add worked examples on operands outside the grid to the training data",
    )
    parser.add_argument(
        "--procedural-documents", dest="procedural_docs", type=int, default=2000,
        help="how many (with --with-procedural-documents)"
    )
    parser.add_argument(
        "--procedural-range",
        nargs=2,
        type=int,
        default=list(LSOArguments.procedural_range),
        metavar=("LOW", "HIGH"),
        help="operand range of the procedural documents (default: 3-digit)",
    )
    add_options(parser, LSOTrainConfig)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: these models are too small to gain from more, and "
        "extra threads slow down badly on a shared CPU)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/lso"), help="results directory (default: runs/lso)"
    )
    parser.add_argument("--summarise-only", action="store_true", help="only tabulate the runs in --out")
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.lso.experiment import run as run_experiment
    from curate.lso.experiment import write_results

    if not args.summarise_only:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        centres = {"centres": [tuple(c) for c in args.centre]} if args.centre else {}
        arguments = options_from(
            LSOArguments,
            args,
            procedural_docs=args.procedural_docs if args.with_procedural_docs else 0,
            procedural_range=tuple(args.procedural_range),
            train=options_from(LSOTrainConfig, args),
            **centres,
        )
        result = run_experiment(arguments, args.out)
        print(
            f"{result['name']}: held-out accuracy {result['held_out_accuracy']:.3f}, "
            f"training cells {result['train_accuracy']:.3f} (heatmap: {args.out / result['name']}.png)"
        )
    print(write_results(args.out))
