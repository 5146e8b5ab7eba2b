"""TeX and LaTeX: the body's text with comments, the preamble and layout commands dropped; mathematics
kept as written (formulas are part of a worked solution). Sections start at \\part ... \\subsubsection."""

from __future__ import annotations

import re

_COMMENT = re.compile(r"(?<!\\)%.*")
_HEADING = re.compile(r"\\(?:part|chapter|section|subsection|subsubsection|paragraph)\*?\s*(?:\[[^\]]*\])?\{([^{}]*)\}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{(?:document|itemize|enumerate|description|center|figure|table|abstract|quote)\*?\}")
_TEXT_COMMAND = re.compile(r"\\(?:emph|textbf|textit|texttt|textsc|underline|mbox|url|title|author)\{([^{}]*)\}")
_LAYOUT_COMMAND = re.compile(r"\\(?:label|ref|cite|eqref|pageref|index|include|input|vspace|hspace|maketitle|"
                             r"tableofcontents|newpage|clearpage|noindent|centering|caption|bibliography\w*)\*?"
                             r"(?:\[[^\]]*\])?(?:\{[^{}]*\})?")


def tex_sections(tex: str) -> list[str]:
    tex = _COMMENT.sub("", tex)
    if "\\begin{document}" in tex:
        tex = tex.split("\\begin{document}", 1)[1].split("\\end{document}", 1)[0]
    tex = _LAYOUT_COMMAND.sub("", _ENVIRONMENT.sub("", tex))
    tex = re.sub(r"\\item\b\s*", "- ", tex).replace("~", " ")
    previous = None
    while previous != tex:  # \emph{\textbf{x}}: innermost first
        previous, tex = tex, _TEXT_COMMAND.sub(r"\1", tex)
    starts = [m.start() for m in _HEADING.finditer(tex)]
    bounds = [0, *starts, len(tex)]
    return [_HEADING.sub(r"\1", tex[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if tex[a:b].strip()]
