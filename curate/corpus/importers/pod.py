"""Perl's POD: commands dropped, formatting codes (B<...>, C<< ... >>, L<text|link>) reduced to their text,
verbatim (indented) paragraphs kept as they are; sections start at `=head1` and `=head2`."""

from __future__ import annotations

import html
import re

_COMMAND = re.compile(r"^=(\w+)[ \t]*(.*)", re.MULTILINE)
_MULTI_ANGLE = re.compile(r"([A-Z])(<{2,})\s+(.*?)\s+(>{2,})", re.DOTALL)  # C<< $a <=> $b >>
_CODE = re.compile(r"([A-Z])<([^<>]*)>")
_ENTITIES = {"verbar": "|", "sol": "/"}  # the rest are HTML's


def pod_sections(pod: str) -> list[str]:
    sections: list[list[str]] = [[]]
    skipping = False  # inside =begin/=for blocks meant for other formatters, or code after =cut
    for block in re.split(r"\n[ \t]*\n", pod):
        command = _COMMAND.match(block)
        if command is None:
            if not skipping:
                sections[-1].append(block if block[:1].isspace() else _formatted(block))
            continue
        name, text = command.groups()
        skipping = name in ("begin", "for", "cut")
        if name in ("head1", "head2"):
            sections.append([_formatted(text)])
        elif name in ("head3", "head4", "item"):
            sections[-1].append(_formatted(text))
    return ["\n\n".join(blocks) for blocks in sections if any(block.strip() for block in blocks)]


def _formatted(text: str) -> str:
    text = _MULTI_ANGLE.sub(lambda m: f"{m.group(1)}<{_protect(m.group(3))}>", text)
    previous = None
    while previous != text:  # innermost codes first
        previous, text = text, _CODE.sub(_code, text)
    return text.replace("\x00", "<").replace("\x01", ">")


def _protect(text: str) -> str:
    return text.replace("<", "\x00").replace(">", "\x01")


def _code(match: re.Match) -> str:
    kind, inner = match.groups()
    if kind == "E":
        if inner in _ENTITIES:
            return _ENTITIES[inner]
        number = inner.lower().replace("0x", "x")  # E<0x263A>, E<233>: as in HTML's &#x263A; and &#233;
        return _protect(html.unescape(f"&#{number};" if inner[:1].isdigit() else f"&{inner};"))
    if kind in ("X", "Z"):
        return ""
    if kind == "L":  # L<text|target>, L<page>, L<page/"section">
        label, bar, _ = inner.partition("|")
        return _protect(label if bar else inner.replace('"', "").strip("/").replace("/", ": "))
    return _protect(inner)
