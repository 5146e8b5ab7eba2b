"""Files the engine writes whole, and the records of what made a resumable output (nothing heavy imported)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from attribution.errors import InputError

MANIFEST_FILE = "manifest.json"  # what made a resumable output (factors, scores): inputs, settings, partitioning
BAD_RECORDS_FILE = "bad_records.jsonl"  # malformed records a reader set aside (`BadRecords`)


class BadRecords:
    """Where malformed records go when the user asks to skip them: counted, and written to a jsonl file, added to
    what it holds (`mode="a"`: a resumed run's) or replacing it (`mode="w"`: a rerun's)."""

    def __init__(self, path: str | Path = BAD_RECORDS_FILE, mode: str = "a"):
        self.path = Path(path)
        self.mode = mode
        self.count = 0
        self._file = None

    def add(self, where: str, reason: str, raw: object) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open(self.mode)
            if self._file.tell() and not self.path.read_bytes().endswith(b"\n"):
                self._file.write("\n")  # a killed run's last record was cut short: start on a line of our own
        if isinstance(raw, bytes | str):
            raw = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        self._file.write(json.dumps({"where": where, "reason": reason, "record": raw}, default=str) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file, then a rename): a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def recorded(record: Path, key: str) -> dict | None:
    """What an earlier run's JSON file `record` holds under `key` ({} if nothing); None when there is no file."""
    if not record.exists():
        return None
    try:
        return json.loads(record.read_text()).get(key) or {}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise InputError(f"{record} is unreadable; pass --overwrite to start over, or choose another --out") from None


def refuse_other_run(out: Path, what: str, previous: dict | None, current: dict) -> None:
    """Refuse to resume or redo `what` in `out` when it was made from other inputs or settings (`previous`, as
    recorded there; None: nothing recorded) than `current`; the message names each difference."""
    if previous is None or previous == current:
        return
    changed = sorted(k for k in previous.keys() | current.keys() if previous.get(k) != current.get(k))
    verb = "differs" if len(changed) == 1 else "differ"
    raise InputError(
        f"{out} holds a {what} made from other inputs or settings ({', '.join(changed)} {verb}); rerun with the "
        "same ones to resume it, pass --overwrite to start over, or choose another --out"
    )
