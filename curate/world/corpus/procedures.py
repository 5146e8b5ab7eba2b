"""Worked examples of computation procedures, and the ways a text lays them out.

A sampler draws one problem instance of a task and returns it as a `Worked` example: the question, the
solution steps, the bare equations and the answer. Layouts turn a `Worked` into text (reference lines ending
"The answer is N.", numbered steps, markdown, prose, a terse equation chain), and every source (math,
Q&A, web, wiki, trivia) wraps them its own way. Instances of the probe tasks are drawn so that they are
never probe instances (see `curate.world.tasks.is_probe_instance`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

from curate.world.corpus.common import Ctx, cap, fmt, join_and, lower_first
from curate.world.data import load
from curate.world.tasks import (
    OP_VERB,
    OPS,
    STEP_BY_STEP,
    arithmetic_expression,
    arithmetic_prompt,
    arithmetic_solution,
    is_probe_instance,
    linear_equation,
    linear_prompt,
    linear_solution,
    num,
    slope_question,
    slope_solution,
)

PROBE_TASKS = ("arithmetic", "slope", "linear")
OTHER_TASKS = (
    "percentage", "average", "area", "conversion", "gcd", "prime", "factorial", "fibonacci", "interest",
    "sorting", "pythagoras", "speed", "distance",
)
TASKS = PROBE_TASKS + OTHER_TASKS


@dataclass
class Worked:
    task: str
    question: str
    steps: list[str]  # full sentences
    answer: str
    eqs: list[str] = field(default_factory=list)  # bare computations, for terse layouts
    lines: list[str] | None = None  # the probes' reference step lines, for the probe tasks
    prompt: str | None = None  # the probes' prompt form of the question, for the probe tasks
    numbers: tuple[int, ...] = ()


# --- probe-task instances, always outside the probe ranges ------------------------------------------------


def _operand(rng: random.Random) -> int:
    # Mostly textbook-sized numbers; the rejection in the callers keeps at least one beyond the probe range.
    return rng.randint(0, 20) if rng.random() < 0.5 else rng.randint(21, 99)


def arithmetic_instance(
    rng: random.Random, form: tuple[str, str, bool] | None = None
) -> tuple[int, str, int, str, int, bool]:
    """(a, op1, b, op2, c, left) of a two-step expression that is not a probe instance.

    `form` fixes (op1, op2, left), for code that implements one particular expression shape.
    """
    while True:
        if form:
            op1, op2, left = form
        else:
            op1, op2 = rng.choice("+-*"), rng.choice("+-*")
            left = rng.random() < 0.6
        a, b, c = _operand(rng), _operand(rng), _operand(rng)
        # Keep products readable: one factor of every product is small.
        if left and op1 == "*":
            b = rng.randint(2, 12)
        if op2 == "*":
            c = rng.randint(2, 12)
        if not left and op1 == "*":
            a = rng.randint(2, 12)
        inner = OPS[op1](a, b) if left else OPS[op2](b, c)
        result = OPS[op2](inner, c) if left else OPS[op1](a, inner)
        if inner <= 0 or result <= 0 or result > 5000 or is_probe_instance("arithmetic", (a, b, c)):
            continue
        return a, op1, b, op2, c, left


def slope_instance(rng: random.Random, integer: bool = True) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) with an integer (or, if not `integer`, a fractional) slope; not a probe instance."""
    while True:
        x1, y1 = rng.randint(-40, 140), rng.randint(-40, 140)
        dx = rng.choice((1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 12)) * rng.choice((-1, 1, 1))
        if integer:
            dy = rng.randint(-15, 15) * dx
        else:
            dy = rng.randint(-40, 40)
            if dy % dx == 0:
                continue
        x2, y2 = x1 + dx, y1 + dy
        if is_probe_instance("slope", (x1, y1, x2, y2)):
            continue
        return x1, y1, x2, y2


