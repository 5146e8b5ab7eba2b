"""The reasoning tasks' formats: how a problem is asked and how its step-by-step solution is written.

After Ruis et al. 2024: two-step arithmetic (operands 0-20), slopes (coordinates 0-100) and linear equations
(coefficients 0-100). The probes use these formats on numbers inside the ranges below; the synthetic corpus
uses the same formats on numbers outside them, so it teaches the probes' format without their problems.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

# Inclusive number ranges of the paper's reasoning probes. The synthetic corpus keeps every instance of these
# tasks outside them, so no corpus document works out any probe's problem.
PROBE_RANGES = {"arithmetic": (0, 20), "slope": (0, 100), "linear": (0, 100)}

STEP_BY_STEP = "\n\nThink step-by-step."

OPS: dict[str, Callable[[int, int], int]] = {"+": operator.add, "-": operator.sub, "*": operator.mul}
OP_VERB = {"+": "add", "-": "subtract", "*": "multiply"}


def num(n: int) -> str:
    """An operand as written inside an expression: negatives in parentheses, so '5 - (-3)' is unambiguous."""
    return str(n) if n >= 0 else f"({n})"


def arithmetic_expression(a: int, op1: str, b: int, op2: str, c: int, left: bool = True) -> str:
    """'(a op1 b) op2 c' when `left`, else 'a op1 (b op2 c)'."""
    if left:
        return f"({a} {op1} {num(b)}) {op2} {num(c)}"
    return f"{a} {op1} ({b} {op2} {num(c)})"


def arithmetic_prompt(a: int, op1: str, b: int, op2: str, c: int, left: bool = True) -> str:
    return f"Calculate the answer: {arithmetic_expression(a, op1, b, op2, c, left)}"


def arithmetic_solution(a: int, op1: str, b: int, op2: str, c: int, left: bool = True) -> tuple[list[str], int]:
    """Reference step lines and result of a two-step expression (see `arithmetic_expression`)."""
    if left:
        inner = OPS[op1](a, b)
        result = OPS[op2](inner, c)
        return [
            f"First, compute the part in parentheses: {a} {op1} {num(b)} = {inner}.",
            f"Then {OP_VERB[op2]}: {inner} {op2} {num(c)} = {result}.",
        ], result
    inner = OPS[op2](b, c)
    result = OPS[op1](a, inner)
    return [
        f"First, compute the part in parentheses: {b} {op2} {num(c)} = {inner}.",
        f"Then {OP_VERB[op1]}: {a} {op1} {num(inner)} = {result}.",
    ], result


def slope_question(x1: int, y1: int, x2: int, y2: int) -> str:
    return f"What is the slope of the line passing through the points ({x1}, {y1}) and ({x2}, {y2})?"


def slope_solution(x1: int, y1: int, x2: int, y2: int) -> tuple[list[str], int]:
    """Reference step lines and slope of the line through two points; the slope must be an integer."""
    dy, dx = y2 - y1, x2 - x1
    if dx == 0 or dy % dx:
        raise ValueError(f"slope through ({x1}, {y1}) and ({x2}, {y2}) is not an integer")
    m = dy // dx
    return [
        "The slope is the change in y divided by the change in x.",
        f"The change in y is {y2} - {num(y1)} = {dy}.",
        f"The change in x is {x2} - {num(x1)} = {dx}.",
        f"So the slope is {dy} / {num(dx)} = {m}.",
    ], m


def linear_equation(a: int, b: int, c: int, var: str = "x") -> str:
    """'ax + b = c' (or 'ax - |b| = c')."""
    sign = "+" if b >= 0 else "-"
    return f"{a}{var} {sign} {abs(b)} = {c}"


def linear_prompt(a: int, b: int, c: int, var: str = "x") -> str:
    return f"Solve for {var}: {linear_equation(a, b, c, var)}"


def linear_solution(a: int, b: int, c: int, var: str = "x") -> tuple[list[str], int]:
    """Reference step lines and solution of a*var + b = c; the solution must be an integer."""
    if a <= 0 or (c - b) % a:
        raise ValueError(f"{linear_equation(a, b, c, var)} has no integer solution with a positive coefficient")
    rest = c - b
    x = rest // a
    if b >= 0:
        first = f"First, subtract {b} from both sides: {a}{var} = {c} - {b} = {rest}."
    else:
        first = f"First, add {-b} to both sides: {a}{var} = {c} + {-b} = {rest}."
    return [first, f"Then divide both sides by {a}: {var} = {rest} / {a} = {x}."], x


def answer_line(answer: object) -> str:
    return f"The answer is {answer}."


def reference_completion(lines: list[str], answer: object) -> str:
    """A probe's reference completion: it starts with a newline and ends with the answer line."""
    return "\n" + "\n".join([*lines, answer_line(answer)])


def is_probe_instance(task: str, numbers: tuple[int, ...]) -> bool:
    """True when a problem instance of `task` has all its numbers inside the probe ranges.

    numbers are the operands (a, b, c) for arithmetic, the coordinates (x1, y1, x2, y2) for slope and the
    coefficients (a, b, c) of a*x + b = c for linear (b negative for 'ax - |b| = c'). The corpus generator
    rejects such instances, which keeps every corpus instance distinct from every possible probe instance.
    """
    if task not in PROBE_RANGES:
        raise ValueError(f"unknown reasoning task {task!r}; expected one of {sorted(PROBE_RANGES)}")
    if not numbers:
        raise ValueError("a problem instance needs at least one number")
    lo, hi = PROBE_RANGES[task]
    return all(lo <= n <= hi for n in numbers)
