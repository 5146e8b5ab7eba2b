"""The output folder of a command that writes corpus shards (`corpus import`, `corpus sample`): refused when it
holds another corpus, cleared only once every argument has been checked, and marked partial while shards are
being written, so that a killed run is never mistaken for a finished one. A rerun with the same settings starts
the partial run over (these commands are deterministic, so it ends with the same shards); a rerun with other
settings is refused unless it passes --overwrite."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from curate.errors import InputError

PARTIAL_FILE = ".partial.json"  # hidden: corpus readers never take it for a shard


def check_output(out: Path | None) -> Path:
    """`out` as a directory path; refuses a missing --out and a file."""
    if out is None:
        raise InputError("give the output directory: --out DIR")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; --out needs a directory")
    return out


def shards_in(out: Path) -> list[Path]:
    return [*out.glob("part-*.jsonl.gz"), *out.glob("part-*.parquet")] if out.is_dir() else []


def prepare_output(out: Path | None, overwrite: bool, reports: Iterable[str] = ()) -> Path:
    """An output folder for new shards: an earlier run's shards and `reports` removed if `overwrite`, refused
    otherwise. Call it after every other argument has been checked: it deletes."""
    out = check_output(out)
    shards = shards_in(out)
    if shards and not overwrite:
        raise InputError(f"{out} already holds corpus shards; pass --overwrite to replace them")
    _clear(out, [*shards, *(out / name for name in reports)])
    return out


def check_start(out: Path | None, overwrite: bool, settings: dict, what: str) -> Path:
    """`start_output`'s refusals alone, nothing written: for a command to check before its long work."""
    from curate.corpus.io import recorded, refuse_other_run  # datatrove: only when writing

    out = check_output(out)
    previous = recorded(out / PARTIAL_FILE, "settings")
    if previous is not None and not overwrite:
        refuse_other_run(out, f"partial {what}", previous, settings)
    elif previous is None and shards_in(out) and not overwrite:
        raise InputError(f"{out} already holds corpus shards; pass --overwrite to replace them")
    return out


def start_output(out: Path | None, overwrite: bool, settings: dict, what: str, reports: Iterable[str] = ()) -> Path:
    """`prepare_output`, except that a partial `what` (e.g. "import") made with the same `settings` is replaced
    without --overwrite and one made with others is refused; the folder is marked partial until `finish_output`."""
    from curate.corpus.io import write_atomic

    out = check_start(out, overwrite, settings, what)
    try:
        write_atomic(out / PARTIAL_FILE, json.dumps({"settings": settings}, indent=1) + "\n")
    except OSError as error:
        raise InputError(f"cannot write to --out {out} ({error.strerror or error})") from None
    _clear(out, [*shards_in(out), *(out / name for name in reports)])
    return out


def finish_output(out: Path) -> None:
    (out / PARTIAL_FILE).unlink(missing_ok=True)


def _clear(out: Path, files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create --out {out} ({error.strerror or error})") from None
