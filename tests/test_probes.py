import json
import re
from dataclasses import replace

import pytest

from curate.errors import InputError
from curate.probes.sets import (
    DEFAULT_SIZES,
    KIND_OF_SET,
    PROBE_SETS,
    Probe,
    final_answer,
    make_probes,
    read_probes,
    write_probes,
)
from curate.world.facts import FACTS
from curate.world.tasks import is_probe_instance


@pytest.fixture(scope="module")
def probes() -> list[Probe]:
    return make_probes(seed=0)


def by_set(probes: list[Probe], name: str) -> list[Probe]:
    return [p for p in probes if p.set == name]


def test_sizes_kinds_and_ids(probes):
    assert {p.set for p in probes} == set(DEFAULT_SIZES) < set(PROBE_SETS) == set(KIND_OF_SET)
    for name in DEFAULT_SIZES:
        members = by_set(probes, name)
        assert len(members) == DEFAULT_SIZES[name]
        assert all(p.kind == KIND_OF_SET[name] for p in members)
        assert [p.id for p in members] == [f"{name}-{i:03d}" for i in range(len(members))]


def test_completions_start_with_newline_and_end_with_the_answer_line(probes):
    for p in probes:
        assert p.completion.startswith("\n"), p.id
        assert p.completion.rstrip().endswith(f"The answer is {p.answer}."), p.id
        assert final_answer(p.completion) == p.answer, p.id
        assert "/" not in p.answer and "." not in p.answer, f"{p.id}: answer {p.answer!r} looks like a fraction"


def test_arithmetic_probes(probes):
    members = by_set(probes, "arithmetic")
    pattern = re.compile(r"Calculate the answer: (.+)\n\nThink step-by-step\.")
    op_pairs = set()
    for p in members:
        expr = pattern.fullmatch(p.prompt).group(1)
        numbers = [int(n) for n in re.findall(r"\d+", expr)]
        assert len(numbers) == 3 and all(0 <= n <= 20 for n in numbers), expr
        inner = re.search(r"\(([^)]*)\)", expr).group(1)
        assert eval(inner) > 0, f"{expr}: intermediate result must be positive"
        assert eval(expr) == int(p.answer) > 0, expr
        op_pairs.add(tuple(re.findall(r"[-+*]", expr)))
        assert "First, compute the part in parentheses" in p.completion
    assert len(op_pairs) >= 6, f"operator pairs should vary, got {op_pairs}"


def test_slope_probes(probes):
    pattern = re.compile(r"What is the slope of the line passing through the points \((\d+), (\d+)\) and "
                         r"\((\d+), (\d+)\)\?\n\nThink step-by-step\.")
    for p in by_set(probes, "slope"):
        x1, y1, x2, y2 = (int(g) for g in pattern.fullmatch(p.prompt).groups())
        assert all(0 <= v <= 100 for v in (x1, y1, x2, y2))
        assert x1 != x2 and (y2 - y1) % (x2 - x1) == 0, "slope must be an integer"
        assert int(p.answer) == (y2 - y1) // (x2 - x1)
        assert f"The change in y is {y2} - {y1} = {y2 - y1}." in p.completion
        assert f"The change in x is {x2} - {x1} = {x2 - x1}." in p.completion


def test_linear_probes(probes):
    pattern = re.compile(r"Solve for x: (\d+)x \+ (\d+) = (\d+)\n\nThink step-by-step\.")
    for p in by_set(probes, "linear"):
        a, b, c = (int(g) for g in pattern.fullmatch(p.prompt).groups())
        assert all(0 <= v <= 100 for v in (a, b, c))
        assert a > 0 and (c - b) % a == 0 and (c - b) // a > 0
        assert int(p.answer) == (c - b) // a
        assert f"subtract {b} from both sides" in p.completion


def test_factual_probes_come_from_the_fact_table(probes):
    facts = {f.question: f for f in FACTS}
    members = by_set(probes, "factual")
    assert len({p.prompt for p in members}) == len(members)
    for p in members:
        fact = facts[p.prompt]
        assert p.answer == fact.answer
        assert fact.sentence in p.completion


def test_controls_answer_from_the_prompt(probes):
    for p in by_set(probes, "factual_control") + by_set(probes, "reasoning_control"):
        assert p.answer in p.prompt, p.id
    assert all(p.prompt.endswith("Think step-by-step.") for p in by_set(probes, "reasoning_control"))