def linear_instance(rng: random.Random) -> tuple[int, int, int, int]:
    """(a, b, c, x) with a*x + b = c, integer x, not a probe instance."""
    while True:
        a = rng.randint(2, 25) if rng.random() < 0.8 else rng.randint(26, 130)
        x = rng.randint(1, 30) if rng.random() < 0.85 else rng.randint(-15, -1)
        b = rng.randint(1, 250) * (1 if rng.random() < 0.7 else -1)
        c = a * x + b
        if not is_probe_instance("linear", (a, b, c)):
            return a, b, c, x


# --- samplers --------------------------------------------------------------------------------------------


def _times(rng: random.Random) -> str:
    return rng.choice(("*", "*", "*", "×", "·"))


def arithmetic(ctx: Ctx) -> Worked:
    rng = ctx.rng
    a, op1, b, op2, c, left = arithmetic_instance(rng)
    expr = arithmetic_expression(a, op1, b, op2, c, left)
    lines, result = arithmetic_solution(a, op1, b, op2, c, left)
    if left:
        inner_expr, inner = f"{a} {op1} {b}", OPS[op1](a, b)
        outer_op, outer_expr = op2, f"{inner} {op2} {c}"
    else:
        inner_expr, inner = f"{b} {op2} {c}", OPS[op2](b, c)
        outer_op, outer_expr = op1, f"{a} {op1} {inner}"
    t = _times(rng)
    shown = expr.replace("*", t)
    questions = [
        f"Evaluate {shown}.", f"What is {shown}?", f"Compute {shown}.", f"Find the value of {shown}.",
        f"Work out {shown}.", f"Calculate {shown}.",
    ]
    if left:
        first = {"+": f"Add {a} and {b}", "-": f"Subtract {b} from {a}", "*": f"Multiply {a} by {b}"}[op1]
        then = {"+": f"add {c}", "-": f"subtract {c}", "*": f"multiply the result by {c}"}[op2]
        questions.append(f"{first}, then {then}. What number do you get?")
    verb = OP_VERB[outer_op]
    steps = [
        rng.choice((
            f"Work out the brackets first: {inner_expr} = {inner}.",
            f"Start with the parentheses: {inner_expr} = {inner}.",
            f"The part in parentheses is {inner_expr} = {inner}.",
            f"Compute the inner expression {inner_expr}, which is {inner}.",
        )).replace("*", t),
        rng.choice((
            f"Now {verb}: {outer_expr} = {result}.",
            f"{cap(verb)} to finish: {outer_expr} = {result}.",
            f"Use that result: {outer_expr} = {result}.",
        )).replace("*", t),
    ]
    return Worked(
        task="arithmetic",
        question=rng.choice(questions),
        steps=steps,
        answer=str(result),
        eqs=[f"{shown} = {outer_expr.replace('*', t)}", f"= {result}"],
        lines=lines,
        prompt=arithmetic_prompt(a, op1, b, op2, c, left),
        numbers=(a, b, c),
    )


