"""The grid tasks and answer formats of Hu et al. 2024 ("Case-Based or Rule-Based", arXiv 2402.17709).

Every task maps an operand pair (a, b) on the 100 × 100 grid to an answer:

    addition        a + b                    57+68=125
    modular         (a + b) mod 113          57+68 mod 113=12
    base9           a + b, written in base 9 63+75 base 9=148
    linear          a + 2b + 3               f(57,68)=196
    chicken_rabbit  a chickens, b rabbits    125 heads 386 legs=57,68   (heads a+b, legs 2a+4b)

and every answer can be written in three formats:

    direct      the answer right after the question
    scratchpad  the intermediate steps (for additions, digit by digit with carries), then "=ANSWER"
    rule        the algorithm as numbered code lines before the question; the answer recites each step with
                the number of the line it executes, then "=ANSWER"

A task's steps are written once (`steps`) and rendered by both the scratchpad and the rule format, so the two
differ only in the code shown and the line numbers cited.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("addition", "modular", "base9", "linear", "chicken_rabbit")
FORMATS = ("direct", "scratchpad", "rule")
GRID_SIZE = 100  # operands a, b in 0..99
MODULUS = 113


@dataclass(frozen=True)
class Example:
    a: int
    b: int
    prompt: str
    target: str
    answer: str

    @property
    def text(self) -> str:
        return self.prompt + self.target


def to_base(n: int, base: int) -> str:
    digits = ""
    while True:
        n, digit = divmod(n, base)
        digits = str(digit) + digits
        if n == 0:
            return digits


def answer(task: str, a: int, b: int) -> str:
    if task == "addition":
        return str(a + b)
    if task == "modular":
        return str((a + b) % MODULUS)
    if task == "base9":
        return to_base(a + b, 9)
    if task == "linear":
        return str(a + 2 * b + 3)
    if task == "chicken_rabbit":
        return f"{a},{b}"
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def question(task: str, a: int, b: int) -> str:
    """The question, ending with '=' where the answer (or its working) starts."""
    if task == "addition":
        return f"{a}+{b}="
    if task == "modular":
        return f"{a}+{b} mod {MODULUS}="
    if task == "base9":
        return f"{to_base(a, 9)}+{to_base(b, 9)} base 9="
    if task == "linear":
        return f"f({a},{b})="
    if task == "chicken_rabbit":
        return f"{a + b} heads {2 * a + 4 * b} legs="
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def _addition_rule(base: int) -> list[str]:
    return [
        "c=0",
        "for each digit pair x,y from the right: s=x+y+c",
        f"write s%{base}, c=s//{base}",
        "at the end: if c>0 write c",
    ]


# The algorithm of each task as numbered lines; `steps` cites these numbers.
RULES: dict[str, list[str]] = {
    "addition": _addition_rule(10),
    "base9": _addition_rule(9),
    "modular": [*_addition_rule(10), f"if the sum>={MODULUS}: subtract {MODULUS}"],
    "linear": ["t=2*b", "t=a+t", "t=t+3"],
    "chicken_rabbit": ["r=(legs-2*heads)/2", "c=heads-r"],
}


def column_addition(x: str, y: str, base: int) -> list[tuple[int, str]]:
    """Digit-by-digit addition of the digit strings x and y, right to left: per column 's' (the column sum,
    in decimal) and what is written and carried, then the final carry. Items are (rule line, text)."""
    width = max(len(x), len(y))
    x, y = x.zfill(width), y.zfill(width)
    carry, steps = 0, []
    for dx, dy in zip(reversed(x), reversed(y), strict=True):
        s = int(dx) + int(dy) + carry
        steps.append((2, f"{dx}+{dy}+{carry}={s}"))
        carry = s // base
        steps.append((3, f"write {s % base}, carry {carry}"))
    if carry:
        steps.append((4, f"write {carry}"))
    return steps


def steps(task: str, a: int, b: int) -> list[tuple[int, str]]:
    """The working of one instance, as (rule line, text) pairs; the last step's result is the answer."""
    if task in ("addition", "modular"):
        work = column_addition(str(a), str(b), 10)
        if task == "modular":
            total = a + b
            work.append(
                (5, f"{total}-{MODULUS}={total - MODULUS}" if total >= MODULUS else f"{total}<{MODULUS}")
            )
        return work
    if task == "base9":
        return column_addition(to_base(a, 9), to_base(b, 9), 9)
    if task == "linear":
        return [(1, f"2*{b}={2 * b}"), (2, f"{a}+{2 * b}={a + 2 * b}"), (3, f"{a + 2 * b}+3={a + 2 * b + 3}")]
    if task == "chicken_rabbit":
        heads, legs = a + b, 2 * a + 4 * b
        return [(1, f"({legs}-2*{heads})/2={b}"), (2, f"{heads}-{b}={a}")]
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def render(task: str, fmt: str, a: int, b: int) -> Example:
    """One instance of `task` in format `fmt`."""
    result = answer(task, a, b)
    if fmt == "direct":
        return Example(a, b, question(task, a, b), result, result)
    if fmt == "scratchpad":
        lines = [text for _, text in steps(task, a, b)]
        return Example(a, b, question(task, a, b), "\n" + "\n".join(lines) + f"\n={result}", result)
    if fmt == "rule":
        code = "\n".join(f"{i} {line}" for i, line in enumerate(RULES[task], start=1))
        lines = [f"{line} {text}" for line, text in steps(task, a, b)]
        return Example(
            a, b, f"rule:\n{code}\n{question(task, a, b)}", "\n" + "\n".join(lines) + f"\n={result}", result
        )
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def final_answer(text: str) -> str:
    """The answer a generated target states: its last line, after the last '='."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].rsplit("=", 1)[-1].strip() if lines else ""