def test_same_seed_same_probes_and_no_duplicate_prompts(probes):
    assert make_probes(seed=0) == probes
    assert make_probes(seed=1) != probes
    big = make_probes(seed=3, sizes={"arithmetic": 150, "slope": 150, "linear": 150, "reasoning_control": 100})
    prompts = [p.prompt for p in big]
    assert len(prompts) == len(set(prompts))


def test_changing_one_size_leaves_other_sets_alone(probes):
    fewer = make_probes(seed=0, sizes={"arithmetic": 5})
    assert len(by_set(fewer, "arithmetic")) == 5
    assert by_set(fewer, "slope") == by_set(probes, "slope")
    assert by_set(fewer, "factual") == by_set(probes, "factual")


def test_bad_sizes_are_user_errors():
    with pytest.raises(InputError, match="factual"):
        make_probes(sizes={"factual": len(FACTS) + 1})
    with pytest.raises(InputError, match="unknown probe set"):
        make_probes(sizes={"algebra": 3})


def test_final_answer_variants():
    assert final_answer("\nThe answer is 21.") == "21"
    assert final_answer("The answer is 21.  \n\nQuestion: what is 2 + 2?\nThe answer is 4.") == "21"
    assert final_answer("so the answer is -43. Next we look at") == "-43"
    assert final_answer("The answer is 3.5.") == "3.5"
    assert final_answer("The answer is **Buenos Aires**.") == "Buenos Aires"
    assert final_answer("The answer is: $12$") == "12"
    assert final_answer("Therefore the answer is x = 7.") == "7"
    assert final_answer("The answer is 1,250.") == "1250"
    assert final_answer("Step 1: ...\nAnswer: 18\n") == "18"
    assert final_answer("I am not sure.") is None
    assert final_answer("The answer is .") is None


def test_is_probe_instance():
    assert is_probe_instance("arithmetic", (7, 4, 7))
    assert not is_probe_instance("arithmetic", (7, 4, 21))
    assert is_probe_instance("slope", (94, 62, 95, 19))
    assert not is_probe_instance("slope", (94, 62, 95, -1))
    assert is_probe_instance("linear", (8, 16, 32))
    assert not is_probe_instance("linear", (8, -16, 32))
    assert not is_probe_instance("linear", (8, 16, 132))
    with pytest.raises(ValueError):
        is_probe_instance("factual", (1,))


def test_jsonl_round_trip(tmp_path, probes):
    probes = [replace(probes[0], generated=True, correct=False), *probes[1:]]
    path = tmp_path / "sub" / "probes.jsonl"
    write_probes(probes, path)
    assert len(path.read_text().splitlines()) == len(probes)
    assert read_probes(path) == probes


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_malformed_line_names_file_and_line(tmp_path, probes):
    good = json.dumps({k: v for k, v in vars(probes[0]).items()})
    path = tmp_path / "probes.jsonl"
    _write_lines(path, [good, "", '{"id": "x", "set": '])
    with pytest.raises(InputError) as err:
        read_probes(path)
    assert str(path) in str(err.value) and "line 3" in str(err.value)


def test_missing_and_unknown_fields_are_named(tmp_path, probes):
    row = dict(vars(probes[0]))
    path = tmp_path / "probes.jsonl"
    missing = {k: v for k, v in row.items() if k != "answer"}
    _write_lines(path, [json.dumps(missing)])
    with pytest.raises(InputError, match=r"line 1: missing field\(s\) answer"):
        read_probes(path)
    _write_lines(path, [json.dumps({**row, "difficulty": 3})])
    with pytest.raises(InputError, match="unknown field.*difficulty"):
        read_probes(path)
    _write_lines(path, [json.dumps({**row, "set": "algebra"})])
    with pytest.raises(InputError, match="unknown probe set 'algebra'"):
        read_probes(path)
    _write_lines(path, [json.dumps(row), json.dumps(row)])
    with pytest.raises(InputError, match="line 2: duplicate probe id"):
        read_probes(path)
    with pytest.raises(InputError, match="cannot read"):
        read_probes(tmp_path / "absent.jsonl")


