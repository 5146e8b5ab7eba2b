"""The base layer's user-facing behaviour: the version, opt-in OpenMP tuning, one-line missing-extra errors,
and progress that stays whole lines off a terminal."""

import io
import sys
import time

import pytest

from curate.cli import main


def test_version_prints_the_package_version(capsys):
    from curate import __version__

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"curate {__version__}"



def _actions(parser) -> dict:
    import argparse

    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0].choices if found else {}


def test_one_grammar_of_at_most_twelve_commands():
    """Noun groups with actions, a few single verbs; the flags that name one idea share one word."""
    from curate.cli import COMMANDS, RESUMABLE, build_parser

    commands = _actions(build_parser())
    assert list(commands) == list(COMMANDS) and len(commands) <= 12
    assert set(_actions(commands["influence"])) == {"fit", "score", "index", "search", "report"}
    assert set(_actions(commands["classifier"])) == {"train", "evaluate", "ship"}
    assert set(_actions(commands["probes"])) == {"make", "eval"}
    assert set(_actions(commands["model"])) == {"train", "import"}
    assert set(_actions(commands["study"])) == {"removal", "lds", "mix", "mix-sweep", "register", "ceiling", "anneal",
                                                "lso", "neurons"}
    for name in RESUMABLE:  # each names a command, or a group's action, that exists
        group, _, action = name.partition(" ")
        assert group in commands and (not action or action in _actions(commands[group])), name
    flags = {}  # every flag of every (sub)command, with the help of each use
    stack = list(commands.items())
    while stack:
        name, parser = stack.pop()
        stack += [(f"{name} {sub}", p) for sub, p in _actions(parser).items()]
        for action in parser._actions:
            for flag in action.option_strings:
                flags.setdefault(flag, []).append((name, action.type, action.nargs))
    for retired in ("--force", "--n", "--n-docs", "--max-documents", "--models", "--docs-per-shard", "--min-docs"):
        assert retired not in flags, (retired, flags[retired])
    assert all(nargs == 0 for _, _, nargs in flags["--overwrite"])  # a switch everywhere
    assert all(kind is int for _, kind, _ in flags["--documents"])  # always a count, never a path

def test_openmp_spinning_is_opt_in(monkeypatch):
    from curate.openmp import OPT_IN, SPIN_COUNT, set_openmp_waiting

    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", OPT_IN):
        monkeypatch.delenv(name, raising=False)
    assert not set_openmp_waiting()  # nobody asked: libgomp's defaults stay
    assert "GOMP_SPINCOUNT" not in __import__("os").environ
    monkeypatch.setenv(OPT_IN, "1")
    assert set_openmp_waiting()
    assert __import__("os").environ["GOMP_SPINCOUNT"] == SPIN_COUNT
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # an explicit policy wins over the opt-in
    assert not set_openmp_waiting(True)


def test_missing_optional_dependency_is_one_line_naming_the_extra(monkeypatch, capsys):
    from curate.errors import MissingDependency, require

    monkeypatch.setitem(sys.modules, "fasttext", None)  # as if the `bench` extra were not installed
    with pytest.raises(MissingDependency, match=r"needs the optional dependency fasttext: pip install "
                       r"'procedural-curate\[bench\]'"):
        require("fasttext", "bench", "curate bench filter")
    assert require("json", "bench", "anything").dumps([]) == "[]"

    assert main(["bench", "filter", "--run-dir", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: curate bench filter needs the optional dependency fasttext: "
                   "pip install 'procedural-curate[bench]'\n")


def test_ray_executor_without_ray_names_the_extra(monkeypatch):
    from curate.errors import MissingDependency
    from filters.pipeline import _ensure_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependency, match=r"--executor ray needs the optional dependency ray: "
                       r"pip install 'procedural-curate\[ray\]'"):
        _ensure_ray(None, 1)


def test_progress_off_a_terminal_is_whole_lines_at_most_one_per_interval(monkeypatch):
    from attribution.progress import INTERVAL_VARIABLE, progress_bar

    monkeypatch.setenv(INTERVAL_VARIABLE, "0.1")
    stream = io.StringIO()
    began = time.monotonic()
    for _ in progress_bar(range(40), file=stream, desc="scoring", unit="doc"):
        time.sleep(0.01)
    with progress_bar(file=stream, desc="open-ended", unit="doc") as bar:  # no total: no ETA
        for _ in range(20):
            time.sleep(0.01)
            bar.update()
    elapsed = time.monotonic() - began
    out = stream.getvalue()
    assert "\r" not in out and "\x1b" not in out and out.endswith("\n")
    lines = out.splitlines()
    # one when each starts, one per interval, one when each ends
    assert 4 <= len(lines) <= 4 + elapsed / 0.1 + 1, lines
    assert lines[0].startswith("scoring: 0/40 doc") and "left" in lines[0]
    assert any(line.startswith("scoring: 40/40 doc") for line in lines)
    assert lines[-1].startswith("open-ended: 20 doc") and "left" not in lines[-1]

    monkeypatch.setenv(INTERVAL_VARIABLE, "3600")  # a long interval: only the first and the last line
    stream = io.StringIO()
    for _ in progress_bar(range(1000), file=stream, desc="long"):
        pass
    assert len(stream.getvalue().splitlines()) == 2

    stream = io.StringIO()  # a postfix or description set every step waits for the interval too
    bar = progress_bar(range(1000), file=stream, desc="train")
    for step in bar:
        bar.set_postfix(loss=f"{1 / (step + 1):.3f}")
        bar.set_description("train")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("train: 1000/1000") and "loss=0.001" in lines[-1], lines


def test_progress_on_a_terminal_is_tqdm_as_usual():
    from attribution.progress import LineProgress, progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = progress_bar(range(3), file=stream, desc="t")
    assert not isinstance(bar, LineProgress)
    list(bar)
    assert "\r" in stream.getvalue()
