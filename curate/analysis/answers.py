"""Do a probe's top documents contain its answer? (Ruis et al. 2024, Finding 4.)

For a factual probe, a top document that contains the answer ("Ankara") is the document the model
retrieved the fact from. For a reasoning probe, a bare number ("10") turns up in almost any maths document,
so a match says nothing; what would matter is a document that works out the probe's own computation. So
each probe's targets are keyword patterns:
  steps   every "LHS = N" step of the reference completion whose LHS computes something ("5 - 3 = 2",
          "12 - 2 = 10"), matched with its operands, so "5 - 3 = 2" is found and "5 + 3 = 2" or a lone "2"
          is not;
  answer  the step that produces the final answer when there is one, else the answer itself as a whole
          number or whole words ("Ankara", "Miguel de Cervantes"), never part of a longer number or word;
          a reasoning answer that is no number is a command (the how-to probes: "tar -czf photos.tar.gz
          photos"), searched as written, case and all, with any whitespace between its words.
`bare_answer_docs` also counts documents with the answer as a bare number or word (for a command, its first
word: the program), to show how little a lone number, or a mention of the tool, means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import ordered_probes, probe_values, top_order
from curate.analysis_arguments import TOP_K
from curate.probes.sets import Probe

# A step's result: "= N" not followed by more arithmetic ("16x = 99 - 3 = 96" has one result, 96).
_RESULT = re.compile(r"=\s*(-?\d+(?:\.\d+)?)(?!\s*[-+*/×÷^\d.]\s*\d)(?!\d)")
# The expression before "=": the longest run of numbers, operators, parentheses and spaces.
_EXPRESSION_TAIL = re.compile(r"[\d\s+\-*/×÷().]*$")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[-+*/×÷()]")
_OPERATOR_PATTERNS = {"-": "[-−]", "+": r"\+", "*": "[*×x·]", "×": "[*×x·]", "/": "[/÷]", "÷": "[/÷]",
                      "(": r"\(", ")": r"\)"}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Target:
    name: str  # "answer" or "step N"
    text: str  # what is searched for, as written
    pattern: re.Pattern
    literal: str  # a substring every match contains: a fast test that rules out most documents

    def found(self, document: str) -> bool:
        return self.literal in document and self.pattern.search(document) is not None


def _target(name: str, text: str, pattern: str, first_letter_free: bool = False) -> Target:
    """A target whose literal is the longest run of letters or digits in `text` (less its first character
    where the pattern lets a leading letter change case)."""
    runs = re.findall(r"[^\W_]+", text)
    if runs and first_letter_free:
        runs[0] = runs[0][1:]
    return Target(name, text, re.compile(pattern), max(runs, key=len, default=""))


def _expression_pattern(expression: str) -> str:
    """Tokens of an arithmetic expression joined by optional spaces, each operator in its common spellings."""
    tokens = _TOKEN.findall(expression)
    parts = [re.escape(token) if token[0].isdigit() else _OPERATOR_PATTERNS[token] for token in tokens]
    # Bounded so "5 - 3 = 2" is not found inside "15 - 3 = 21".
    return r"(?<![\w.])" + r"\s*".join(parts) + r"(?![\w]|[.,]\d)"


def number_pattern(number: str) -> str:
    """A whole number: not part of a longer number, a decimal, a word, or (if positive) a negative number."""
    sign, digits = ("[-−]\\s?", number[1:]) if number.startswith("-") else ("", number)
    before = r"(?<![\w.])" if sign else r"(?<![\w.\-−])"
    return before + sign + re.escape(digits) + r"(?![\w]|[.,]\d)"


def words_pattern(answer: str) -> str:
    """Whole words; the first letter in either case (sentence starts), the rest as written ("Cu" is not "cu")."""
    words = answer.split()
    first = words[0]
    head = f"[{first[0].upper()}{first[0].lower()}]" if first[0].isalpha() else re.escape(first[0])
    body = re.escape(first[1:]) + "".join(r"\s+" + re.escape(word) for word in words[1:])
    return r"(?<!\w)" + head + body + r"(?!\w)"


def command_pattern(command: str) -> str:
    """A command as written, its words apart by any whitespace, not inside a longer word or option."""
    return r"(?<![\w-])" + r"\s+".join(map(re.escape, command.split())) + r"(?![\w-])"


def is_command(probe: Probe) -> bool:
    """A reasoning probe whose answer is no number answers with a command (the how-to probes)."""
    return probe.kind == "reasoning" and not _NUMBER.fullmatch(probe.answer.strip())


def bare_target(answer: str) -> Target:
    """The answer as a whole number or whole words."""
    answer = answer.strip()
    if _NUMBER.fullmatch(answer):
        return _target("answer", answer, number_pattern(answer))
    return _target("answer", answer, words_pattern(answer), first_letter_free=answer[0].isalpha())


def step_equations(completion: str) -> list[tuple[str, str]]:
    """The (expression, result) of each computing step of a completion, in order:
    "First, subtract 3 from both sides: 16x = 99 - 3 = 96." gives ("99 - 3", "96")."""
    steps = []
    for line in completion.splitlines():
        start = 0
        for match in _RESULT.finditer(line):
            before = line[start:match.start()]
            start = match.end()
            expression = " ".join(_EXPRESSION_TAIL.search(before).group().split())
            # Trim an unmatched leading ")" picked up from surrounding prose ("(so 3) 4 - 1 = 3").
            while expression and expression.count("(") < expression.count(")") and expression[0] == ")":
                expression = expression[1:].strip()
            numbers = _NUMBER.findall(expression)
            if len(numbers) >= 2 and re.search(r"\d\s*\)?\s*[-+*/×÷]", expression):
                steps.append((expression, match.group(1)))
    return steps


def answer_targets(probe: Probe) -> tuple[Target, list[Target]]:
    """The probe's answer target and its step targets (see the module docstring)."""
    if is_command(probe):
        command = probe.answer.strip()
        return _target("answer", command, command_pattern(command)), []
    steps = [
        _target(f"step {i}", f"{expression} = {result}",
                _expression_pattern(expression) + r"\s*=\s*" + number_pattern(result))
        for i, (expression, result) in enumerate(step_equations(probe.completion), start=1)
    ]
    producing = [step for step in steps if step.text.rsplit("= ", 1)[1] == probe.answer.strip()]
    if producing:
        answer = Target("answer", producing[-1].text, producing[-1].pattern, producing[-1].literal)
    else:
        answer = bare_target(probe.answer)
    return answer, steps


