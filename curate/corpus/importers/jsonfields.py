"""JSON and JSON Lines: the text of named fields of each record (a JSON file holds one record, or a list).
Each record becomes its own document (or several, if long): records are not packed together. A record that
cannot be used (invalid JSON, not an object, no text in the fields) is set aside with where it is and why,
and the file's other records are kept."""

from __future__ import annotations

import json

from curate.errors import InputError


def json_records(text: str, fields: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(one text per record that has any of `fields` (dotted paths, e.g. `body.text`), fields joined by a
    blank line, a field holding a list of strings joined the same way; (where, why) for each record left out,
    where being `line N` of JSON Lines or `record N` of a JSON list). InputError when no record has text."""
    records, problems, whole = _records(text)
    texts = []
    empty = f"no text in field(s) {', '.join(fields)}"
    for where, record in records:
        if not isinstance(record, dict):
            problems.append((where, f"not a JSON object (a {type(record).__name__})"))
            continue
        joined = "\n\n".join(value for path in fields for value in _values(record, path))
        if joined.strip():
            texts.append(joined)
        else:
            problems.append((where, empty))
    if not texts:
        if whole is not None and not any(isinstance(record, dict) for _, record in records):
            # no line holds a record either: a JSON document with a mistake, reported where the mistake is
            raise InputError(f"invalid JSON (line {whole.lineno}: {whole.msg})")
        raise InputError(f"{empty} of any record (set --json-field)")
    problems.sort(key=lambda problem: int(problem[0].split()[1]))
    return texts, problems


def _records(text: str) -> tuple[list[tuple[str, object]], list[tuple[str, str]], json.JSONDecodeError | None]:
    """((where, record) for each record, (where, why) for each invalid line, the whole file's parse error)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        whole = error
    else:
        if isinstance(data, list):
            return [(f"record {number}", record) for number, record in enumerate(data, start=1)], [], None
        return [("record 1", data)], [], None
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as error:
                problems.append((f"line {number}", f"invalid JSON ({error.msg})"))
    return records, problems, whole


def _values(record: dict, path: str) -> list[str]:
    value: object = record
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