def slope(ctx: Ctx) -> Worked:
    rng = ctx.rng
    integer = rng.random() < 0.85
    x1, y1, x2, y2 = slope_instance(rng, integer)
    dy, dx = y2 - y1, x2 - x1
    m = Fraction(dy, dx)
    ms = str(m.numerator) if m.denominator == 1 else f"{m.numerator}/{m.denominator}"
    p, q = f"({x1}, {y1})", f"({x2}, {y2})"
    questions = [
        f"Find the slope of the line through {p} and {q}.",
        f"A line passes through A{p} and B{q}. What is its gradient?",
        f"Calculate the rate of change between the points {p} and {q}.",
        f"Determine the slope m of the line joining P{p} and Q{q}.",
        f"What is the slope between {p} and {q}?",
        slope_question(x1, y1, x2, y2),
    ]
    steps = [
        rng.choice((
            "Use the slope formula m = (y2 - y1) / (x2 - x1).",
            "The slope is rise over run: the change in y divided by the change in x.",
            "Recall that the gradient is the difference in y-values over the difference in x-values.",
        )),
        rng.choice((
            f"The rise is {y2} - {num(y1)} = {dy}.",
            f"Subtract the y-coordinates: {y2} - {num(y1)} = {dy}.",
            f"Change in y: {y2} - {num(y1)} = {dy}.",
        )),
        rng.choice((
            f"The run is {x2} - {num(x1)} = {dx}.",
            f"Subtract the x-coordinates in the same order: {x2} - {num(x1)} = {dx}.",
            f"Change in x: {x2} - {num(x1)} = {dx}.",
        )),
        rng.choice((
            f"Divide the rise by the run: m = {dy} / {num(dx)} = {ms}.",
            f"So the slope is {dy} / {num(dx)} = {ms}.",
            f"Therefore m = {dy} / {num(dx)}, which simplifies to {ms}.",
        )),
    ]
    lines = slope_solution(x1, y1, x2, y2)[0] if integer else None
    return Worked(
        task="slope",
        question=rng.choice(questions),
        steps=steps,
        answer=ms,
        eqs=[
            "m = (y2 - y1) / (x2 - x1)", f"m = ({y2} - {num(y1)}) / ({x2} - {num(x1)})", f"m = {dy} / {num(dx)}",
            f"m = {ms}",
        ],
        lines=lines,
        prompt=slope_question(x1, y1, x2, y2) if integer else None,
        numbers=(x1, y1, x2, y2),
    )


def linear(ctx: Ctx) -> Worked:
    rng = ctx.rng
    a, b, c, x = linear_instance(rng)
    v = "x" if rng.random() < 0.75 else rng.choice("ynkt")
    eq = linear_equation(a, b, c, v)
    # Sometimes the same equation with the constant first, e.g. "12 + 5x = 72".
    shown = f"{b} + {a}{v} = {c}" if b > 0 and rng.random() < 0.15 else eq
    rest = c - b
    questions = [
        f"Find {v} if {shown}.", f"What value of {v} satisfies {shown}?", f"Solve the equation {shown}.",
        f"If {shown}, what is {v}?", f"Solve {shown} for {v}.",
    ]
    if v == "x":
        verb = f"add {b}" if b > 0 else f"subtract {-b}"
        questions.append(f"I am thinking of a number. If I multiply it by {a} and then {verb}, I get {c}. "
                         "What is my number?")
    move = f"subtract {b} from" if b > 0 else f"add {-b} to"
    steps = [
        rng.choice((
            f"{cap(move)} both sides: {a}{v} = {c} {'-' if b > 0 else '+'} {abs(b)} = {rest}.",
            f"Move the constant to the right-hand side: {a}{v} = {rest}.",
            f"Isolate the {v} term by {'subtracting' if b > 0 else 'adding'} {abs(b)}: {a}{v} = {rest}.",
        )),
        rng.choice((
            f"Divide both sides by {a}: {v} = {rest} / {a} = {x}.",
            f"Now divide by the coefficient {a}, which gives {v} = {x}.",
            f"Dividing {rest} by {a} gives {v} = {x}.",
        )),
    ]
    if rng.random() < 0.3:
        steps.append(f"Check: {a} * {num(x)} {'+' if b > 0 else '-'} {abs(b)} = {a * x} "
                     f"{'+' if b > 0 else '-'} {abs(b)} = {c}.")
    return Worked(
        task="linear",
        question=rng.choice(questions),
        steps=steps,
        answer=str(x),
        eqs=[shown, f"{a}{v} = {rest}", f"{v} = {rest} / {a}", f"{v} = {x}"],
        lines=linear_solution(a, b, c, v)[0],
        prompt=linear_prompt(a, b, c, v),
        numbers=(a, b, c),
    )


