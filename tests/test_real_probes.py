"""The real track's probes: code-tracing answers are what the code really gives, and every set is seeded."""

import contextlib
import io
import re
import shutil
import subprocess

import pytest

from curate.probes.real import REAL_SIZES, code_trace_probes, howto_probes, make_real_probes
from curate.probes.sets import final_answer, read_probes, set_rank, write_probes

CODE = re.compile(r"```(python|sh)\n(.*?)\n```", re.DOTALL)


def run_snippet(language: str, code: str) -> str:
    if language == "python":
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, {})
        return out.getvalue().strip()
    return subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_code_trace_answers_are_what_the_code_prints():
    probes = code_trace_probes(seed=3, n=40)
    checked = 0
    for probe in probes:
        language, code = CODE.search(probe.prompt).groups()
        if language == "sh" and any(shutil.which(tool) is None for tool in ("bash", "bc", "paste")):
            continue
        assert run_snippet(language, code) == probe.answer, probe.prompt
        assert final_answer(probe.completion) == probe.answer
        checked += 1
    assert checked >= 25


def test_real_probes_are_seeded_sized_and_known_sets(tmp_path):
    first, again, other = make_real_probes(0), make_real_probes(0), make_real_probes(1)
    assert [p.prompt for p in first] == [p.prompt for p in again]
    assert [p.prompt for p in first] != [p.prompt for p in other]
    assert {s: sum(p.set == s for p in first) for s in REAL_SIZES} == REAL_SIZES
    assert [p.set for p in first] == sorted((p.set for p in first), key=set_rank)  # in PROBE_SETS order
    write_probes(first, tmp_path / "probes.jsonl")
    assert read_probes(tmp_path / "probes.jsonl") == first  # known sets, their kinds, unique ids


def test_howto_probes_have_steps_and_a_command():
    for probe in howto_probes(seed=0, n=10):
        assert probe.prompt.startswith("How do I ")
        assert probe.completion.count("\n") >= 3 and probe.answer in probe.completion


def test_too_many_probes_is_one_clear_error():
    from curate.errors import InputError

    with pytest.raises(InputError, match="how-to probes are available"):
        howto_probes(seed=0, n=1000)
