"""Classifiers shipped with the toolkit as package data, named `builtin` (the default one) or `builtin:NAME`
wherever a classifier file is taken: `load_classifier("builtin")`, `curate filter --classifier builtin`,
`curate classifier evaluate --classifier real=builtin`.

`procedural-smollm2.joblib` is learned from SmolLM2-135M's influence on the real corpus (the real track). Its
provenance (model, sources, probes, sizes, the command that rebuilds it) is inside the file:
`curate classifier evaluate --info builtin`. It is written by `curate.classify.model.save_builtin`.
This module imports nothing heavy, so the CLI resolves the name before scikit-learn loads.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from curate.errors import InputError

PREFIX = "builtin"
DEFAULT = "procedural-smollm2"
FOLDER = Path(str(resources.files(__name__)))
MAX_BYTES = 5_000_000  # package data stays small: the wheel carries it to every datatrove worker
REQUIRED_PROVENANCE = ("model", "sources", "probes", "sizes", "command")  # what a shipped classifier states


def classifier_path(spec: str | Path) -> Path:
    """The file a classifier argument names: `builtin` or `builtin:NAME` a shipped one, anything else a path."""
    prefix, colon, name = str(spec).partition(":")
    if prefix != PREFIX:
        return Path(spec)
    name = name if colon else DEFAULT
    path = FOLDER / f"{name}.joblib"
    if not path.is_file():
        shipped = ", ".join(sorted(f"{PREFIX}:{p.stem}" for p in FOLDER.glob("*.joblib"))) or "none"
        raise InputError(f"no built-in classifier {name!r} in this installation ({path}); shipped: {shipped}")
    return path
