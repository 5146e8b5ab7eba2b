"""benchmarks/precondition.py, run small: a development script outside the package, imported by its path."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "precondition.py"


@pytest.fixture(scope="module")
def bench():
    """The script as a module (registered under its name first: dataclasses and type hints look it up there)."""
    spec = importlib.util.spec_from_file_location("precondition_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_precondition_benchmark_quick(bench, capsys, one_thread):
    settings = bench.PreconditionBenchArguments(quick=True, layers=2, probes=4, batch_size=2, repeats=2,
                                                tolerances=[1e-8, 1e-4])
    results = bench.run_precondition_bench(settings)
    assert results["agreement"]["score"] < 1e-4 and results["agreement"]["query"] < 1e-3
    for name in ("earlier", "today"):
        phases = results["phases"][name]
        assert set(phases) == set(bench.PHASES) and all(s > 0 for s in phases.values())
        assert all(count > 0 for count in results["flops"][name].values())
    assert results["capture_seconds"] > 0 and results["speedup"]["preconditioning"] > 0
    assert [t["tolerance"] for t in results["tolerances"]] == [1e-4, 1e-8]
    assert sum(t["current"] for t in results["tolerances"]) == 1
    out = capsys.readouterr().out
    assert "rotate in" in out and "speed-up earlier/today" in out and "Krylov tolerance sweep" in out

    assert bench.main(["--quick", "--layers", "1", "--probes", "2", "--documents", "2", "--tolerances", "1e-6"]) == 0
    assert "agreement with the earlier algorithm" in capsys.readouterr().out
    assert bench.main(["--factors", "somewhere"]) == 2
    assert "--factors needs the --model" in capsys.readouterr().err


def test_precondition_benchmark_reads_real_probes_and_documents(bench, tiny_run, capsys, one_thread):
    command = ["--model", str(tiny_run.model), "--probe-file", str(tiny_run.probes), "--corpus",
               str(tiny_run.corpus), "--probes", "5", "--documents", "3", "--document-tokens", "16", "--rank", "4",
               "--tolerances", "1e-8"]
    assert bench.main(command) == 0
    out = capsys.readouterr().out
    assert "2 probes of" in out and "3 documents of" in out and "random-token" not in out


def test_precondition_benchmark_is_a_script_not_a_command():
    help = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert help.returncode == 0 and "--tolerances" in help.stdout

    from curate.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "precondition", "--quick"])
