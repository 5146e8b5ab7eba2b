"""Removal-and-retrain on a run small enough to retrain in seconds (`tiny_run`), with an oracle ranking."""

import gzip
import json
import logging
import shutil

import polars as pl
import pytest

from curate.corpus.io import read_documents
from curate.corpus.split import RULE
from curate.errors import InputError
from curate.paths import RunDir
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
    write_summary,
)
from curate.validate.retrain import load_run_training


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
    assert "## What was removed" in write_summary(run_dir, out, args)
    assert {"effect.csv", "contrasts.csv", "specificity.csv", "removed.csv", "summary.md"} <= {
        p.name for p in out.iterdir()
    }

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


def test_retrains_use_the_corpus_keys_and_split_the_lm_recorded(tiny_run, tmp_path, caplog):
    """train_log.json says which corpus (and fields) the LM was made from; a run directory holding another
    corpus is refused, and a log without that record falls back to the run's corpus with a warning."""
    docs = list(read_documents(tiny_run.corpus))
    crawl = tmp_path / "crawl.jsonl.gz"  # the same documents under other field names, outside the run
    with gzip.open(crawl, "wt") as f:
        f.writelines(json.dumps({"body": d.text, "key": d.id}) + "\n" for d in docs)
    run = RunDir(tmp_path / "run")
    shutil.copytree(tiny_run.model, run.model)
    log = json.loads((run.model / "train_log.json").read_text())
    old = load_run_training(tiny_run)
    assert "records no training corpus" in caplog.text  # tiny_run's log predates provenance
    config = log["train_config"]
    data = {
        "corpus": str(crawl), "text_key": "body", "id_key": "key", "skip_bad_records": False,
        "heldout_split": {"rule": RULE, "fraction": config["eval_fraction"], "seed": config["seed"]},
        "train_documents": len(old.train_docs), "heldout_documents": len(old.eval_texts),
    }
    (run.model / "train_log.json").write_text(json.dumps(log | {"data": data}))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        recorded = load_run_training(run)
    assert not caplog.text
    assert recorded.train_docs == old.train_docs and recorded.eval_texts == old.eval_texts

    shutil.copytree(tiny_run.corpus, run.corpus)  # another corpus where the run keeps its own
    with pytest.raises(InputError, match="is not the corpus the LM .* was trained on"):
        load_run_training(run)
    shutil.rmtree(run.corpus)
    (run.model / "train_log.json").write_text(json.dumps(log | {"data": data | {"train_documents": 1}}))
    with pytest.raises(InputError, match="changed since the LM was trained"):
        load_run_training(run)
