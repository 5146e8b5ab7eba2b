"""The house rules that keep the two layers apart, checked on every `make test`."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """pyproject.toml's import-linter contracts: layers (nothing imports the CLI) and no cycles."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_commands_stay_thin():
    """A command builds its parser, makes one library call and prints: about 100 lines at most."""
    long = {p.name: n for p in (ROOT / "curate" / "commands").glob("*.py") if (n := len(p.read_text().splitlines())) > 110}
    assert not long, f"commands holding library logic: {long}"


def test_cli_parser_imports_nothing_heavy():
    """Every command's flags come from light modules, so `curate --help` starts in a fraction of a second."""
    heavy = "('torch', 'transformers', 'datatrove', 'polars', 'sklearn', 'matplotlib', 'scipy', 'ray')"
    code = ("import sys; from curate.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in {heavy} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"building the parser imported {result.stdout.strip()}"
