"""Which `source` a file's documents get: path globs mapped to names, from the command line and a TOML file."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

from curate.errors import InputError


class SourceRules:
    """Ordered (glob, name) rules; the first glob that matches a file's path names its source. A glob matches
    the path relative to the folder given to the importer, or that path with the folder's name in front;
    `*` also crosses `/` (so `*.py` matches Python files at any depth)."""

    def __init__(self, pairs: list[str], toml_file: Path | None = None):
        self.rules = [_parse(pair) for pair in pairs]
        if toml_file is not None:
            self.rules += _load(toml_file)

    def source(self, paths: tuple[str, ...], default: str) -> str:
        return next((name for glob, name in self.rules if matches(paths, [glob])), default)


def matches(paths: tuple[str, ...], globs: list[str]) -> bool:
    """Whether any of a file's paths (see `SourceRules`) matches any of `globs`."""
    return any(fnmatchcase(path, glob) for path in paths for glob in globs)


def _parse(pair: str) -> tuple[str, str]:
    glob, sep, name = pair.rpartition("=")
    if not sep or not glob or not name.strip():
        raise InputError(f"--source expects GLOB=NAME, got {pair!r}")
    return glob, name.strip()


def _load(path: Path) -> list[tuple[str, str]]:
    """`[sources]` maps globs to names, in the order written: `"*.pod" = "perl_doc"`."""
    try:
        table = tomllib.loads(Path(path).read_text()).get("sources")
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"{path}: cannot read the source mapping ({error})") from error
    if not isinstance(table, dict) or not all(isinstance(name, str) for name in table.values()):
        raise InputError(f'{path}: expected a [sources] table of "GLOB" = "NAME" lines')
    return list(table.items())