def percentage(ctx: Ctx) -> Worked:
    rng = ctx.rng
    kind = rng.randrange(3)
    if kind == 0:
        p = rng.choice((5, 10, 12, 15, 20, 25, 30, 35, 40, 45, 60, 75, 80, 90, 120))
        n = rng.randint(2, 60) * rng.choice((5, 10, 20))
        r = p * n / 100
        q = rng.choice((f"What is {p}% of {n}?", f"Find {p} percent of {n}.", f"Calculate {p}% of {n}."))
        steps = [f"Write {p}% as a decimal: {p} / 100 = {fmt(p / 100)}.",
                 f"Multiply by {n}: {fmt(p / 100)} * {n} = {fmt(r)}."]
        return Worked("percentage", q, steps, fmt(r), [f"{p}% of {n} = {fmt(p / 100)} * {n}", f"= {fmt(r)}"])
    if kind == 1:
        price = rng.randint(8, 400)
        p = rng.choice((10, 15, 20, 25, 30, 40, 50))
        off = price * p / 100
        sale = price - off
        item = rng.choice(("jacket", "lamp", "pair of boots", "bicycle helmet", "backpack", "blender", "tent"))
        q = f"A {item} costs ${price} and is on sale for {p}% off. What is the sale price?"
        steps = [f"Find the discount: {p}% of {price} is {fmt(p / 100)} * {price} = {fmt(off)}.",
                 f"Subtract it from the original price: {price} - {fmt(off)} = {fmt(sale)}."]
        return Worked("percentage", q, steps, fmt(sale), [f"discount = {fmt(off)}", f"{price} - {fmt(off)} = {fmt(sale)}"])
    old = rng.randint(20, 500)
    new = old + rng.choice((-1, 1)) * old * rng.choice((5, 10, 20, 25, 40, 50)) // 100
    change = new - old
    pct = change / old * 100
    what = rng.choice(("The price of a ticket", "A town's population", "Monthly sales", "The number of visitors"))
    q = f"{what} went from {old} to {new}. What is the percentage change?"
    steps = [f"Find the change: {new} - {old} = {change}.",
             f"Divide by the original value: {change} / {old} = {fmt(change / old, 4)}.",
             f"Multiply by 100 to get a percentage: {fmt(change / old, 4)} * 100 = {fmt(pct)}%."]
    return Worked("percentage", q, steps, f"{fmt(pct)}%", [f"({new} - {old}) / {old} * 100 = {fmt(pct)}%"])


def average(ctx: Ctx) -> Worked:
    rng = ctx.rng
    k = rng.randint(3, 6)
    while True:
        values = [rng.randint(10, 99) for _ in range(k)]
        values[-1] += (-sum(values)) % k  # make the mean a whole number
        # A sum of three small numbers would work out a two-step arithmetic probe's problem.
        if k > 3 or max(values) > 20:
            break
    total = sum(values)
    mean = total // k
    shown = join_and([str(v) for v in values])
    who = ctx.pick(("Ana", "Ben", "Kofi", "Lena", "Ravi", "Sara", "Tariq", "Yuki"))
    q = rng.choice((
        f"Find the mean of {shown}.",
        f"What is the average of {shown}?",
        f"{who} scored {shown} on {k} quizzes. What is the average score?",
    ))
    steps = [f"Add the values: {' + '.join(map(str, values))} = {total}.",
             f"Count them: there are {k} values.",
             f"Divide the total by the count: {total} / {k} = {mean}."]
    return Worked("average", q, steps, str(mean), [f"sum = {total}", f"mean = {total} / {k} = {mean}"])


