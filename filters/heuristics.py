"""Cheap detectors of procedural text: code, formulas, step-by-step reasoning.

Each detector is a pure function `text -> float` in [0, 1], so it can be used alone (a datatrove filter
wraps them in `filters.heuristic_filter`) or as features of the procedural classifier
(`heuristic_features(texts)` returns them as a matrix, one column per name in `FEATURE_NAMES`).
They are deliberately crude and fast: regular expressions over lines and words, no tokenizer, no model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

# A line "looks like code" when it starts with a keyword of a common language, ends like a statement or
# block, or is an assignment / call. Prose rarely does any of these.
_CODE_START = re.compile(
    r"^\s*(def|class|return|import|from\s+\S+\s+import|for|while|if|elif|else|try|except|with|print|"
    r"function|const|let|var|public|private|static|void|int|float|double|char|#include|fn|struct|"
    r"SELECT|INSERT|UPDATE|CREATE)\b"
)
_CODE_END = re.compile(r"[;{}]\s*$|\)\s*:\s*$|\bthen\s*$")
_CODE_ASSIGN_OR_CALL = re.compile(r"^\s*[A-Za-z_][\w.\[\]]*\s*(=|\+=|-=|\*=|/=|==)\s*\S|^\s*[A-Za-z_][\w.]*\(.*\)\s*;?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")

# Formula spans: LaTeX (inline $...$, \[...\], commands like \frac) and arithmetic expressions, i.e.
# numbers or one-letter variables joined by operators ("3 + 4 = 7", "2x - 5", "(a+b)^2").
_LATEX = re.compile(r"\$[^$\n]+\$|\\\[.+?\\\]|\\[A-Za-z]+(\{[^}]*\})*", re.DOTALL)
_OPERAND = r"[(\s]*(?:\d+(?:[.,]\d+)?[a-zA-Z]?|\b[a-zA-Z]\b)[)]*"
_EXPRESSION = re.compile(_OPERAND + r"(?:\s*[-+*/^=×÷<>≤≥]\s*" + _OPERAND + r")+")

# Step markers: enumerated steps, and the connectives that chain one step to the next.
_STEP_MARKER = re.compile(
    r"\b(step\s*\d+|first(ly)?|second(ly)?|then|next|finally|therefore|thus|hence|so|because|since|"
    r"which gives|we get|this gives|it follows)\b|^\s*\d+[.)]\s|=>|⇒|∴",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
# An equation line has one "=" that is not part of "==", "<=", ">=", "!=" or "=>"; a chain has two or more.
_EQUALS = re.compile(r"(?<![=<>!])=(?![=>])")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def code_line_ratio(text: str) -> float:
    """Share of non-blank lines that are code: inside ``` fences, or shaped like statements."""
    lines = _lines(text)
    if not lines:
        return 0.0
    code, in_fence = 0, False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            code += 1
            continue
        if in_fence or _CODE_START.match(line) or _CODE_END.search(line) or _CODE_ASSIGN_OR_CALL.match(line):
            code += 1
    return code / len(lines)


def formula_density(text: str) -> float:
    """Share of non-space characters inside formula spans (LaTeX or arithmetic expressions)."""
    total = sum(1 for c in text if not c.isspace())
    if total <= 0:
        return 0.0
    spans = sorted(m.span() for pattern in (_LATEX, _EXPRESSION) for m in pattern.finditer(text))
    inside, reached = 0, 0  # merge overlapping spans; count each character once
    for start, end in spans:
        start = max(start, reached)
        if end > start:
            inside += sum(1 for c in text[start:end] if not c.isspace())
            reached = end
    return inside / total


def step_marker_ratio(text: str) -> float:
    """Share of sentences (or lines) carrying a step marker: "Step 1", "1.", "then", "therefore", "=>"..."""
    sentences = [s for s in _SENTENCE_SPLIT.split(text) if s.strip()]
    if not sentences:
        return 0.0
    return sum(1 for s in sentences if _STEP_MARKER.search(s)) / len(sentences)


def equation_chain_ratio(text: str) -> float:
    """Share of non-blank lines that continue a chain of equalities.

    A line counts when it holds two or more "=" (``a = b = c``), or holds one "=" (or starts with one)
    right after another equation line: the shape of worked derivations, which prose and tables lack.
    """
    lines = _lines(text)
    if not lines:
        return 0.0
    chained, previous_is_equation = 0, False
    for line in lines:
        equals = len(_EQUALS.findall(line))
        if equals >= 2 or (equals and previous_is_equation):
            chained += 1
        previous_is_equation = equals > 0
    return chained / len(lines)


FEATURES: dict[str, Callable[[str], float]] = {
    "code_line_ratio": code_line_ratio,
    "formula_density": formula_density,
    "step_marker_ratio": step_marker_ratio,
    "equation_chain_ratio": equation_chain_ratio,
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def heuristic_features(texts: Sequence[str], names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """Feature matrix of shape (len(texts), len(names)), float32, columns in the order of `names`.

    Accepts any sequence of strings, so it also works as a scikit-learn `FunctionTransformer` function.
    """
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown heuristic features {sorted(unknown)}; known: {list(FEATURE_NAMES)}")
    functions = [FEATURES[name] for name in names]
    out = np.zeros((len(texts), len(functions)), dtype=np.float32)
    for row, text in enumerate(texts):
        for column, function in enumerate(functions):
            out[row, column] = function(text)
    return out
