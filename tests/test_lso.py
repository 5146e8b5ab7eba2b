"""Leave-Square-Out: the splits are exactly the stated sets, formats compute the right answers, training learns."""

import json
import re

import polars as pl
import pytest

from curate.lso.splits import grid_points, procedural_examples, random_split, square_split
from curate.lso.tasks import FORMATS, TASKS, answer, final_answer, render, to_base

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_square_split_is_exactly_the_square():
    train, held_out = square_split([(50, 50)], 10)
    expected = {(a, b) for a in range(40, 61) for b in range(40, 61)}
    assert len(held_out) == 441 and set(held_out) == expected
    assert not set(train) & set(held_out) and len(train) + len(held_out) == 10_000
    # Squares are clipped at the grid's edge, and several squares hold out their union.
    assert len(square_split([(0, 0)], 10)[1]) == 11 * 11
    assert len(square_split([(20, 20), (80, 80)], 5)[1]) == 2 * 121


def test_random_split_is_seeded_and_exactly_70_30():
    train, held_out = random_split(0.3, seed=0)
    assert (len(train), len(held_out)) == (7000, 3000)
    assert not set(train) & set(held_out) and set(train) | set(held_out) == set(grid_points())
    assert random_split(0.3, seed=0) == (train, held_out)
    assert random_split(0.3, seed=1)[1] != held_out


def test_scratchpad_writes_digits_with_carries():
    example = render("addition", "scratchpad", 57, 68)
    assert example.prompt == "57+68="
    assert example.target == "\n7+8+0=15\nwrite 5, carry 1\n5+6+1=12\nwrite 2, carry 1\nwrite 1\n=125"
    assert render("addition", "direct", 57, 68).text == "57+68=125"
    assert (
        render("addition", "scratchpad", 7, 30).target
        == "\n7+0+0=7\nwrite 7, carry 0\n0+3+0=3\nwrite 3, carry 0\n=37"
    )
    rule = render("addition", "rule", 57, 68)
    assert rule.prompt.startswith("rule:\n1 c=0\n") and rule.prompt.endswith("\n57+68=")
    assert rule.target.splitlines()[1:3] == ["2 7+8+0=15", "3 write 5, carry 1"]


@pytest.mark.parametrize("task", TASKS)
def test_every_format_states_the_right_answer_on_the_whole_grid(task):
    for a, b in grid_points():
        for fmt in FORMATS:
            example = render(task, fmt, a, b)
            assert final_answer(example.target) == example.answer == answer(task, a, b)
        if task in ("addition", "base9"):
            # The written digits, read last to first, are the sum.
            written = re.findall(r"write (\d)", render(task, "scratchpad", a, b).target)
            assert "".join(reversed(written)).lstrip("0") == answer(task, a, b).lstrip("0")


def test_task_answers():
    assert answer("modular", 57, 68) == "12" and answer("modular", 50, 40) == "90"
    assert answer("modular", 99, 14) == "0"
    assert to_base(125, 9) == "148" and answer("base9", 57, 68) == "148"
    assert all(int(answer("base9", a, b), 9) == a + b for a, b in grid_points())
    assert render("base9", "direct", 57, 68).prompt == "63+75 base 9="
    assert answer("linear", 57, 68) == "196"
    heads_legs = render("chicken_rabbit", "direct", 57, 68).prompt
    assert heads_legs == "125 heads 386 legs=" and answer("chicken_rabbit", 57, 68) == "57,68"
    prompts = {render("chicken_rabbit", "direct", a, b).prompt for a, b in grid_points()}
    assert len(prompts) == 10_000  # heads and legs determine the answer uniquely
    assert render("modular", "scratchpad", 57, 68).target.endswith("\n125-113=12\n=12")


def test_procedural_examples_stay_off_the_grid():
    examples = procedural_examples("addition", "scratchpad", 50, seed=3)
    assert all(100 <= e.a <= 999 and 100 <= e.b <= 999 for e in examples)
    assert examples == procedural_examples("addition", "scratchpad", 50, seed=3)
    assert all(final_answer(e.target) == str(e.a + e.b) for e in examples)


def test_tokenizer_round_trips_every_format():
    from curate.lso.train import CharTokenizer

    tokenizer = CharTokenizer()
    for task in TASKS:
        for fmt in FORMATS:
            text = render(task, fmt, 57, 68).text
            assert tokenizer.decode(tokenizer.encode(text) + [tokenizer.eos_token_id, 5]) == text


def test_tiny_training_run_lowers_the_loss():
    import torch

    from curate.lso.train import LSOTrainConfig, train

    torch.manual_seed(0)
    examples = [render("addition", "direct", a, b) for a, b in random_split(0.98, seed=0)[0]]
    config = LSOTrainConfig(
        n_layers=1, hidden=32, mlp=64, heads=2, steps=80, batch_size=32, lr=3e-3, warmup_steps=5
    )
    trained = train(examples, config, progress=False)
    first, last = sum(trained.losses[:10]) / 10, sum(trained.losses[-10:]) / 10
    # The answer's digits are far from uniform (the first is mostly 1 or a small digit, EOS is certain), so
    # even 80 steps take the loss well below its starting value of about log(102) = 4.6 nats.
    assert first > 3.5 and last < 0.6 * first


def test_lso_command_writes_heatmap_and_table(tmp_path):
    from curate.cli import main

    out = tmp_path / "lso"
    common = ["study", "lso", "--steps", "20", "--layers", "1", "--hidden", "32", "--out", str(out)]
    assert main([*common, "--centre", "50", "50", "--half-width", "10"]) == 0
    assert main([*common, "--random-split", "--with-procedural-documents", "--procedural-documents", "20"]) == 0
    result = json.loads((out / "addition-direct-square50_50h10-seed0.json").read_text())
    assert result["held_out_cells"] == 441 and result["train_cells"] == 9559
    assert (out / "addition-direct-square50_50h10-seed0.png").exists()
    cells = pl.read_csv(
        out / "addition-direct-random30-proc20scratchpad-seed0_cells.csv", schema_overrides={"predicted": pl.String}
    )
    assert cells.height == 10_000 and cells["held_out"].sum() == 3000
    # a cell is correct exactly when the model's stated answer is the sum (whatever a 20-step model says)
    truth = (cells["a"] + cells["b"]).cast(pl.String)
    assert (cells["correct"] == (cells["predicted"].fill_null("") == truth)).all()
    table = pl.read_csv(out / "results.csv")
    assert table.height == 2 and set(table["holdout"]) == {"square50_50h10", "random30"}
    assert (out / "results.md").exists()