def test_kind_must_match_the_set_and_completion_and_answer_must_not_be_empty(tmp_path, probes):
    row = dict(vars(probes[0]))  # an arithmetic probe
    path = tmp_path / "probes.jsonl"
    for change, message in (({"kind": "factual"}, "line 2: set arithmetic is of kind 'reasoning', not 'factual'"),
                            ({"completion": " \n"}, "line 2: empty completion"),
                            ({"completion": "", "answer": ""}, "line 2: empty completion and answer")):
        _write_lines(path, [json.dumps({**row, "id": "ok"}), json.dumps({**row, **change})])
        with pytest.raises(InputError, match=re.escape(message)):
            read_probes(path)


def test_curate_probes_copies_a_validated_user_file_or_writes_a_track(tmp_path, capsys):
    from curate.cli import main

    mine = [Probe("trace-1", "code_trace", "reasoning", "What does `print(2 + 3)` print?", "\n2 + 3 = 5.", "5"),
            Probe("how-1", "howto", "reasoning", "How do I list files?", "\nUse ls.", "ls"),
            Probe("fact-1", "factual", "factual", "The capital of Peru is", " Lima.", "Lima")]
    write_probes(mine, tmp_path / "mine.jsonl")
    run = tmp_path / "run"
    assert main(["probes", "make", "--run-dir", str(run), "--from", str(tmp_path / "mine.jsonl")]) == 0
    assert read_probes(run / "probes" / "probes.jsonl") == mine
    assert "wrote 3 probes (1 code_trace, 1 howto, 1 factual)" in capsys.readouterr().out

    bad = tmp_path / "bad.jsonl"
    _write_lines(bad, [json.dumps(vars(mine[0])), json.dumps({**vars(mine[1]), "kind": "control"})])
    assert main(["probes", "make", "--run-dir", str(run), "--from", str(bad)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{bad}, line 2: set howto is of kind 'reasoning', not 'control'" in error
    assert main(["probes", "make", "--run-dir", str(run), "--from", str(bad), "--sizes", "howto=2"]) == 2
    assert "copied as it is" in capsys.readouterr().err

    assert main(["probes", "make", "--run-dir", str(run), "--sizes", "arithmetic=3,factual=2", "--seed", "1"]) == 0
    assert read_probes(run / "probes" / "probes.jsonl") == make_probes(1, {"arithmetic": 3, "factual": 2})
    assert main(["probes", "make", "--run-dir", str(run), "--sizes", "howto=2"]) == 2
    assert "the real track's" in capsys.readouterr().err


@pytest.mark.parametrize("probe_id", ["doc_id", "doc_grad_norm", "", "  "])
def test_ids_that_cannot_name_a_score_column_are_refused_with_file_and_line(tmp_path, capsys, probe_id):
    from curate.cli import main

    row = dict(vars(make_probes(0, {"arithmetic": 1})[0]))
    path = tmp_path / "mine.jsonl"
    _write_lines(path, [json.dumps(row), json.dumps({**row, "id": probe_id})])
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["probes", "make", "--run-dir", str(run), "--from", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{path}, line 2: " in error
    assert ("reserved for a score column" if probe_id.strip() else "empty probe id") in error
    assert not (run / "probes" / "probes.jsonl").exists()


def test_scoring_refuses_reserved_probe_ids_from_python_before_touching_the_folder(tmp_path):
    import torch

    from attribution.ekfac.arguments import ScoreArguments
    from attribution.ekfac.precondition import Queries
    from attribution.ekfac.scoring import prepare_output

    earlier = tmp_path / "scores" / "part-00000.parquet"
    earlier.parent.mkdir()
    earlier.write_bytes(b"an earlier run's part")
    for ids in (["p-1", "doc_id"], ["p-1", ""], ["p-1", "p-1"]):
        queries = Queries(ids, torch.ones(2), torch.ones(2), {}, ScoreArguments())
        with pytest.raises(InputError, match="reserved for a score column|empty probe id|repeated probe ids"):
            prepare_output(tmp_path / "scores", queries, overwrite=True)
    assert earlier.read_bytes() == b"an earlier run's part" and not (tmp_path / "scores" / "probes.json").exists()


def test_a_probe_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "probes.jsonl"
    path.write_bytes(b'{"id": "a"}\n\xff\xfe not text\n')
    with pytest.raises(InputError, match=re.escape(f"{path}, line 2: not UTF-8 text (byte 0xff)")):
        read_probes(path)
