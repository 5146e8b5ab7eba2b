"""JSON and JSON Lines: the text of named fields of each record (a JSON file holds one record, or a list).
Each record becomes its own document (or several, if long): records are not packed together."""

from __future__ import annotations

import json

from curate.errors import InputError


def json_records(text: str, fields: list[str]) -> list[str]:
    """One text per record that has any of `fields` (dotted paths, e.g. `body.text`), fields joined by a
    blank line; a field holding a list of strings is joined the same way."""
    records = [record for record in _records(text) if isinstance(record, dict)]
    texts = ["\n\n".join(value for path in fields for value in _values(record, path)) for record in records]
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise InputError(f"no text in field(s) {', '.join(fields)} of any record (set --json-field)")
    return texts


def _records(text: str) -> list:
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        pass  # JSON Lines
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise InputError(f"invalid JSON (line {number}: {error.msg})") from error
    return records


def _values(record: dict, path: str) -> list[str]:
    value: object = record
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
