"""The files an import reads: every path under the input folders, each with its labels and default source, or
with the reason it cannot be read (so that `import_skipped.tsv` lists everything left out but tooling)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curate.corpus.importers.sources import matches
from curate.errors import InputError


@dataclass(frozen=True)
class Found:
    path: Path
    labels: tuple[str, str]  # its path relative to the input folder, and the same with the folder's name in front
    default_source: str  # the input folder's name, or a file's own stem
    skip: str | None = None  # why it is not read, if it is not


def given_name(path: Path) -> str:
    """The name the user gave a path, symbolic links not followed (`docs` for a link `docs` to `/srv/x`); `.`
    and `..` are resolved lexically, and a root without a name falls back to its target's."""
    return Path(os.path.abspath(path)).name or Path(path).resolve().name


def check_inputs(paths: list[Path], out: Path | None) -> None:
    """Refuse missing inputs, and inputs that an import into `out` would read as its own output."""
    if not paths:
        raise InputError("give at least one folder or file to import")
    inside = Path(out).resolve() if out is not None else None
    for root in map(Path, paths):
        if not root.exists():
            raise InputError(f"{root}: no such file or directory")
        if not root.is_file() and not root.is_dir():
            raise InputError(f"{root}: not a file or folder")
        if inside is not None and root.resolve().is_relative_to(inside):
            raise InputError(f"{root} is inside --out {out}, where a corpus reader would take its files for shards; "
                             "choose an --out outside the inputs")


def walk(paths: list[Path], include: list[str], exclude: list[str], out: Path | None = None) -> Iterator[Found]:
    """The files under `paths` in a stable order (each folder's sorted by path). Hidden folders and files (.git,
    .cache) are tooling and left out silently, and so is the output folder `out` should it lie inside an input;
    links inside a folder, files that are not regular files and folders that cannot be listed come with a reason."""
    check_inputs(paths, None)
    skip_dir = Path(out).resolve() if out is not None else None
    for root in map(Path, paths):
        top = given_name(root)
        if root.is_file():
            yield Found(root, (root.name, root.name), Path(top).stem)
            continue
        found = _folder(root, top, skip_dir)
        for entry in sorted(found, key=lambda entry: entry.path):
            if entry.skip and entry.skip.startswith("unreadable folder"):
                if not matches(entry.labels, exclude):
                    yield entry
            elif (not include or matches(entry.labels, include)) and not matches(entry.labels, exclude):
                yield entry


def _folder(root: Path, top: str, skip_dir: Path | None) -> list[Found]:
    found: list[Found] = []

    def unreadable(error: OSError) -> None:
        path = Path(error.filename) if error.filename else root
        found.append(_entry(root, top, path, f"unreadable folder ({error.strerror or error})"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        here = Path(folder)
        for name in list(dirs):
            path = here / name
            if name.startswith(".") or (skip_dir is not None and path.resolve() == skip_dir):
                dirs.remove(name)
            elif path.is_symlink():
                found.append(_entry(root, top, path, f"symbolic link to a folder (to {os.readlink(path)})"))
        for name in files:
            if not name.startswith("."):
                found.append(_entry(root, top, here / name, _why_not(here / name)))
    return found


def _entry(root: Path, top: str, path: Path, skip: str | None) -> Found:
    relative = path.relative_to(root).as_posix()
    return Found(path, (relative, f"{top}/{relative}"), top, skip)


def _why_not(path: Path) -> str | None:
    """Why a file found in a folder is not read: links repeat a file (or point nowhere), and special files
    (pipes, sockets, devices) are not documents and may block a read forever."""
    if path.is_symlink():
        target = os.readlink(path)
        return f"symbolic link (to {target})" if path.exists() else f"dangling symbolic link (to {target})"
    return None if path.is_file() else "not a regular file"
