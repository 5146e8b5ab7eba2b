"""Manifests of resumable outputs: what made a factors or scores folder, recorded before its first result, so
that resuming or redoing it with other inputs or settings is refused instead of mixing two runs' results.

`manifest.json` (`attribution.io.MANIFEST_FILE`):
    made_from   the inputs by content fingerprint (corpus, model, probes, factors), the arguments that change
                results, and the partitioning (shares, tasks, documents per part); flat, so that a refusal
                names each key that differs
    complete    what the whole output holds (scores: documents and parts), written once it is whole; readers
                check the output against it
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

from attribution.errors import InputError
from attribution.io import MANIFEST_FILE, refuse_other_run, write_atomic


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (for small inputs such as a probes file)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict | None:
    path = Path(folder) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("made_from"), dict):
        raise InputError(f"{path} is not a manifest this version wrote; pass --overwrite to start over")
    return manifest


def start_output(folder: Path, what: str, made_from: dict, results: list[Path], overwrite: bool = False) -> None:
    """Record `made_from` in `folder`'s manifest before any result is written. Results already there (those of
    `results` that exist) must come from the same inputs and settings, or the run is refused in one line that
    names what differs; with `overwrite` they are deleted first. A folder holding no result takes any manifest,
    so a run that failed before its first result can be corrected and rerun."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {folder} is a file, not a folder; choose another --out")
    made_from = json.loads(json.dumps(made_from))  # as it reads back: tuples become lists
    existing = [path for path in results if path.exists()]
    if existing and not overwrite:
        manifest = read_manifest(folder)
        if manifest is None:
            raise InputError(f"{folder} holds results without a manifest of what made them (from an older version?); "
                             "pass --overwrite to start over, or choose another --out")
        refuse_other_run(folder, what, manifest["made_from"], made_from)
        if "complete" in manifest:  # resumed: whole again only when this run finishes
            write_manifest(folder, {"made_from": made_from})
        return
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    write_manifest(folder, {"made_from": made_from})


def write_manifest(folder: Path, manifest: dict) -> None:
    write_atomic(Path(folder) / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")


def mark_complete(folder: Path, **facts) -> None:
    """Record in the manifest that the output is whole, and what it holds."""
    manifest = read_manifest(folder) or {}
    write_manifest(folder, {**manifest, "complete": facts})


def refuse_repeated_ids(ids: list[str], kept_by: str = "") -> None:
    """Outputs are kept by document id: one id twice would silently merge two documents' rows."""
    repeated = next((doc_id for doc_id, count in Counter(ids).items() if count > 1), None)
    if repeated is not None:
        raise InputError(f"document id {repeated!r} appears more than once in the corpus; {kept_by}"
                         "give every document its own id (--id-key)")
