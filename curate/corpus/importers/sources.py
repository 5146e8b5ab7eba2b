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
        self.origins = [f"--source {pair!r}" for pair in pairs]
        if toml_file is not None:
            loaded = _load(toml_file)
            self.rules += loaded
            self.origins += [f'{toml_file}: "{glob}" = "{name}"' for glob, name in loaded]
        self._matched: set[int] = set()  # rules whose glob matched a file
        self._chosen: set[int] = set()  # rules that named a file's source

    def source(self, paths: tuple[str, ...], default: str) -> str:
        hits = [i for i, (glob, _) in enumerate(self.rules) if matches(paths, [glob])]
        self._matched.update(hits)
        if not hits:
            return default
        self._chosen.add(hits[0])
        return self.rules[hits[0]][1]

    def unused(self) -> list[str]:
        """A warning for each rule that named no file's source, a likely typo in its glob."""
        return [f"warning: {origin} named no file's source: "
                + ("earlier rules took every file it matches" if i in self._matched else "it matched no file")
                for i, origin in enumerate(self.origins) if i not in self._chosen]


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
