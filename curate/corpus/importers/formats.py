"""Which format a file is, from its name, and the function that cuts each format into sections."""

from __future__ import annotations

import re
from collections.abc import Callable

from curate.corpus.importers.code import code_sections, python_sections
from curate.corpus.importers.html import html_sections
from curate.corpus.importers.man import man_sections
from curate.corpus.importers.markup import markdown_sections, rst_sections, text_sections
from curate.corpus.importers.pod import pod_sections
from curate.corpus.importers.tex import tex_sections
from curate.corpus.importers.texinfo import info_sections, texinfo_sections

SECTIONS: dict[str, Callable[[str], list[str]]] = {
    "text": text_sections,
    "markdown": markdown_sections,
    "rst": rst_sections,
    "html": html_sections,
    "man": man_sections,
    "texinfo": texinfo_sections,
    "info": info_sections,
    "pod": pod_sections,
    "tex": tex_sections,
    "python": python_sections,
    "code": code_sections,
}  # and "json", whose records the importer handles one by one

_EXTENSIONS = {
    "text": "txt text debian",  # debian: README.Debian, changelog.Debian.gz
    "markdown": "md markdown mdown mkd mdx",
    "rst": "rst rest",
    "html": "html htm xhtml",
    "man": "man",
    "texinfo": "texi texinfo txi",
    "info": "info",
    "pod": "pod",
    "tex": "tex ltx latex",
    "json": "json jsonl ndjson",
    "python": "py pyi pyw",
    "code": "c h cc cpp cxx hh hpp hxx m mm java kt kts scala groovy go rs swift cs fs vb js mjs cjs jsx ts tsx "
    "rb pl pm perl t php lua r jl dart ex exs erl hrl hs ml mli clj cljs lisp el scm rkt sh bash zsh fish ksh csh "
    "ps1 bat cmd sql awk sed vim f f90 f95 for asm s zig nim v sv vhd cmake mk make toml yaml yml ini cfg "
    "css scss sass less proto graphql tf nix",
}
_BY_EXTENSION = {ext: fmt for fmt, extensions in _EXTENSIONS.items() for ext in extensions.split()}
_BY_NAME = {"makefile": "code", "gnumakefile": "code", "dockerfile": "code", "rakefile": "code",
            "gemfile": "code", "cmakelists.txt": "code", "sconstruct": "code", "meson.build": "code"}
_MAN_SECTION = re.compile(r"\.[1-9][a-z]*$")  # ls.1, printf.3, Foo::Bar.3pm
_INFO_PART = re.compile(r"\.info-\d+$")  # the parts of a long Info manual


def format_of(name: str) -> str | None:
    """The format of a file (its name without a trailing `.gz`); None when the extension is unknown. A file
    without an extension (README, a script) is text; the importer checks its first line for a shebang, and
    whether a file named like a man page (`ls.1`, but also `changelog.1.gz`) holds troff."""
    name = name.lower().removesuffix(".gz")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if _INFO_PART.search(name):
        return "info"
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return "text"
    if extension == "txt" and "." in stem:  # Sphinx's `_sources/x.rst.txt`, `notes.md.txt`
        inner = _BY_EXTENSION.get(stem.rpartition(".")[2])
        if inner is not None:
            return inner
    return _BY_EXTENSION.get(extension) or ("man" if _MAN_SECTION.search(name) else None)
