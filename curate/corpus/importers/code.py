"""Source code, kept verbatim. Python is cut before each top-level function and class (with its decorators
and the comments just above it), found with `ast`; other languages before each top-level line that follows a
blank line, which is where their definitions start in most styles."""

from __future__ import annotations

import ast
import re

from curate.corpus.importers.markup import sections_before

_TOP_LEVEL = re.compile(r"[^\s})\]]")  # a line at column 0 that does not close a block


def python_sections(source: str) -> list[str]:
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError):  # Python 2, templates, fragments: cut it as any other language
        return code_sections(source)
    lines, starts = source.splitlines(), []
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            starts.append(start)
    return sections_before(lines, starts)


def code_sections(source: str) -> list[str]:
    lines = source.splitlines()
    starts = [i for i in range(1, len(lines)) if not lines[i - 1].strip() and _TOP_LEVEL.match(lines[i])]
    return sections_before(lines, starts)
