"""Removal-and-retrain on a run small enough to retrain in seconds (`tiny_run`), with an oracle ranking."""

import json

import polars as pl
import pytest

from curate.validate.removal import (
    RemovalArguments,
    contrasts,
    finished_grid,
    grid,
    load_context,
    load_results,
    plot,
    removed_composition,
    run_grid,
    summarise,
)


def test_grid_has_one_baseline_per_seed_and_every_cell():
    cells = grid(
        RemovalArguments(targets=["a", "b"], methods=["ekfac", "random"], fractions=[0.1, 0.2], seeds=[0, 1])
    )
    assert sum(c.method == "none" for c in cells) == 2
    assert len(cells) == 2 + 2 * 2 * 2 * 2
    assert len({c.name for c in cells}) == len(cells)
    assert {c.seed for c in cells[2:10]} == {0}, "seed 0's whole comparison comes before seed 1's"


def test_removing_the_oracle_top_k_hurts_more_than_random_and_resumes(tiny_run, capsys):
    run_dir = tiny_run
    out = run_dir.validation / "removal"
    args = RemovalArguments(
        targets=["arithmetic"], methods=["ekfac", "random"], fractions=[0.2], seeds=[0, 1], accuracy=False
    )
    first_half = run_grid(run_dir, out, args, shard=(0, 2))
    assert all(p.exists() for p in first_half)
    run_grid(run_dir, out, args, shard=(1, 2))
    capsys.readouterr()
    run_grid(run_dir, out, args)
    assert "6 of 6 cells already done" in capsys.readouterr().out

    cell = json.loads((out / "arithmetic__ekfac__0.2__seed0.json").read_text())
    train_size = cell["train_documents"] + cell["removed"]
    assert cell["removed"] == round(0.2 * train_size)

    effect, specificity = summarise(load_results(out))
    by_method = {row["method"]: row for row in effect.iter_rows(named=True)}
    assert set(by_method) == {"ekfac", "random"} and by_method["ekfac"]["n"] == 2
    # Removing every 'zebra' document removes all the probe completion's evidence; removing random documents
    # leaves most of it. The gap is large (whole nats per token), not a tuned margin.
    assert by_method["ekfac"]["mean"] > by_method["random"]["mean"] + 0.5
    assert specificity.filter(pl.col("method") == "ekfac").height == 1
    contrast = contrasts(load_results(out)).row(0, named=True)
    assert (contrast["versus"], contrast["n"]) == ("random", 2)
    assert contrast["mean"] == pytest.approx(by_method["ekfac"]["mean"] - by_method["random"]["mean"])
    assert plot(effect, out / "loss_increase.png").stat().st_size > 0  # one target: one panel

    composition = {row["method"]: row for row in removed_composition(run_dir, args).iter_rows(named=True)}
    zebras = sum(doc_id.startswith("z") for doc_id in load_context(run_dir, args).run.train_docs)
    removed = composition["ekfac"]["removed"]
    assert composition["ekfac"]["same_task_share"] == min(zebras, removed) / removed  # the oracle: zebras first
    assert composition["ekfac"]["task_recall"] == min(zebras, removed) / zebras
    assert composition["random"]["same_task_share"] < composition["ekfac"]["same_task_share"]


def test_contrasts_pair_each_seed_on_the_targeted_set_only():
    rows = []
    for seed, (ekfac, cosine) in enumerate([(3.0, 2.0), (5.0, 2.5), (4.0, 3.5)]):
        rows += [
            {"target": "slope", "method": "ekfac", "fraction": 0.1, "seed": seed, "set": "slope", "loss": ekfac},
            {"target": "slope", "method": "cosine", "fraction": 0.1, "seed": seed, "set": "slope", "loss": cosine},
            # other sets and the baseline must not enter the contrast
            {"target": "slope", "method": "ekfac", "fraction": 0.1, "seed": seed, "set": "factual", "loss": 9.0},
            {"target": "none", "method": "none", "fraction": 0.0, "seed": seed, "set": "slope", "loss": 1.0},
        ]
    rows = rows[:-3]  # seed 2's cosine cell is unfinished: its ekfac cell has nothing to pair with
    table = contrasts(pl.DataFrame(rows))
    assert table.height == 1
    row = table.row(0, named=True)
    assert (row["method"], row["versus"], row["n"]) == ("ekfac", "cosine", 2)
    assert row["mean"] == pytest.approx((1.0 + 2.5) / 2)
    assert row["std"] == pytest.approx(pl.Series([1.0, 2.5]).std())


def test_tables_cover_every_finished_cell_not_only_the_last_invocations():
    finished = pl.DataFrame({
        "target": ["none", "slope", "linear"], "method": ["none", "cosine", "ekfac"], "fraction": [0.0, 0.1, 0.05],
    })
    covered = finished_grid(finished, RemovalArguments(targets=["slope"], methods=["ekfac"], fractions=[0.1]))
    assert (covered.targets, covered.methods, covered.fractions) == (
        ["linear", "slope"], ["cosine", "ekfac"], [0.05, 0.1]
    )
