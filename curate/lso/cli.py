"""Arguments and entry point of `curate validate lso` (registered by `curate.commands.validate`).

    curate validate lso --task addition --format direct --centre 50 50 --half-width 10
    curate validate lso --task addition --format direct --random-split
    curate validate lso --task addition --format direct --with-procedural-docs
    curate validate lso --summarise-only

Every run adds NAME.json, NAME_cells.csv and NAME.png to --out; the table of all runs there is rewritten
(results.csv, results.md) after each. Kept free of torch at import time so the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path

from curate.lso.tasks import FORMATS, TASKS


def add_arguments(parser) -> None:
    parser.add_argument("--task", choices=TASKS, default="addition")
    parser.add_argument("--format", choices=FORMATS, default="direct")
    parser.add_argument(
        "--centre",
        nargs=2,
        type=int,
        action="append",
        metavar=("A", "B"),
        help="centre of a held-out square; repeat for several (default: 50 50)",
    )
    parser.add_argument("--half-width", type=int, default=10, help="square: |a-A| <= H and |b-B| <= H")
    parser.add_argument(
        "--random-split", action="store_true", help="hold out a random 30%% of the grid instead"
    )
    parser.add_argument("--test-fraction", type=float, default=0.3, help="share held out by --random-split")
    parser.add_argument(
        "--with-procedural-docs",
        action="store_true",
        help="add worked examples on operands outside the grid to the training data",
    )
    parser.add_argument(
        "--procedural-docs", type=int, default=2000, help="how many (with --with-procedural-docs)"
    )
    parser.add_argument("--procedural-format", choices=("scratchpad", "rule"), default="scratchpad")
    parser.add_argument(
        "--procedural-range",
        nargs=2,
        type=int,
        default=[100, 999],
        metavar=("LOW", "HIGH"),
        help="operand range of the procedural documents (default: 3-digit)",
    )
    parser.add_argument("--steps", type=int, help="training steps (default: 2000)")
    parser.add_argument("--batch-size", type=int, help="examples per step (default: 64)")
    parser.add_argument("--layers", type=int, help="transformer layers (default: 4)")
    parser.add_argument("--hidden", type=int, help="hidden size (default: 128)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model, batches and random split")
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


def run(args) -> None:

    from curate.lso.experiment import LSOArguments, over_seeds, summarise
    from curate.lso.experiment import run as run_experiment
    from curate.lso.train import LSOTrainConfig

    if not args.summarise_only:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        overrides = {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "n_layers": args.layers,
            "hidden": args.hidden,
            "lr": args.lr,
        }
        config = LSOTrainConfig(seed=args.seed, **{k: v for k, v in overrides.items() if v is not None})
        arguments = LSOArguments(
            task=args.task,
            format=args.format,
            centres=[tuple(c) for c in args.centre or [(50, 50)]],
            half_width=args.half_width,
            random_split=args.random_split,
            test_fraction=args.test_fraction,
            procedural_docs=args.procedural_docs if args.with_procedural_docs else 0,
            procedural_format=args.procedural_format,
            procedural_range=tuple(args.procedural_range),
            train=config,
        )
        result = run_experiment(arguments, args.out)
        print(
            f"{result['name']}: held-out accuracy {result['held_out_accuracy']:.3f}, "
            f"training cells {result['train_accuracy']:.3f} (heatmap: {args.out / result['name']}.png)"
        )
    table = summarise(args.out)
    table.write_csv(args.out / "results.csv")
    from curate.tables import as_text

    text = (
        "## Leave-Square-Out: exact-match accuracy on the held-out cells (square or random 30%) and on the "
        f"training cells; mean and 95% CI over seeds\n\n{as_text(over_seeds(table)) if table.height else ''}\n\n"
        "## Every run (border: the training cells within 3 of the square)\n\n"
        f"{as_text(table)}\n"
    )
    (args.out / "results.md").write_text(text)
    print(text)
