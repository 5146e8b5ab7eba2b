"""Readers of the real corpus's non-file sources. Each yields records: (key, sections), where a record's
sections are packed into documents together (dictionary entries into pages, verses into chapters)."""

from __future__ import annotations

import gzip
import html
import json
import re
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

Record = tuple[str, list[str]]

_BASE64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def dictd_number(digits: str) -> int:
    """dictd's index numbers: base 64, most significant digit first, digits `A-Za-z0-9+/`."""
    value = 0
    for digit in digits:
        value = value * 64 + _BASE64[digit]
    return value


def dictd_entries(index: Path, dictionary: Path) -> list[tuple[str, str]]:
    """(headword, entry) in the dictionary's order; an entry listed under several headwords comes once, and
    the database's own `00-database-*` notes are left out. The `.dict.dz` is gzip-compatible (dictzip)."""
    data = gzip.decompress(dictionary.read_bytes()) if dictionary.suffix == ".dz" else dictionary.read_bytes()
    entries: dict[tuple[int, int], str] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        headword, offset, length = line.split("\t")[:3]
        if not headword.startswith(("00-database", "00database")):
            entries.setdefault((dictd_number(offset), dictd_number(length)), headword)
    return [(word, _decode(data[o : o + n]).strip()) for (o, n), word in sorted(entries.items())]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # a few GCIDE entries are in Windows-1252 (its curly quotes)
        return raw.decode("cp1252", errors="replace")


def dictionary_pages(index: Path, dictionary: Path, name: str, per_record: int = 1000) -> Iterator[Record]:
    """Runs of consecutive entries, which the importer packs into pages of a dictionary."""
    entries = [text for _, text in dictd_entries(index, dictionary) if text]
    for start in range(0, len(entries), per_record):
        yield f"{name}/{start}", entries[start : start + per_record]


def champ_solutions(path: Path) -> Iterator[Record]:
    """CHAMP's human-written step-by-step solutions (`problems[id].solution.steps[*]._text`), one per
    problem; the file's model-generated conversations are left out."""
    problems = json.loads(path.read_text(encoding="utf-8"))["problems"]
    for key, problem in problems.items():
        steps = [step["_text"] for step in problem.get("solution", {}).get("steps", []) if step.get("_text")]
        if steps:
            yield f"champ/{key}", ["\n".join(steps)]


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)
_PROSE_CHARS = 80  # shorter fields are figures and lists ("$3.7 trillion (2024 est.)"), not prose


def factbook_country(path: Path) -> Record:
    """A country's prose fields (Background, Economic overview, notes, ...) from the World Factbook JSON: one
    section per category, each field as "Name: text" with the HTML markup removed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    name = (_leaf_text(data.get("Government", {}).get("Country name", {}).get("conventional short form")) or path.stem)
    capital = _leaf_text(data.get("Government", {}).get("Capital", {}).get("name"))
    sections = []
    for category, fields in data.items():
        lines = [f"{field}: {text}" for field, text in _prose(fields) if len(text) >= _PROSE_CHARS]
        if category == "Government" and capital:  # a short field, kept as a sentence: factual probes ask it
            lines.insert(0, f"The capital of {name} is {capital}.")
        if lines:
            sections.append(f"{name}: {category}\n\n" + "\n\n".join(lines))
    return f"factbook/{path.stem}", sections


def _prose(node: object, name: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _prose(value, name if key in ("text", "note") and name else key)
    elif isinstance(node, str):
        yield name, _leaf_text(node)


def _leaf_text(node: object) -> str:
    text = node.get("text", "") if isinstance(node, dict) else node if isinstance(node, str) else ""
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", text)))
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


_VERSE = re.compile(r"(\d?[A-Za-z]+)(\d+):\d+\s")  # "Ge1:1 In the beginning ...", "1Co13:4 Charity ..."


def bible_books(text: str) -> Iterator[Record]:
    """The `bible` program's dump, one record per book, one section per chapter."""
    verses = [(match.group(1), match.group(2), line) for line in text.splitlines() if (match := _VERSE.match(line))]
    for book, book_verses in groupby(verses, key=lambda verse: verse[0]):
        chapters = groupby(book_verses, key=lambda verse: verse[1])
        yield f"bible/{book}", ["\n".join(line for _, _, line in chapter) for _, chapter in chapters]


# A Debian changelog entry opens with "package (version) distribution; urgency=...", a GNU ChangeLog entry with
# its date, git's shortlog-style notes with "Version vX; changes since vY:".
_ENTRY_START = re.compile(
    r"^(\S+ \([^)]*\) [^;]*; *urgency=|\d{4}-\d{2}-\d{2}\s|Version v\S+; changes since)"
)


def legacy_text(path: Path) -> str:
    """A packaged text file, gunzipped: UTF-8, else Latin-1, which older change records and copyright files
    are written in."""
    data = path.read_bytes()
    data = gzip.decompress(data) if path.name.endswith(".gz") else data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def changelog_entries(key: str, text: str) -> Record:
    """A change record cut at its entries (Debian changelogs, GNU ChangeLogs, git's release shortlogs); text
    without such entries is cut at blank lines by the importer's splitter."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _ENTRY_START.match(line)]
    bounds = [0, *[s for s in starts if s], len(lines)]
    entries = ["\n".join(lines[a:b]).strip() for a, b in zip(bounds, bounds[1:], strict=False)]
    return key, [entry for entry in entries if entry]