def area(ctx: Ctx) -> Worked:
    rng = ctx.rng
    kind = rng.randrange(4)
    unit = rng.choice(("cm", "m", "in", "ft"))
    if kind == 0:
        w, h = rng.randint(3, 40), rng.randint(3, 40)
        q = f"A rectangle is {w} {unit} long and {h} {unit} wide. What is its area?"
        steps = ["The area of a rectangle is length times width.", f"Multiply: {w} * {h} = {w * h}.",
                 f"So the area is {w * h} square {unit}."]
        return Worked("area", q, steps, str(w * h), [f"A = {w} * {h} = {w * h}"])
    if kind == 1:
        w, h = rng.randint(3, 60), rng.randint(3, 60)
        if max(w, h) <= 20:
            # (w + h) * 2 with small sides would be an arithmetic probe's problem.
            w += 21
        q = f"What is the perimeter of a rectangle measuring {w} {unit} by {h} {unit}?"
        steps = [f"Add the length and the width: {w} + {h} = {w + h}.",
                 f"Double the sum, since each side appears twice: 2 * {w + h} = {2 * (w + h)}."]
        return Worked("area", q, steps, str(2 * (w + h)), [f"P = 2 * ({w} + {h}) = {2 * (w + h)}"])
    if kind == 2:
        base, height = rng.randint(2, 30) * 2, rng.randint(3, 40)
        q = f"A triangle has a base of {base} {unit} and a height of {height} {unit}. Find its area."
        steps = [f"Multiply the base by the height: {base} * {height} = {base * height}.",
                 f"Divide by 2: {base * height} / 2 = {base * height // 2}."]
        return Worked("area", q, steps, str(base * height // 2), [f"A = {base} * {height} / 2 = {base * height // 2}"])
    r = rng.randint(2, 25)
    a = round(3.14 * r * r, 2)
    q = f"Find the area of a circle with radius {r} {unit}. Use 3.14 for pi."
    steps = [f"Square the radius: {r} * {r} = {r * r}.", f"Multiply by pi: 3.14 * {r * r} = {fmt(a)}."]
    return Worked("area", q, steps, fmt(a), [f"A = 3.14 * {r}^2 = {fmt(a)}"])


def conversion(ctx: Ctx) -> Worked:
    rng = ctx.rng
    kind = rng.randrange(5)
    if kind == 0:
        c = rng.randint(-4, 9) * 5
        t = c * 9 // 5
        q = f"Convert {c} degrees Celsius to Fahrenheit."
        steps = [f"Multiply by 9/5: {c} * 9 / 5 = {t}.", f"Add 32: {t} + 32 = {t + 32}."]
        return Worked("conversion", q, steps, str(t + 32), [f"F = {c} * 9/5 + 32 = {t + 32}"])
    if kind == 1:
        c = rng.randint(-4, 9) * 5
        f = c * 9 // 5 + 32
        q = f"What is {f} degrees Fahrenheit in Celsius?"
        steps = [f"Subtract 32: {f} - 32 = {f - 32}.", f"Multiply by 5/9: {f - 32} * 5 / 9 = {c}."]
        return Worked("conversion", q, steps, str(c), [f"C = ({f} - 32) * 5/9 = {c}"])
    if kind == 2:
        km = rng.randint(5, 300)
        miles = km / 1.609
        q = f"How many miles is {km} kilometres? (1 mile = 1.609 km)"
        steps = [f"Divide the distance in kilometres by 1.609: {km} / 1.609 = {fmt(miles)}."]
        return Worked("conversion", q, steps, fmt(miles), [f"{km} / 1.609 = {fmt(miles)}"])
    if kind == 3:
        h = rng.randint(1, 20) / 2
        q = f"How many minutes are there in {fmt(h)} hours?"
        steps = ["There are 60 minutes in an hour.", f"Multiply: {fmt(h)} * 60 = {fmt(h * 60)}."]
        return Worked("conversion", q, steps, fmt(h * 60), [f"{fmt(h)} * 60 = {fmt(h * 60)}"])
    inches = rng.randint(2, 80)
    q = f"Convert {inches} inches to centimetres."
    steps = ["One inch is 2.54 centimetres.", f"Multiply: {inches} * 2.54 = {fmt(inches * 2.54)}."]
    return Worked("conversion", q, steps, fmt(inches * 2.54), [f"{inches} * 2.54 = {fmt(inches * 2.54)}"])


def gcd(ctx: Ctx) -> Worked:
    rng = ctx.rng
    while True:
        g = rng.randint(2, 24)
        p, q = rng.randint(2, 30), rng.randint(2, 30)
        if p != q and math.gcd(p, q) == 1:
            break
    a, b = g * max(p, q), g * min(p, q)
    question = rng.choice((
        f"Find the greatest common divisor of {a} and {b}.", f"What is gcd({a}, {b})?",
        f"Use Euclid's algorithm to find the GCD of {a} and {b}.",
    ))
    steps, eqs = [], []
    x, y = a, b
    while y:
        eq = f"{x} = {x // y} * {y} + {x % y}"
        steps.append(f"Divide {x} by {y}: {eq}.")
        eqs.append(eq)
        x, y = y, x % y
    steps.append(f"The remainder is 0, so the GCD is the last divisor, {x}.")
    return Worked("gcd", question, steps, str(x), eqs)


_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19)


def prime(ctx: Ctx) -> Worked:
    rng = ctx.rng
    n = rng.randrange(51, 400, 2)
    q = rng.choice((f"Is {n} a prime number?", f"Determine whether {n} is prime.", f"Check if {n} is prime."))
    steps = [f"{n} is odd, so 2 does not divide it.",
             f"We only need to test primes up to the square root of {n}, which is about {fmt(math.sqrt(n), 1)}."]
    answer = "yes"
    for p in _SMALL_PRIMES:
        if p * p > n:
            break
        if n % p == 0:
            steps.append(f"{n} / {p} = {n // p} exactly, so {n} = {p} * {n // p} is not prime.")
            answer = "no"
            break
        steps.append(f"{n} / {p} leaves a remainder of {n % p}.")
    if answer == "yes":
        steps.append(f"No prime up to the square root divides {n}, so {n} is prime.")
    return Worked("prime", q, steps, answer, [f"{n} mod {p} = {n % p}" for p in _SMALL_PRIMES if p * p <= n])


def factorial(ctx: Ctx) -> Worked:
    n = ctx.rng.randint(4, 10)
    q = ctx.pick((f"Compute {n}!.", f"What is {n} factorial?", f"Find the value of {n}!."))
    steps, acc = [], 1
    for k in range(2, n + 1):
        steps.append(f"{acc} * {k} = {acc * k}.")
        acc *= k
    steps[0] = "Multiply the whole numbers from 1 up: " + steps[0]
    return Worked("factorial", q, steps, str(acc), [f"{n}! = {' * '.join(map(str, range(n, 0, -1)))} = {acc}"])


def fibonacci(ctx: Ctx) -> Worked:
    n = ctx.rng.randint(8, 16)
    terms = [1, 1]
    while len(terms) < n:
        terms.append(terms[-1] + terms[-2])
    q = f"What is term number {n} of the Fibonacci sequence 1, 1, 2, 3, 5, ...?"
    steps = ["Each term is the sum of the two before it, starting from 1 and 1."]
    steps += [f"{terms[i - 2]} + {terms[i - 1]} = {terms[i]}." for i in range(2, n)]
    return Worked("fibonacci", q, steps, str(terms[-1]), [", ".join(map(str, terms))])


def interest(ctx: Ctx) -> Worked:
    rng = ctx.rng
    principal = rng.randint(2, 40) * 250
    rate = rng.choice((2, 3, 4, 5, 6, 8))
    years = rng.randint(2, 4)
    if rng.random() < 0.6:
        q = f"You deposit ${principal:,} at {rate}% interest compounded yearly. How much is in the account after {years} years?"
        steps, amount = [], float(principal)
        factor = 1 + rate / 100
        for y in range(1, years + 1):
            new = round(amount * factor, 2)
            steps.append(f"After year {y}: {amount:.2f} * {fmt(factor, 2)} = {new:.2f}.")
            amount = new
        return Worked("interest", q, steps, f"{amount:.2f}", [f"A = {principal} * {fmt(factor)}^{years} = {amount:.2f}"])
    i = principal * rate * years / 100
    q = f"What is the simple interest on ${principal:,} at {rate}% per year for {years} years?"
    steps = ["Simple interest is principal times rate times time.",
             f"Multiply: {principal} * {fmt(rate / 100)} * {years} = {fmt(i)}."]
    return Worked("interest", q, steps, fmt(i), [f"I = {principal} * {fmt(rate / 100)} * {years} = {fmt(i)}"])


def sorting(ctx: Ctx) -> Worked:
    rng = ctx.rng
    values = rng.sample(range(1, 100), rng.randint(5, 7))
    q = rng.choice((f"Sort the list {values} in ascending order using bubble sort.",
                    f"Show the passes of bubble sort on {values}."))
    steps, xs = [], list(values)
    for k in range(1, len(xs)):
        swapped = False
        for i in range(len(xs) - k):
            if xs[i] > xs[i + 1]:
                xs[i], xs[i + 1] = xs[i + 1], xs[i]
                swapped = True
        steps.append(f"Pass {k}: {xs}.")
        if not swapped:
            steps.append("No swaps were made in this pass, so the list is sorted.")
            break
    return Worked("sorting", q, steps, str(xs), [f"{values} -> {xs}"])


_TRIPLES = ((3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29), (9, 40, 41))


def pythagoras(ctx: Ctx) -> Worked:
    rng = ctx.rng
    k = rng.randint(1, 5)
    a, b, c = (k * s for s in rng.choice(_TRIPLES))
    if rng.random() < 0.7:
        q = f"A right triangle has legs of length {a} and {b}. How long is the hypotenuse?"
        steps = [f"Square the legs: {a}^2 = {a * a} and {b}^2 = {b * b}.",
                 f"Add the squares: {a * a} + {b * b} = {c * c}.",
                 f"Take the square root: sqrt({c * c}) = {c}."]
        return Worked("pythagoras", q, steps, str(c), [f"c = sqrt({a}^2 + {b}^2) = sqrt({c * c}) = {c}"])
    q = f"The hypotenuse of a right triangle is {c} and one leg is {a}. Find the other leg."
    steps = [f"Square both: {c}^2 = {c * c} and {a}^2 = {a * a}.",
             f"Subtract: {c * c} - {a * a} = {b * b}.", f"Take the square root: sqrt({b * b}) = {b}."]
    return Worked("pythagoras", q, steps, str(b), [f"b = sqrt({c}^2 - {a}^2) = {b}"])


def speed(ctx: Ctx) -> Worked:
    rng = ctx.rng
    s = rng.randrange(30, 125, 5)
    t = rng.choice((0.5, 1.5, 2, 2.5, 3, 4, 5))
    d = s * t
    vehicle = rng.choice(("A train", "A car", "A cyclist", "A bus", "A ferry"))
    if rng.random() < 0.6:
        q = f"{vehicle} travels {fmt(d)} km in {fmt(t)} hours. What is its average speed?"
        steps = ["Average speed is distance divided by time.", f"Divide: {fmt(d)} / {fmt(t)} = {s} km/h."]
        return Worked("speed", q, steps, str(s), [f"v = {fmt(d)} / {fmt(t)} = {s}"])
    q = f"{vehicle} covers {fmt(d)} km at {s} km/h. How many hours does the trip take?"
    steps = ["Time is distance divided by speed.", f"Divide: {fmt(d)} / {s} = {fmt(t)} hours."]
    return Worked("speed", q, steps, fmt(t), [f"t = {fmt(d)} / {s} = {fmt(t)}"])


def distance(ctx: Ctx) -> Worked:
    rng = ctx.rng
    k = rng.randint(1, 3)
    a, b, c = (k * s for s in rng.choice(_TRIPLES[:3]))
    x1, y1 = rng.randint(-20, 60), rng.randint(-20, 60)
    x2, y2 = x1 + a * rng.choice((-1, 1)), y1 + b * rng.choice((-1, 1))
    q = f"Find the distance between the points ({x1}, {y1}) and ({x2}, {y2})."
    steps = [f"The horizontal difference is {x2} - {num(x1)} = {x2 - x1}.",
             f"The vertical difference is {y2} - {num(y1)} = {y2 - y1}.",
             f"Square and add: {num(x2 - x1)}^2 + {num(y2 - y1)}^2 = {a * a} + {b * b} = {c * c}.",
             f"Take the square root: sqrt({c * c}) = {c}."]
    return Worked("distance", q, steps, str(c), [f"d = sqrt({a * a} + {b * b}) = {c}"])


SAMPLERS = {
    "arithmetic": arithmetic, "slope": slope, "linear": linear, "percentage": percentage, "average": average,
    "area": area, "conversion": conversion, "gcd": gcd, "prime": prime, "factorial": factorial,
    "fibonacci": fibonacci, "interest": interest, "sorting": sorting, "pythagoras": pythagoras, "speed": speed,
    "distance": distance,
}


def sample(ctx: Ctx, task: str) -> Worked:
    return SAMPLERS[task](ctx)


# --- layouts ---------------------------------------------------------------------------------------------


def _clause(step: str) -> str:
    """A step sentence as it reads after a connector: 'So the slope is 3.' -> 'the slope is 3.'"""
    for word in ("Now ", "So ", "Therefore "):
        step = step.removeprefix(word)
    return lower_first(step)


def reference_lines(w: Worked) -> list[str]:
    """The probes' step lines for probe tasks; a 'First, ... Then ...' version of the steps otherwise."""
    if w.lines:
        return list(w.lines)
    out = ["First, " + _clause(w.steps[0])]
    out += ["Then " + _clause(s) for s in w.steps[1:]]
    return out


_CONNECTORS = ("First, ", "Next, ", "Then ", "After that, ", "Now ")


def solution(w: Worked, rng: random.Random, style: str | None = None) -> str:
    """The worked solution of `w` in one of several layouts."""
    style = style or rng.choices(("reference", "numbered", "markdown", "prose", "terse"), (4, 2, 2, 2, 1))[0]
    if style == "reference":
        return "\n".join([*reference_lines(w), f"The answer is {w.answer}."])
    if style == "numbered":
        label = rng.choice(("Step {}: ", "Step {}. ", "({}) ", "{}) "))
        body = "\n".join(label.format(i) + s for i, s in enumerate(w.steps, 1))
        return body + "\n" + rng.choice(("Answer: {}", "Final answer: {}", "So the answer is {}.")).format(w.answer)
    if style == "markdown":
        body = "\n".join(f"{i}. {s}" for i, s in enumerate(w.steps, 1))
        return body + "\n\n" + rng.choice(("**Answer:** {}", "**Result: {}**", "> Answer: {}")).format(w.answer)
    if style == "prose":
        parts = []
        for i, s in enumerate(w.steps):
            if i == 0:
                parts.append(rng.choice(("First, ", "To begin, ", "Start like this: ")) + _clause(s))
            elif i == len(w.steps) - 1 and i > 1:
                parts.append("Finally, " + _clause(s))
            else:
                parts.append(_CONNECTORS[1 + (i % 4)] + _clause(s))
        ending = rng.choice(("So the answer is {}.", "This gives {}.", "Hence the result is {}.",
                             "The answer is {}."))
        return " ".join(parts) + " " + ending.format(w.answer)
    eqs = w.eqs or [s.rstrip(".") for s in w.steps]
    return "\n".join(eqs) + "\n" + rng.choice(("Answer: {}", "=> {}", "Result: {}")).format(w.answer)


def present(w: Worked, rng: random.Random, index: int = 1, style: str | None = None) -> str:
    """Question and solution together, as an exercise, example or Q/A pair."""
    sol = solution(w, rng, style)
    if w.prompt and rng.random() < 0.3:
        # The probes' own prompt form, so a small LM sees the format it is queried with.
        return f"{w.prompt}{STEP_BY_STEP}\n{solution(w, rng, 'reference')}"
    form = rng.randrange(6)
    if form == 0:
        return f"Problem {index}. {w.question}\n\nSolution. {sol}"
    if form == 1:
        return f"Q: {w.question}\nA: {sol}"
    if form == 2:
        return f"Example {index}: {w.question}\n\n{sol}"
    if form == 3:
        return f"**Exercise {index}.** {w.question}\n\n*Solution.*\n{sol}"
    if form == 4:
        return f"{index}. {w.question}\n{sol}"
    return f"{w.question}\n\n{sol}"


# What each task is, in words: for titles, how-to questions, definitions (non-procedural) and formulas.
TASK_INFO: dict[str, dict[str, str]] = load("procedures.toml")
