"""Documents of bounded length: a file's sections packed together, long ones cut at paragraphs.

A section too long for one document is cut at blank lines, a paragraph too long at line ends, a line too
long at spaces; cuts never fall inside a word. The only exception is a single "word" longer than a whole
document (a base64 blob, a minified line), which is cut into `max_chars` pieces because nothing else bounds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# (where to cut, what joins the pieces again), from the coarsest boundary to the finest
_LEVELS = ((re.compile(r"\n(?:[ \t]*\n)+"), "\n\n"), (re.compile(r"\n"), "\n"), (re.compile(r"\s+"), " "))


def split_sections(sections: Iterable[str], max_chars: int) -> list[str]:
    """Consecutive sections packed into documents of at most `max_chars` characters."""
    pieces = [piece for section in sections if section.strip() for piece in _fit(_trim(section), max_chars, 0)]
    return _pack(pieces, "\n\n", max_chars)


def _trim(text: str) -> str:
    # keep the first line's indentation: in code it is meaning, not padding
    return text.strip("\n").rstrip()


def _fit(text: str, max_chars: int, level: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    if level == len(_LEVELS):
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    pattern, joiner = _LEVELS[level]
    parts = [_trim(part) for part in pattern.split(text) if part.strip()]
    return _pack([piece for part in parts for piece in _fit(part, max_chars, level + 1)], joiner, max_chars)


def _pack(pieces: list[str], joiner: str, max_chars: int) -> list[str]:
    """Greedy: each document takes pieces while they fit."""
    documents: list[str] = []
    for piece in pieces:
        if documents and len(documents[-1]) + len(joiner) + len(piece) <= max_chars:
            documents[-1] += joiner + piece
        else:
            documents.append(piece)
    return documents
