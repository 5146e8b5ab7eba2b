"""A recipe reruns what changed, refuses what it cannot run before running anything, and never drops a key."""

import json

import pytest

from curate.cli import main
from curate.errors import InputError
from curate.recipe import Recipe, run_recipe

TWO_STAGES = """
run_dir = "{run_dir}"
variables = {{ seed = 0 }}

[[stage]]
name = "corpus"
command = ["corpus", "synth"]
args = {{ documents = 30, seed = "{{seed}}" }}

[[stage]]
name = "probes"
command = ["probes", "make"]
args = {{ }}
"""


def write(tmp_path, text):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_changed_arguments_rerun_the_stage_and_every_later_one(tmp_path, capsys):
    path = write(tmp_path, TWO_STAGES.format(run_dir=tmp_path / "run"))
    run_recipe(Recipe.load(path))
    assert run_recipe(Recipe.load(path)) == {"corpus": 0.0, "probes": 0.0}
    timings = run_recipe(Recipe.load(path).with_values(["seed=7"]))
    assert timings["corpus"] > 0 and timings["probes"] > 0
    assert "arguments changed" in capsys.readouterr().out
    marker = json.loads((tmp_path / "run" / ".stages" / "corpus.done").read_text())
    assert marker["argv"][-2:] == ["--seed", "7"]


def test_a_misspelt_key_or_a_repeated_stage_is_refused(tmp_path):
    with pytest.raises(InputError, match="unknown key"):
        Recipe.load(write(tmp_path, 'run_dri = "x"\n' + TWO_STAGES.format(run_dir="r")))
    with pytest.raises(InputError, match="unique"):
        Recipe.load(write(tmp_path, TWO_STAGES.format(run_dir="r").replace('"probes"', '"corpus"')))


def test_a_typo_in_a_late_stage_stops_before_the_first_runs(tmp_path, capsys):
    path = write(tmp_path, TWO_STAGES.format(run_dir=tmp_path / "run").replace("args = {{ }}".format(), 'args = { nosuch = 1 }'))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stage 'probes'" in err and "--nosuch" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "corpus").exists()
