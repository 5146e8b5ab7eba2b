"""Plain text, Markdown and reStructuredText: kept as written, cut into sections at their headings."""

from __future__ import annotations

import re

_ATX = re.compile(r"#{1,6}\s")
_SETEXT = re.compile(r"(={2,}|-{2,})\s*$")
_FENCE = re.compile(r"\s*(```|~~~)")
_RST_ADORNMENT = re.compile(r"""([!-/:-@\[-`{-~])\1{2,}\s*$""")  # a line of one punctuation character


def sections_before(lines: list[str], starts: list[int]) -> list[str]:
    """The text cut into sections, each starting at one of the line numbers `starts`."""
    bounds = [0, *sorted(set(starts) - {0}), len(lines)]
    sections = ["\n".join(lines[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    return [section for section in sections if section.strip()]


def text_sections(text: str) -> list[str]:
    """Plain text has no headings: the splitter cuts it at paragraphs."""
    return [text]


def markdown_sections(text: str) -> list[str]:
    """Sections start at `#` headings and underlined (setext) headings, never inside fenced code."""
    lines, starts, fenced = text.splitlines(), [], False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _ATX.match(line):
            starts.append(i)
        elif not fenced and i and lines[i - 1].strip() and _SETEXT.match(line) and not _ATX.match(lines[i - 1]):
            starts.append(i - 1)
    return sections_before(lines, starts)


def rst_sections(text: str) -> list[str]:
    """Sections start at titles: a line underlined (and maybe overlined) by a run of one punctuation mark
    at least as long as the title; a run with no title above it is a transition, not a heading."""
    lines, starts = text.splitlines(), []
    for i in range(1, len(lines)):
        title = lines[i - 1].rstrip()
        if not title or title[0].isspace() or _RST_ADORNMENT.match(title):
            continue
        if _RST_ADORNMENT.match(lines[i]) and len(lines[i].rstrip()) >= len(title):
            overlined = i >= 2 and _RST_ADORNMENT.match(lines[i - 2]) is not None
            starts.append(i - 2 if overlined else i - 1)
    return sections_before(lines, starts)
