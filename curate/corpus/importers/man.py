"""Man pages (troff with the man macros): rendered by groff where it is installed, else by a small stripper
of the common macros and escapes. Sections start at the page's headings (NAME, SYNOPSIS, ...)."""

from __future__ import annotations

import re
import shutil
import subprocess

from curate.corpus.importers.markup import sections_before
from curate.errors import InputError

# Left-aligned, unhyphenated text: justification spaces and words broken across lines are layout, not text.
# Pages switch both back on themselves, so the requests are made no-ops rather than set once.
_PRELUDE = ".de ad\n..\n.de hy\n..\n.na\n.nh\n"
_GROFF = ("groff", "-t", "-man", "-Tutf8", "-P-cbou")  # -t: tables; -P-cbou: plain text, no overstrikes
_RENDERED_HEADING = re.compile(r"[A-Z][A-Z0-9 ,/()&'-]*$")
_ALIAS = re.compile(r"^\.so\s+(\S+)", re.MULTILINE)
# a page's title or heading request (man or mdoc macros), or an alias: what every man page has
_TROFF = re.compile(r"^[.'][ \t]*(?:TH|SH|Dd|Dt|Sh|so)\b", re.MULTILINE)

_CHARS = {"em": "—", "en": "–", "bu": "•", "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'", "cq": "'",
          "co": "©", "rg": "®", "mu": "×", "ga": "`", "ti": "~", "ha": "^", "hy": "-", "ba": "|", "rs": "\\",
          "lB": "[", "rB": "]", "lC": "{", "rC": "}", "la": "<", "ra": ">", "Lq": '"', "Rq": '"', "R": "®"}
# \(xx and \*(xx, \[name] and \*[name], \*x, font changes, size changes, any other one-character escape
_ESCAPE = re.compile(r"\\(?:\*?\((..)|\*?\[([^\]]*)\]|\*(.)|f(?:\(..|\[[^\]]*\]|.)|s[+-]?\d+|(.))")
_TEXT_MACROS = {"B", "I", "SM", "SB"}
_ALTERNATING = {"BR", "BI", "IB", "IR", "RB", "RI"}
_BREAKS = {"PP", "LP", "P", "TP", "IP", "HP", "sp", "br", "SH", "SS", "TS", "TE", "EX", "EE"}


def is_troff(text: str) -> bool:
    """Whether a file named like a man page holds troff: rotated logs (`changelog.1.gz`) are named the same."""
    return _TROFF.search(text) is not None


def man_sections(troff: str) -> list[str]:
    alias = _ALIAS.search(troff)
    if alias and not re.search(r"^\.(SH|Sh)\b", troff, re.MULTILINE):
        raise InputError(f"man page alias (.so {alias.group(1)})")
    text = _render(troff) if shutil.which("groff") else strip_troff(troff)
    lines = text.splitlines()
    return sections_before(lines, [i for i, line in enumerate(lines) if _RENDERED_HEADING.match(line)])


def _render(troff: str) -> str:
    result = subprocess.run(_GROFF, input=_PRELUDE + troff, capture_output=True, text=True, timeout=60)
    lines = result.stdout.splitlines()
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) < 3:
        return ""
    # the first and last lines are the running header and footer: "ls(1)  User Commands  ls(1)"
    return "\n".join(lines[filled[0] + 1 : filled[-1]])


def strip_troff(troff: str) -> str:
    """Text of a man page without groff: macros' arguments kept, requests and font changes dropped, and
    text lines filled into paragraphs except between .nf and .fi."""
    out: list[str] = []
    filling, joinable = True, False  # joinable: the last line is filled text the next text line continues
    for line in troff.splitlines():
        if line.startswith((".\\\"", "'\\\"")):
            continue
        line = line.split('\\"', 1)[0]
        text = None
        if not line.startswith((".", "'")):
            text = _unescape(line)
        else:
            name, _, rest = line[1:].strip().partition(" ")
            args = [_unescape(quoted or word) for quoted, word in re.findall(r'"([^"]*)"|(\S+)', rest)]
            filling = {"nf": False, "EX": False, "fi": True, "EE": True}.get(name, filling)
            if name in _BREAKS:
                out.append("")
                joinable = False
            if name in ("SH", "SS") and args:
                out.append(" ".join(args).upper() if name == "SH" else " ".join(args))
                joinable = False
            elif name in _TEXT_MACROS | {"IP"} and args:
                text = " ".join(args[:1] if name == "IP" else args)
            elif name in _ALTERNATING:
                text = "".join(args)
        if text is not None:
            if joinable and filling and text.strip():
                out[-1] += " " + text.strip()
            else:
                out.append(text)
            joinable = filling and bool(text.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _unescape(text: str) -> str:
    def replace(match: re.Match) -> str:
        two, bracketed, one, other = match.groups()
        name = two or bracketed or one
        if name is not None:
            return _CHARS.get(name, "")
        return {"-": "-", "e": "\\", "~": " ", " ": " ", "\\": "\\", "'": "'", "`": "`"}.get(other or "", "")

    return _ESCAPE.sub(replace, text)
