"""The whole pipeline through the CLI, as a recipe, at toy sizes: every stage runs, writes its outputs,
and a second run skips the completed stages."""

import json
from pathlib import Path

import polars as pl
import pytest

from curate.cli import main

RECIPE = """
run_dir = "{run_dir}"

[[stage]]
name = "corpus"
command = ["corpus", "synth"]
args = {{ documents = 240, seed = 3, documents-per-shard = 100 }}

[[stage]]
name = "lm"
command = ["model", "train"]
args = {{ steps = 8, n-layers = 1, hidden = 32, mlp = 64, heads = 2, seq-len = 64, batch-size = 4, vocab-size = 320, eval-every = 4 }}

[[stage]]
name = "probes"
command = ["probes", "make"]
args = {{ sizes = "arithmetic=3,slope=3,linear=3,factual=4,factual_control=2,reasoning_control=2" }}

[[stage]]
name = "eval-probes"
command = ["probes", "eval"]
args = {{ baselines-corpus = "{{run_dir}}/corpus", max-new-tokens = 8 }}

[[stage]]
name = "fit-factors"
command = ["influence", "fit"]
args = {{ documents = 40, max-length = 64 }}

[[stage]]
name = "score-ekfac"
command = ["influence", "score"]
args = {{ max-length = 64, documents-per-part = 100 }}

[[stage]]
name = "score-cosine"
command = ["influence", "score"]
args = {{ method = "cosine", max-length = 64, out = "{{run_dir}}/scores-cosine" }}

[[stage]]
name = "score-random"
command = ["influence", "score"]
args = {{ method = "random", max-length = 64, out = "{{run_dir}}/scores-random" }}

[[stage]]
name = "report"
command = ["influence", "report"]
args = {{ answer-top-k = 10, source-ks = "10,50" }}

[[stage]]
name = "classifier"
command = ["classifier", "train"]
args = {{ top-k = 30, compare = ["random={{run_dir}}/scores-random"] }}

[[stage]]
name = "filter"
command = ["filter"]
args = {{ tasks = 2, workers = 1 }}

[[stage]]
name = "mix"
command = ["mix"]
args = {{ spec = "mix_spec_quickstart.toml" }}

[[stage]]
name = "bench-filter"
command = ["bench", "filter"]
args = {{ repeats = 1, copies = 2 }}
"""


def test_every_stage_runs_from_a_recipe_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    recipe = tmp_path / "toy.toml"
    recipe.write_text(RECIPE.format(run_dir=run_dir))
    assert main(["run", str(recipe)]) == 0

    assert len(list((run_dir / "corpus").glob("part-*.jsonl.gz"))) == 3
    assert (run_dir / "model" / "model.safetensors").exists() and (run_dir / "model" / "loss.png").exists()
    data = json.loads((run_dir / "model" / "train_log.json").read_text())["data"]  # what the LM was made from
    assert data["corpus"] == str((run_dir / "corpus").resolve())
    assert data["train_documents"] + data["heldout_documents"] == 240
    summary = pl.read_csv(run_dir / "probes" / "eval" / "summary.csv")
    assert set(summary["set"]) == {
        "arithmetic",
        "slope",
        "linear",
        "factual",
        "factual_control",
        "reasoning_control",
    }
    assert {"untrained_loss_per_token", "unigram_loss_per_token"} <= set(summary.columns)
    scores = pl.read_parquet(run_dir / "scores" / "part-*.parquet")
    assert scores.height == 240 and scores.width == 2 + 17
    for method in ("cosine", "random"):
        assert pl.read_parquet(run_dir / f"scores-{method}" / "part-*.parquet").height == 240
    assert (run_dir / "report" / "report.html").exists()
    report = json.loads((run_dir / "classifier" / "report.json").read_text())
    assert set(report) == {"ekfac", "random"}
    filtered = json.loads((run_dir / "filtered" / "summary.json").read_text())
    assert filtered["read"] == 240
    assert (run_dir / "mix" / "manifest.json").exists()
    bench = json.loads((run_dir / "bench" / "filter" / "summary.json").read_text())
    assert bench["timed_documents"] == 480 and {"ours", "fasttext"} <= set(bench)

    capsys.readouterr()
    assert main(["run", str(recipe)]) == 0
    assert capsys.readouterr().out.count("already complete, skipped") == 13


def test_user_errors_exit_with_status_2_and_a_message(tmp_path, capsys):
    assert main(["model", "train", "--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "m")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("this is not toml [")
    assert main(["run", str(tmp_path / "bad.toml")]) == 2
    assert "not a valid recipe" in capsys.readouterr().err


def test_recipe_variables_fill_arguments_and_only_declared_ones_can_be_set():
    from curate.errors import InputError
    from curate.recipe import Recipe

    recipe = Recipe.load("quickstart.toml")
    corpus = recipe.stages[0]
    assert corpus.argv(Path("r"), recipe.variables)[-2:] == ["--seed", "0"]
    reseeded = recipe.with_values(["seed=7"])
    assert all("7" in s.argv(Path("r"), reseeded.variables) for s in reseeded.stages if "seed" in s.args)
    assert recipe.variables == {"seed": 0}  # the loaded recipe is left as it was
    with pytest.raises(InputError, match="declared variable"):
        recipe.with_values(["steps=3"])