def searched_documents(
    scores: pl.DataFrame, probes: list[Probe], top_k: int = TOP_K, seed: int | None = None
) -> dict[str, np.ndarray]:
    """Per probe id, the ids of the documents to search: its top_k by per-nat score (capped at the corpus), or,
    given a seed, top_k documents drawn at random (the same draw for every probe): the chance baseline."""
    doc_ids = scores["doc_id"].to_numpy()
    probes = ordered_probes(scores, probes)
    if seed is not None:
        drawn = doc_ids[np.random.default_rng(seed).permutation(len(doc_ids))[:top_k]]
        return {p.id: drawn for p in probes}
    return {p.id: doc_ids[top_order(probe_values(scores, p), top_k)] for p in probes}


def answer_search(
    scores: pl.DataFrame, probes: list[Probe], documents: pl.DataFrame, top_k: int = TOP_K,
    seed: int | None = None,
) -> pl.DataFrame:
    """Per probe: how many of its searched documents (`searched_documents`; `ranking` says which) contain the
    answer target, whether any does, how many step targets are found in any of them, and bare-answer matches.
    `documents` needs `doc_id` and `text` for those documents; `searched` counts the ones that had text."""
    texts = dict(documents.filter(pl.col("text").is_not_null()).select("doc_id", "text").iter_rows())
    rows = []
    for probe in ordered_probes(scores, probes):
        top = searched_documents(scores, [probe], top_k, seed)[probe.id]
        top_texts = [texts[doc_id] for doc_id in top if doc_id in texts]
        answer, steps = answer_targets(probe)
        answer_docs = sum(answer.found(text) for text in top_texts)
        found_steps = [step for step in steps if any(step.found(text) for text in top_texts)]
        bare = bare_target(probe.answer.split()[0] if is_command(probe) else probe.answer)
        rows.append({
            "ranking": "score" if seed is None else "random", "probe": probe.id, "set": probe.set,
            "kind": probe.kind, "top_k": len(top), "searched": len(top_texts),
            "answer_target": answer.text, "answer_docs": answer_docs, "answer_found": answer_docs > 0,
            "steps": "; ".join(step.text for step in steps), "n_steps": len(steps),
            "steps_found": len(found_steps),
            "all_steps_found": len(found_steps) == len(steps) if steps else None,
            "bare_answer_docs": sum(bare.found(text) for text in top_texts),
        })
    return pl.DataFrame(rows, schema={
        "ranking": pl.String, "probe": pl.String, "set": pl.String, "kind": pl.String, "top_k": pl.Int64,
        "searched": pl.Int64, "answer_target": pl.String, "answer_docs": pl.Int64, "answer_found": pl.Boolean,
        "steps": pl.String, "n_steps": pl.Int64, "steps_found": pl.Int64, "all_steps_found": pl.Boolean,
        "bare_answer_docs": pl.Int64,
    })


def summarise_answers(results: pl.DataFrame, by: str = "set") -> pl.DataFrame:
    """Per ranking and set (or kind): probes, share with the answer found, share with any / all step answers
    found (null where no probe has steps), and mean documents with the bare answer."""
    with_steps = pl.col("n_steps") > 0
    kind = [pl.col("kind").first()] if by != "kind" else []
    return results.group_by("ranking", by, maintain_order=True).agg(
        *kind,
        probes=pl.len(),
        answer_found=pl.col("answer_found").mean(),
        any_step_found=(pl.col("steps_found") > 0).filter(with_steps).mean(),
        all_steps_found=pl.col("all_steps_found").filter(with_steps).mean(),
        mean_bare_answer_docs=pl.col("bare_answer_docs").mean(),
    )


def plot_answers(results: pl.DataFrame, path: str | Path) -> Path:
    """Per set, the share of probes whose answer, and whose answer to some step, is in its top documents; and
    the share whose answer is in randomly drawn documents, if `results` has that baseline."""
    from curate.plots import new_figure, save_figure

    summary = summarise_answers(results)
    by_score = summary.filter(pl.col("ranking") == "score")
    random = dict(summary.filter(pl.col("ranking") == "random").select("set", "answer_found").iter_rows())
    fig, ax = new_figure(7.5, 4)
    positions = np.arange(by_score.height)
    ax.bar(positions - 0.27, by_score["answer_found"].to_numpy(), width=0.27, label="answer found")
    ax.bar(positions, by_score["any_step_found"].fill_null(0).to_numpy(), width=0.27, label="a step's answer found")
    if random:
        ax.bar(positions + 0.27, [random.get(name, 0.0) for name in by_score["set"]], width=0.27, color="lightgray",
               hatch="//", label="answer found, random documents")
    ax.set_xticks(positions, by_score["set"].to_list(), rotation=30, ha="right")
    top_k = int(results["top_k"].max()) if results.height else 0
    ax.set(ylim=(0, 1.02), ylabel="share of probes", title=f"Answers in each probe's top {top_k} documents")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
