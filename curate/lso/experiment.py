"""One Leave-Square-Out run: split the grid, train, score every cell, draw the heatmap, tabulate all runs.

Each run writes NAME.json (settings and accuracies), NAME_cells.csv (a, b, held_out, correct, predicted) and
NAME.png (accuracy per cell with the held-out squares outlined) into the output directory; `summarise` reads
every run there into one table, so separate commands (with and without the square, with procedural documents,
other seeds) add up to one comparison.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import polars as pl

from curate.lso.arguments import LSOArguments
from curate.lso.splits import in_squares, procedural_examples, random_split, square_split
from curate.lso.tasks import FORMATS, GRID_SIZE, TASKS, final_answer, render
from curate.lso.train import exact_match, greedy_answers, train


def run(arguments: LSOArguments, out: Path, progress: bool = True) -> dict:
    """Train on the split's training cells (plus any procedural documents), score all 10,000 cells."""
    if arguments.task not in TASKS or arguments.format not in FORMATS:
        raise ValueError(f"task must be one of {TASKS} and format one of {FORMATS}")
    seed = arguments.train.seed
    if arguments.random_split:
        train_points, held_out = random_split(arguments.test_fraction, seed)
    else:
        train_points, held_out = square_split(arguments.centres, arguments.half_width)
    examples = [render(arguments.task, arguments.format, a, b) for a, b in train_points]
    if arguments.procedural_docs:
        low, high = arguments.procedural_range
        examples += procedural_examples(
            arguments.task, arguments.procedural_format, arguments.procedural_docs, low, high, seed
        )
    trained = train(examples, arguments.train, progress)

    cells = [
        render(arguments.task, arguments.format, a, b) for a in range(GRID_SIZE) for b in range(GRID_SIZE)
    ]
    generated = greedy_answers(trained.model, trained.tokenizer, cells)
    correct = exact_match(cells, generated)
    held = set(held_out)
    table = pl.DataFrame(
        {
            "a": [c.a for c in cells],
            "b": [c.b for c in cells],
            "held_out": [(c.a, c.b) in held for c in cells],
            "correct": correct,
            # what the model answered: wrong answers inside the square show which training cases it copied
            "predicted": [final_answer(g) for g in generated],
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    table.write_csv(out / f"{arguments.name}_cells.csv")
    accuracy = table.group_by("held_out").agg(pl.col("correct").mean(), pl.len())
    by_split = {row["held_out"]: row for row in accuracy.iter_rows(named=True)}
    result = {
        "name": arguments.name,
        "task": arguments.task,
        "format": arguments.format,
        "split": "random" if arguments.random_split else "square",
        "holdout": arguments.holdout,
        "procedural_docs": arguments.procedural_docs,
        "procedural_format": arguments.procedural_format if arguments.procedural_docs else None,
        "seed": seed,
        "held_out_accuracy": by_split[True]["correct"],
        "train_accuracy": by_split[False]["correct"],
        "held_out_cells": by_split[True]["len"],
        "train_cells": by_split[False]["len"],
        "final_loss": sum(trained.losses[-50:]) / len(trained.losses[-50:]),
        "train_seconds": trained.seconds,
        "arguments": asdict(arguments),
    }
    if not arguments.random_split:
        # Accuracy on the band of training cells just outside the square: how far the hole reaches.
        ring = [
            in_squares((a, b), arguments.centres, arguments.half_width + 3)
            for a, b in zip(table["a"], table["b"], strict=True)
        ]
        band = table.filter(pl.Series(ring) & ~pl.col("held_out"))
        result["border_accuracy"] = band["correct"].mean()
    (out / f"{arguments.name}.json").write_text(json.dumps(result, indent=1))
    plot_heatmap(table, arguments, result, out / f"{arguments.name}.png")
    return result


def plot_heatmap(table: pl.DataFrame, arguments: LSOArguments, result: dict, path: Path) -> None:
    """Correct (light) and wrong (dark) cells, a on the vertical axis and b on the horizontal; held-out squares
    outlined in red (random split: held-out cells dotted)."""
    from matplotlib.patches import Rectangle

    from curate.plots import new_figure, save_figure

    grid = table.sort("a", "b")["correct"].cast(pl.Float64).to_numpy().reshape(GRID_SIZE, GRID_SIZE)
    fig, ax = new_figure(5.2, 4.6)
    image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    if arguments.random_split:
        held = table.filter(pl.col("held_out"))
        ax.scatter(held["b"], held["a"], s=0.3, c="white", marker=".", linewidths=0)
    else:
        h = arguments.half_width
        for a0, b0 in arguments.centres:
            ax.add_patch(
                Rectangle(
                    (b0 - h - 0.5, a0 - h - 0.5),
                    2 * h + 1,
                    2 * h + 1,
                    fill=False,
                    edgecolor="red",
                    linewidth=1.5,
                )
            )
    ax.set(xlabel="b", ylabel="a")
    ax.set_title(
        f"{result['name']}\nheld-out acc {result['held_out_accuracy']:.3f}, "
        f"train acc {result['train_accuracy']:.3f}",
        fontsize=8,
    )
    fig.colorbar(image, ax=ax, label="exact match")
    save_figure(fig, path)


def summarise(out: Path) -> pl.DataFrame:
    """One row per run in `out`: accuracy inside the held-out cells and on the training cells."""
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    columns = [
        "task",
        "format",
        "split",
        "holdout",
        "procedural_docs",
        "seed",
        "held_out_accuracy",
        "border_accuracy",
        "train_accuracy",
        "held_out_cells",
        "train_cells",
        "final_loss",
        "train_seconds",
    ]
    if not rows:
        return pl.DataFrame(schema=columns)
    frame = pl.DataFrame([{c: row.get(c) for c in columns} for row in rows])
    return frame.sort("task", "format", "procedural_docs", "split", "holdout", "seed")


def over_seeds(runs: pl.DataFrame) -> pl.DataFrame:
    """Per condition (task, format, what is held out, procedural documents): held-out and training-cell accuracy,
    mean and 95% CI half-width over seeds."""
    from curate.validate.intervals import mean_and_interval

    by = ["task", "format", "split", "holdout", "procedural_docs"]
    held = mean_and_interval(runs, by, "held_out_accuracy").select(
        *by, "n", pl.col("mean").alias("held_out_accuracy"), pl.col("ci95").alias("held_out_ci95")
    )
    trained = mean_and_interval(runs, by, "train_accuracy").select(
        *by, pl.col("mean").alias("train_accuracy"), pl.col("ci95").alias("train_ci95")
    )
    return held.join(trained, on=by)


def write_results(out: Path) -> str:
    """results.csv and results.md over every run in `out`; returns the markdown."""
    from curate.tables import as_text

    table = summarise(out)
    table.write_csv(out / "results.csv")
    text = (
        "## Leave-Square-Out: exact-match accuracy on the held-out cells (square or random 30%) and on the "
        f"training cells; mean and 95% CI over seeds\n\n{as_text(over_seeds(table)) if table.height else ''}\n\n"
        "## Every run (border: the training cells within 3 of the square)\n\n"
        f"{as_text(table)}\n"
    )
    (out / "results.md").write_text(text)
    return text
