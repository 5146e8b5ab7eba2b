"""GNU documentation: Texinfo sources (`.texi`), cut at chapters and sections, and compiled Info files
(`.info`, `.info-N`), cut at their nodes."""

from __future__ import annotations

import re

_HEADING = re.compile(
    r"@(?:top|chapter|section|subsection|subsubsection|unnumbered\w*|appendix\w*|majorheading|chapheading|heading)\s+(.*)"
)
# whole-line commands whose line carries no text of the document
_DROPPED_LINE = re.compile(
    r"\\input\b.*|@(?:c|comment|node|[a-z]*index|setfilename|settitle|set|clear|include|end|menu|detailmenu|"
    r"dircategory|direntry|copying|insertcopying|titlepage|title|subtitle|author|page|vskip|contents|"
    r"shortcontents|bye|paragraphindent|firstparagraphindent|documentencoding|documentlanguage|"
    r"setchapternewpage|ifnottex|ifinfo|ifhtml|iftex|ifplaintext|example|smallexample|lisp|display|"
    r"format|quotation|cartouche|group|enumerate|itemize|table|ftable|vtable|multitable|noindent|need|sp)\b.*"
)
_DROPPED_BLOCK = re.compile(r"@(menu|detailmenu|direntry|ignore|tex|iftex|ifhtml|html)\b.*?@end \1\b", re.DOTALL)
_LINE_COMMAND = re.compile(r"^@\w+(?=\s|$)\s*")  # @item, @deffn ...: the command goes, its text stays
_BRACED = re.compile(r"@(\w+)\{([^{}]*)\}")
_REFERENCE = {"xref": "See ", "pxref": "see ", "ref": ""}
_GLYPHS = {"dots": "...", "result": "=>", "expansion": "==>", "equiv": "==", "minus": "-", "bullet": "•",
           "copyright": "©", "error": "error-->", "print": "-|", "point": "-!-", "tie": " "}
_DROPPED_ARGUMENT = {"footnote", "anchor", "indexterm", "image"}
_ESCAPED = {"@@": ("\x00", "@"), "@{": ("\x01", "{"), "@}": ("\x02", "}")}  # kept out of brace matching
_SYMBOLS = {"@*": "\n", "@.": ".", "@:": "", "@-": "", "@/": "", "@ ": " ", "@!": "!", "@?": "?"}


def texinfo_sections(source: str) -> list[str]:
    source = _DROPPED_BLOCK.sub("", source)
    sections: list[list[str]] = [[]]
    for line in source.splitlines():
        heading = _HEADING.match(line)
        if heading:
            sections.append([_inline(heading.group(1))])
        elif not _DROPPED_LINE.match(line):
            sections[-1].append(_inline(_LINE_COMMAND.sub("", line, count=1)))
    return ["\n".join(lines) for lines in sections if any(lines)]


def _inline(text: str) -> str:
    def replace(match: re.Match) -> str:
        command, argument = match.groups()
        if command in _REFERENCE:
            return _REFERENCE[command] + argument.split(",")[0]
        if command in _GLYPHS or command in _DROPPED_ARGUMENT:
            return _GLYPHS.get(command, "")
        return argument.split(",")[0] if command in ("uref", "url", "email") else argument

    for escape, (placeholder, _) in _ESCAPED.items():
        text = text.replace(escape, placeholder)
    previous = None
    while previous != text:  # innermost braces first, until none are left
        previous, text = text, _BRACED.sub(replace, text)
    for symbol, value in _SYMBOLS.items():
        text = text.replace(symbol, value)
    for placeholder, value in _ESCAPED.values():
        text = text.replace(placeholder, value)
    return text


def info_sections(info: str) -> list[str]:
    """Each node of an Info file, without its `File: ..., Node: ...` line, menus, or the tag table."""
    sections = []
    for node in info.split("\x1f"):
        lines = node.strip("\n").splitlines()
        if not lines or not lines[0].startswith("File:"):
            continue  # the preamble, the tag table, the list of indirect files
        body = "\n".join(lines[1:]).split("\n* Menu:", 1)[0]
        sections.append(body)
    return sections
