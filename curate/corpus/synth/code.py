"""Source-code documents: Python and JavaScript that computes (procedural) and code that only declares,
configures or documents (non-procedural).

Every example call shown with its output is computed here by Python code that mirrors the snippet, and the
tests run the Python snippets to check that the outputs they claim are the ones they print.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from attribution.probes import OP_VERB, arithmetic_expression, arithmetic_solution
from curate.corpus.synth.common import Ctx, words
from curate.corpus.synth.facts import FACTS
from curate.corpus.synth.procedures import TASKS, arithmetic_instance, linear_instance, slope_instance

CODE_TASKS = TASKS + ("string", "search")


@dataclass
class Impl:
    """One implementation of a task in one language; <<fn>> and <<doc>> in `source` are filled in."""

    lang: str  # "python" or "javascript"
    names: tuple[str, ...]
    summary: str
    params: tuple[tuple[str, str], ...]
    source: str
    args: Callable[[random.Random], tuple]
    result: Callable[..., object]
    call: str = "<<fn>>({args})"  # {args} is the comma-separated argument list
    prints: Callable[..., list[str]] | None = None  # the lines the function prints, if it prints
    imports: str = ""


# --- value formatting as each language prints it --------------------------------------------------------


def py_repr(v: object) -> str:
    return repr(v)


def js_repr(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return ", ".join(js_repr(x) for x in v)  # demos print arrays with .join(", ")
    if isinstance(v, str):
        return v
    return repr(v)


def _args_text(args: tuple, lang: str) -> str:
    out = []
    for a in args:
        if isinstance(a, tuple):
            out.append(("(" if lang == "python" else "[") + ", ".join(map(str, a)) + (")" if lang == "python" else "]"))
        elif isinstance(a, list):
            out.append("[" + ", ".join(map(str, a)) + "]")
        elif isinstance(a, str):
            out.append(json.dumps(a))
        else:
            out.append(str(a))
    return ", ".join(out)


# --- implementations ------------------------------------------------------------------------------------


def _nonneg_slope(rng: random.Random) -> tuple[int, int, int, int]:
    # Step-printing snippets show plain subtractions, so keep their coordinates non-negative.
    while True:
        pts = slope_instance(rng)
        if min(pts) >= 0:
            return pts


def _pos_linear(rng: random.Random) -> tuple[int, int, int]:
    while True:
        a, b, c, x = linear_instance(rng)
        if b > 0 and x > 0:
            return a, b, c


def _slope_lines(x1: int, y1: int, x2: int, y2: int) -> list[str]:
    dy, dx = y2 - y1, x2 - x1
    return [
        "The slope is the change in y divided by the change in x.",
        f"The change in y is {y2} - {y1} = {dy}.",
        f"The change in x is {x2} - {x1} = {dx}.",
        f"So the slope is {dy} / {dx} = {dy // dx}.",
        f"The answer is {dy // dx}.",
    ]


def _linear_lines(a: int, b: int, c: int) -> list[str]:
    rest = c - b
    return [
        f"First, subtract {b} from both sides: {a}x = {c} - {b} = {rest}.",
        f"Then divide both sides by {a}: x = {rest} / {a} = {rest // a}.",
        f"The answer is {rest // a}.",
    ]


def _expr_args(rng: random.Random) -> tuple[str]:
    a, op1, b, op2, c, left = arithmetic_instance(rng)
    return (arithmetic_expression(a, op1, b, op2, c, left),)


def _eval_expr(expression: str) -> int:
    # Both operands of every expression are non-negative, so Python's evaluation matches the snippet's.
    return eval(expression, {"__builtins__": {}})


_PY_EVAL = '''def <<fn>>(expression):
<<doc>>    tokens = re.findall(r"\\d+|[-+*()]", expression)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def factor():
        if peek() == "(":
            take()
            value = expr()
            take()  # the closing parenthesis
            return value
        return int(take())

    def term():
        value = factor()
        while peek() == "*":
            take()
            value *= factor()
        return value

    def expr():
        # additions and subtractions bind loosest, so they are handled last
        value = term()
        while peek() in ("+", "-"):
            op = take()
            value = value + term() if op == "+" else value - term()
        return value

    return expr()
'''

_JS_EVAL = '''function <<fn>>(expression) {
<<doc>>  const tokens = expression.match(/\\d+|[-+*()]/g);
  let pos = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++];

  function factor() {
    if (peek() === "(") {
      take();
      const value = expr();
      take(); // closing parenthesis
      return value;
    }
    return Number(take());
  }

  function term() {
    let value = factor();
    while (peek() === "*") {
      take();
      value *= factor();
    }
    return value;
  }

  function expr() {
    // + and - bind loosest, so they are applied last
    let value = term();
    while (peek() === "+" || peek() === "-") {
      const op = take();
      value = op === "+" ? value + term() : value - term();
    }
    return value;
  }

  return expr();
}
'''


def _two_step_impls(rng: random.Random) -> list[Impl]:
    """Step-printing implementations of one expression shape, e.g. (a - b) * c."""
    op1, op2 = rng.choice("+-*"), rng.choice("+-*")
    left = rng.random() < 0.6
    form = (op1, op2, left)
    shape = f"(a {op1} b) {op2} c" if left else f"a {op1} (b {op2} c)"
    inner_py = f"a {op1} b" if left else f"b {op2} c"
    outer_op = op2 if left else op1
    outer_py = f"inner {op2} c" if left else f"a {op1} inner"
    inner_fmt = f"{{a}} {op1} {{b}}" if left else f"{{b}} {op2} {{c}}"
    outer_fmt = f"{{inner}} {op2} {{c}}" if left else f"{{a}} {op1} {{inner}}"
    py = (
        "def <<fn>>(a, b, c):\n<<doc>>"
        f"    inner = {inner_py}  # parentheses first\n"
        f'    print(f"First, compute the part in parentheses: {inner_fmt} = {{inner}}.")\n'
        f"    result = {outer_py}\n"
        f'    print(f"Then {OP_VERB[outer_op]}: {outer_fmt} = {{result}}.")\n'
        '    print(f"The answer is {result}.")\n'
        "    return result\n"
    )
    js_inner_fmt = inner_fmt.replace("{", "${")
    js_outer_fmt = outer_fmt.replace("{", "${")
    js = (
        "function <<fn>>(a, b, c) {\n<<doc>>"
        f"  const inner = {inner_py}; // parentheses first\n"
        f"  console.log(`First, compute the part in parentheses: {js_inner_fmt} = ${{inner}}.`);\n"
        f"  const result = {outer_py};\n"
        f"  console.log(`Then {OP_VERB[outer_op]}: {js_outer_fmt} = ${{result}}.`);\n"
        "  console.log(`The answer is ${result}.`);\n"
        "  return result;\n"
        "}\n"
    )

    def args(r: random.Random) -> tuple:
        a, _, b, _, c, _ = arithmetic_instance(r, form)
        return a, b, c

    def prints(a: int, b: int, c: int) -> list[str]:
        lines, result = arithmetic_solution(a, op1, b, op2, c, left)
        return [*lines, f"The answer is {result}."]

    def result(a: int, b: int, c: int) -> int:
        return arithmetic_solution(a, op1, b, op2, c, left)[1]

    summary = f"Compute {shape} step by step, printing each step."
    params = (("a", "first operand"), ("b", "second operand"), ("c", "third operand"))
    return [
        Impl("python", ("two_step", "evaluate_steps", "show_work", "solve_expression"), summary, params, py, args,
             result, prints=prints),
        Impl("javascript", ("twoStep", "evaluateSteps", "showWork", "solveExpression"), summary, params, js, args,
             result, prints=prints),
    ]


def impls(rng: random.Random, task: str) -> list[Impl]:
    """The implementations of `task`; some are shaped by `rng` (e.g. which operators a snippet uses)."""
    if task == "arithmetic":
        expr_params = (("expression", "an expression with integers, + - * and parentheses"),)
        return _two_step_impls(rng) + [
            Impl("python", ("evaluate", "calc", "eval_expression"),
                 "Evaluate an integer expression with +, -, * and parentheses.", expr_params, _PY_EVAL,
                 _expr_args, _eval_expr, imports="import re\n"),
            Impl("javascript", ("evaluate", "calc", "evalExpression"),
                 "Evaluate an integer expression with +, -, * and parentheses.", expr_params, _JS_EVAL,
                 _expr_args, _eval_expr),
        ]
    return _TABLE[task]


_PT = (("x1", "x of the first point"), ("y1", "y of the first point"), ("x2", "x of the second point"),
       ("y2", "y of the second point"))
_LIN = (("a", "coefficient of x"), ("b", "constant term"), ("c", "right-hand side"))
_VALUES = (("values", "a non-empty list of numbers"),)


def _ints(lo: int, hi: int, k: int) -> Callable[[random.Random], tuple]:
    return lambda r: tuple(r.randint(lo, hi) for _ in range(k))


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _bubble(values: list[int]) -> list[int]:
    return sorted(values)


def _compound(principal: float, rate: float, years: int) -> float:
    amount = principal
    for _ in range(years):
        amount *= 1 + rate
    return amount


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def _bsearch(values: list[int], target: int) -> int:
    return values.index(target) if target in values else -1


def _search_args(r: random.Random) -> tuple:
    values = sorted(r.sample(range(1, 200), r.randint(6, 10)))
    target = r.choice(values) if r.random() < 0.7 else r.randint(1, 199)
    return values, target


_TABLE: dict[str, list[Impl]] = {
    "slope": [
        Impl("python", ("slope", "get_slope", "slope_between", "line_slope"),
             "Return the slope of the line through (x1, y1) and (x2, y2).", _PT,
             "def <<fn>>(x1, y1, x2, y2):\n<<doc>>    if x2 == x1:\n"
             '        raise ValueError("vertical line: the slope is undefined")\n'
             "    # rise over run\n    return (y2 - y1) / (x2 - x1)\n",
             slope_instance, lambda x1, y1, x2, y2: (y2 - y1) / (x2 - x1)),
        Impl("python", ("slope", "gradient"), "Slope between two points given as (x, y) tuples.",
             (("p", "first point"), ("q", "second point")),
             "def <<fn>>(p, q):\n<<doc>>    (x1, y1), (x2, y2) = p, q\n    dy = y2 - y1\n    dx = x2 - x1\n"
             "    return dy / dx\n",
             lambda r: ((lambda s: ((s[0], s[1]), (s[2], s[3])))(slope_instance(r))),
             lambda p, q: (q[1] - p[1]) / (q[0] - p[0])),
        Impl("python", ("explain_slope", "slope_steps"), "Work out the slope step by step and print each step.", _PT,
             "def <<fn>>(x1, y1, x2, y2):\n<<doc>>    dy = y2 - y1\n    dx = x2 - x1\n"
             '    print("The slope is the change in y divided by the change in x.")\n'
             '    print(f"The change in y is {y2} - {y1} = {dy}.")\n'
             '    print(f"The change in x is {x2} - {x1} = {dx}.")\n'
             '    print(f"So the slope is {dy} / {dx} = {dy // dx}.")\n'
             '    print(f"The answer is {dy // dx}.")\n    return dy // dx\n',
             _nonneg_slope, lambda x1, y1, x2, y2: (y2 - y1) // (x2 - x1), prints=_slope_lines),
        Impl("javascript", ("slope", "getSlope", "slopeBetween"), "Slope of the line through two points.", _PT,
             "function <<fn>>(x1, y1, x2, y2) {\n<<doc>>  if (x2 === x1) {\n"
             '    throw new Error("vertical line: slope is undefined");\n  }\n'
             "  return (y2 - y1) / (x2 - x1); // rise over run\n}\n",
             slope_instance, lambda x1, y1, x2, y2: (y2 - y1) / (x2 - x1)),
        Impl("javascript", ("slope", "gradient"), "Slope between two [x, y] points.",
             (("p", "first point"), ("q", "second point")),
             "const <<fn>> = ([x1, y1], [x2, y2]) => {\n<<doc>>  const rise = y2 - y1;\n  const run = x2 - x1;\n"
             "  return rise / run;\n};\n",
             lambda r: ((lambda s: ((s[0], s[1]), (s[2], s[3])))(slope_instance(r))),
             lambda p, q: (q[1] - p[1]) / (q[0] - p[0])),
        Impl("javascript", ("explainSlope", "slopeSteps"), "Print the steps of a slope computation.", _PT,
             "function <<fn>>(x1, y1, x2, y2) {\n<<doc>>  const dy = y2 - y1;\n  const dx = x2 - x1;\n"
             '  console.log("The slope is the change in y divided by the change in x.");\n'
             "  console.log(`The change in y is ${y2} - ${y1} = ${dy}.`);\n"
             "  console.log(`The change in x is ${x2} - ${x1} = ${dx}.`);\n"
             "  console.log(`So the slope is ${dy} / ${dx} = ${dy / dx}.`);\n"
             "  console.log(`The answer is ${dy / dx}.`);\n  return dy / dx;\n}\n",
             _nonneg_slope, lambda x1, y1, x2, y2: (y2 - y1) // (x2 - x1), prints=_slope_lines),
    ],
    "linear": [
        Impl("python", ("solve_linear", "solve", "solve_for_x"), "Solve a*x + b = c for x.", _LIN,
             "def <<fn>>(a, b, c):\n<<doc>>    if a == 0:\n"
             '        raise ValueError("a must be non-zero")\n'
             "    # subtract b from both sides, then divide by a\n    return (c - b) / a\n",
             lambda r: linear_instance(r)[:3], lambda a, b, c: (c - b) / a),
        Impl("python", ("solve_steps", "explain_linear"), "Solve a*x + b = c and print the steps.", _LIN,
             "def <<fn>>(a, b, c):\n<<doc>>    rest = c - b\n"
             '    print(f"First, subtract {b} from both sides: {a}x = {c} - {b} = {rest}.")\n'
             "    x = rest // a\n"
             '    print(f"Then divide both sides by {a}: x = {rest} / {a} = {x}.")\n'
             '    print(f"The answer is {x}.")\n    return x\n',
             _pos_linear, lambda a, b, c: (c - b) // a, prints=_linear_lines),
        Impl("javascript", ("solveLinear", "solve", "solveForX"), "Solve a*x + b = c.", _LIN,
             "function <<fn>>(a, b, c) {\n<<doc>>  if (a === 0) {\n"
             '    throw new RangeError("a must not be zero");\n  }\n  const x = (c - b) / a;\n  return x;\n}\n',
             lambda r: linear_instance(r)[:3], lambda a, b, c: (c - b) / a),
        Impl("javascript", ("solveSteps", "explainLinear"), "Solve a*x + b = c, logging every step.", _LIN,
             "function <<fn>>(a, b, c) {\n<<doc>>  const rest = c - b;\n"
             "  console.log(`First, subtract ${b} from both sides: ${a}x = ${c} - ${b} = ${rest}.`);\n"
             "  const x = rest / a;\n"
             "  console.log(`Then divide both sides by ${a}: x = ${rest} / ${a} = ${x}.`);\n"
             "  console.log(`The answer is ${x}.`);\n  return x;\n}\n",
             _pos_linear, lambda a, b, c: (c - b) // a, prints=_linear_lines),
    ],
    "percentage": [
        Impl("python", ("percent_of", "percentage"), "Return p percent of n.", (("p", "percent"), ("n", "amount")),
             "def <<fn>>(p, n):\n<<doc>>    return p * n / 100\n",
             lambda r: (r.choice((5, 10, 15, 20, 25, 30, 40, 75)), r.randint(10, 900)), lambda p, n: p * n / 100),
        Impl("python", ("percent_change", "pct_change"), "Percentage change from old to new.",
             (("old", "starting value"), ("new", "final value")),
             "def <<fn>>(old, new):\n<<doc>>    if old == 0:\n"
             '        raise ZeroDivisionError("no percentage change from zero")\n'
             "    return (new - old) / old * 100\n",
             _ints(20, 400, 2), lambda old, new: (new - old) / old * 100),
        Impl("javascript", ("percentOf", "percentage"), "p percent of n.", (("p", "percent"), ("n", "amount")),
             "const <<fn>> = (p, n) => {\n<<doc>>  return (p * n) / 100;\n};\n",
             lambda r: (r.choice((5, 10, 15, 20, 25, 30, 40, 75)), r.randint(10, 900)), lambda p, n: p * n / 100),
        Impl("javascript", ("applyDiscount", "salePrice"), "Price after a percentage discount.",
             (("price", "original price"), ("percent", "discount in percent")),
             "function <<fn>>(price, percent) {\n<<doc>>  const discount = (price * percent) / 100;\n"
             "  return price - discount;\n}\n",
             lambda r: (r.randint(5, 500), r.choice((10, 15, 20, 25, 50))), lambda p, q: p - p * q / 100),
    ],
    "average": [
        Impl("python", ("mean", "average"), "Arithmetic mean of a list of numbers.", _VALUES,
             "def <<fn>>(values):\n<<doc>>    if not values:\n"
             '        raise ValueError("mean of an empty list")\n    return sum(values) / len(values)\n',
             lambda r: ([r.randint(1, 99) for _ in range(r.randint(3, 7))],), lambda v: sum(v) / len(v)),
        Impl("python", ("mean", "running_mean"), "Mean computed with an explicit loop.", _VALUES,
             "def <<fn>>(values):\n<<doc>>    total = 0\n    count = 0\n    for v in values:\n"
             "        total += v\n        count += 1\n    return total / count\n",
             lambda r: ([r.randint(1, 99) for _ in range(r.randint(3, 7))],), lambda v: sum(v) / len(v)),
        Impl("javascript", ("mean", "average"), "Average of an array of numbers.", _VALUES,
             "function <<fn>>(values) {\n<<doc>>  const total = values.reduce((sum, v) => sum + v, 0);\n"
             "  return total / values.length;\n}\n",
             lambda r: ([r.randint(1, 99) for _ in range(r.randint(3, 7))],), lambda v: sum(v) / len(v)),
    ],
    "area": [
        Impl("python", ("circle_area", "area_of_circle"), "Area of a circle with radius r.", (("r", "radius"),),
             "def <<fn>>(r):\n<<doc>>    return math.pi * r ** 2\n", _ints(1, 30, 1), lambda r: math.pi * r ** 2,
             imports="import math\n"),
        Impl("python", ("rect_perimeter", "perimeter"), "Perimeter of a w by h rectangle.",
             (("w", "width"), ("h", "height")),
             "def <<fn>>(w, h):\n<<doc>>    # each side appears twice\n    return 2 * (w + h)\n",
             _ints(1, 80, 2), lambda w, h: 2 * (w + h)),
        Impl("javascript", ("triangleArea", "areaOfTriangle"), "Area of a triangle from base and height.",
             (("base", "base length"), ("height", "height")),
             "function <<fn>>(base, height) {\n<<doc>>  return (base * height) / 2;\n}\n",
             _ints(1, 60, 2), lambda b, h: b * h / 2),
        Impl("javascript", ("circleArea", "areaOfCircle"), "Area of a circle.", (("r", "radius"),),
             "const <<fn>> = (r) => {\n<<doc>>  return Math.PI * r ** 2;\n};\n", _ints(1, 30, 1),
             lambda r: math.pi * r ** 2),
    ],
    "conversion": [
        Impl("python", ("celsius_to_fahrenheit", "c_to_f"), "Convert degrees Celsius to Fahrenheit.",
             (("c", "temperature in Celsius"),),
             "def <<fn>>(c):\n<<doc>>    return c * 9 / 5 + 32\n", _ints(-30, 45, 1), lambda c: c * 9 / 5 + 32),
        Impl("python", ("km_to_miles", "to_miles"), "Convert kilometres to miles.", (("km", "distance in km"),),
             "KM_PER_MILE = 1.609344\n\n\ndef <<fn>>(km):\n<<doc>>    return km / KM_PER_MILE\n",
             _ints(1, 500, 1), lambda km: km / 1.609344),
        Impl("javascript", ("fahrenheitToCelsius", "fToC"), "Convert Fahrenheit to Celsius.",
             (("f", "temperature in Fahrenheit"),),
             "function <<fn>>(f) {\n<<doc>>  return ((f - 32) * 5) / 9;\n}\n", _ints(-20, 110, 1),
             lambda f: (f - 32) * 5 / 9),
        Impl("javascript", ("hoursToMinutes", "toMinutes"), "Convert hours to minutes.", (("hours", "hours"),),
             "const <<fn>> = (hours) => {\n<<doc>>  return hours * 60;\n};\n", _ints(1, 48, 1), lambda h: h * 60),
    ],
    "gcd": [
        Impl("python", ("gcd", "greatest_common_divisor"), "Greatest common divisor by Euclid's algorithm.",
             (("a", "first integer"), ("b", "second integer")),
             "def <<fn>>(a, b):\n<<doc>>    while b:\n        a, b = b, a % b\n    return a\n",
             _ints(10, 999, 2), math.gcd),
        Impl("python", ("gcd", "euclid"), "Recursive Euclidean algorithm.",
             (("a", "first integer"), ("b", "second integer")),
             "def <<fn>>(a, b):\n<<doc>>    if b == 0:\n        return a\n    return <<fn>>(b, a % b)\n",
             _ints(10, 999, 2), math.gcd),
        Impl("javascript", ("gcd", "greatestCommonDivisor"), "Greatest common divisor of two integers.",
             (("a", "first integer"), ("b", "second integer")),
             "function <<fn>>(a, b) {\n<<doc>>  while (b !== 0) {\n    [a, b] = [b, a % b];\n  }\n  return a;\n}\n",
             _ints(10, 999, 2), math.gcd),
    ],
    "prime": [
        Impl("python", ("is_prime", "isprime"), "Trial division primality test.", (("n", "integer to test"),),
             "def <<fn>>(n):\n<<doc>>    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n"
             "        if n % i == 0:\n            return False\n        i += 1\n    return True\n",
             _ints(2, 500, 1), _is_prime),
        Impl("python", ("primes_up_to", "sieve"), "All primes up to n, by the sieve of Eratosthenes.",
             (("n", "upper limit"),),
             "def <<fn>>(n):\n<<doc>>    is_prime = [True] * (n + 1)\n    is_prime[0:2] = [False, False]\n"
             "    for i in range(2, int(n ** 0.5) + 1):\n        if is_prime[i]:\n"
             "            for j in range(i * i, n + 1, i):\n                is_prime[j] = False\n"
             "    return [i for i, p in enumerate(is_prime) if p]\n",
             _ints(10, 60, 1), lambda n: [i for i in range(2, n + 1) if _is_prime(i)]),
        Impl("javascript", ("isPrime",), "Check whether n is prime by trial division.", (("n", "integer"),),
             "function <<fn>>(n) {\n<<doc>>  if (n < 2) return false;\n  for (let i = 2; i * i <= n; i++) {\n"
             "    if (n % i === 0) return false;\n  }\n  return true;\n}\n",
             _ints(2, 500, 1), _is_prime),
    ],
    "factorial": [
        Impl("python", ("factorial", "fact"), "n! computed iteratively.", (("n", "a non-negative integer"),),
             "def <<fn>>(n):\n<<doc>>    result = 1\n    for k in range(2, n + 1):\n        result *= k\n"
             "    return result\n", _ints(0, 15, 1), math.factorial),
        Impl("python", ("factorial", "fact"), "n! computed recursively.", (("n", "a non-negative integer"),),
             "def <<fn>>(n):\n<<doc>>    return 1 if n <= 1 else n * <<fn>>(n - 1)\n", _ints(0, 15, 1),
             math.factorial),
        Impl("javascript", ("factorial",), "Factorial of n.", (("n", "a non-negative integer"),),
             "function <<fn>>(n) {\n<<doc>>  let result = 1;\n  for (let k = 2; k <= n; k++) {\n"
             "    result *= k;\n  }\n  return result;\n}\n", _ints(0, 15, 1), math.factorial),
    ],
    "fibonacci": [
        Impl("python", ("fib", "fibonacci", "nth_fibonacci"), "The n-th Fibonacci number (fib(0) == 0).",
             (("n", "index"),),
             "def <<fn>>(n):\n<<doc>>    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
             "    return a\n", _ints(0, 30, 1), _fib),
        Impl("javascript", ("fib", "fibonacci"), "n-th Fibonacci number.", (("n", "index"),),
             "function <<fn>>(n) {\n<<doc>>  let a = 0;\n  let b = 1;\n  for (let i = 0; i < n; i++) {\n"
             "    [a, b] = [b, a + b];\n  }\n  return a;\n}\n", _ints(0, 30, 1), _fib),
    ],
    "interest": [
        Impl("python", ("compound", "grow"), "Balance after compounding a yearly rate.",
             (("principal", "starting amount"), ("rate", "yearly rate, e.g. 0.05"), ("years", "whole years")),
             "def <<fn>>(principal, rate, years):\n<<doc>>    amount = principal\n    for _ in range(years):\n"
             "        amount *= 1 + rate\n    return amount\n",
             lambda r: (r.randint(1, 40) * 250, r.choice((0.02, 0.03, 0.05, 0.08)), r.randint(1, 10)), _compound),
        Impl("javascript", ("compound", "futureValue"), "Compound a deposit year by year.",
             (("principal", "starting amount"), ("rate", "yearly rate"), ("years", "number of years")),
             "function <<fn>>(principal, rate, years) {\n<<doc>>  let amount = principal;\n"
             "  for (let y = 0; y < years; y++) {\n    amount *= 1 + rate;\n  }\n  return amount;\n}\n",
             lambda r: (r.randint(1, 40) * 250, r.choice((0.02, 0.03, 0.05, 0.08)), r.randint(1, 10)), _compound),
    ],
    "sorting": [
        Impl("python", ("bubble_sort", "sort_numbers"), "Sort a list with bubble sort and return it.", _VALUES,
             "def <<fn>>(values):\n<<doc>>    xs = list(values)\n    for end in range(len(xs) - 1, 0, -1):\n"
             "        for i in range(end):\n            if xs[i] > xs[i + 1]:\n"
             "                xs[i], xs[i + 1] = xs[i + 1], xs[i]\n    return xs\n",
             lambda r: (r.sample(range(1, 100), r.randint(5, 8)),), _bubble),
        Impl("python", ("insertion_sort",), "Insertion sort, returning a new list.", _VALUES,
             "def <<fn>>(values):\n<<doc>>    out = []\n    for v in values:\n        i = len(out)\n"
             "        while i > 0 and out[i - 1] > v:\n            i -= 1\n        out.insert(i, v)\n    return out\n",
             lambda r: (r.sample(range(1, 100), r.randint(5, 8)),), _bubble),
        Impl("javascript", ("bubbleSort", "sortNumbers"), "Bubble sort on a copy of the array.", _VALUES,
             "function <<fn>>(values) {\n<<doc>>  const xs = [...values];\n"
             "  for (let end = xs.length - 1; end > 0; end--) {\n    for (let i = 0; i < end; i++) {\n"
             "      if (xs[i] > xs[i + 1]) {\n        [xs[i], xs[i + 1]] = [xs[i + 1], xs[i]];\n      }\n    }\n"
             "  }\n  return xs;\n}\n",
             lambda r: (r.sample(range(1, 100), r.randint(5, 8)),), _bubble, call="<<fn>>({args}).join(\", \")"),
    ],
    "pythagoras": [
        Impl("python", ("hypotenuse", "hyp"), "Length of the hypotenuse from the two legs.",
             (("a", "first leg"), ("b", "second leg")),
             "def <<fn>>(a, b):\n<<doc>>    return math.sqrt(a * a + b * b)\n", _ints(1, 40, 2),
             lambda a, b: math.sqrt(a * a + b * b), imports="import math\n"),
        Impl("javascript", ("hypotenuse",), "Hypotenuse of a right triangle.",
             (("a", "first leg"), ("b", "second leg")),
             "const <<fn>> = (a, b) => {\n<<doc>>  return Math.sqrt(a * a + b * b);\n};\n", _ints(1, 40, 2),
             lambda a, b: math.sqrt(a * a + b * b)),
    ],
    "speed": [
        Impl("python", ("average_speed", "speed"), "Average speed from distance and time.",
             (("distance", "distance travelled"), ("hours", "time taken")),
             "def <<fn>>(distance, hours):\n<<doc>>    if hours <= 0:\n"
             '        raise ValueError("time must be positive")\n    return distance / hours\n',
             lambda r: (r.randint(10, 900), r.choice((0.5, 1, 1.5, 2, 3, 4, 6))), lambda d, h: d / h),
        Impl("javascript", ("travelTime",), "Hours needed to cover a distance at a given speed.",
             (("distance", "distance in km"), ("speed", "speed in km/h")),
             "function <<fn>>(distance, speed) {\n<<doc>>  return distance / speed;\n}\n",
             lambda r: (r.randint(10, 900), r.randrange(20, 130, 10)), lambda d, s: d / s),
    ],
    "distance": [
        Impl("python", ("distance", "dist"), "Euclidean distance between two points.", _PT,
             "def <<fn>>(x1, y1, x2, y2):\n<<doc>>    return math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)\n",
             _ints(-50, 150, 4), lambda x1, y1, x2, y2: math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2),
             imports="import math\n"),
        Impl("javascript", ("distance",), "Distance between two points.", _PT,
             "function <<fn>>(x1, y1, x2, y2) {\n<<doc>>  const dx = x2 - x1;\n  const dy = y2 - y1;\n"
             "  return Math.sqrt(dx * dx + dy * dy);\n}\n",
             _ints(-50, 150, 4), lambda x1, y1, x2, y2: math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)),
    ],
    "string": [
        Impl("python", ("is_palindrome",), "True if s reads the same backwards, ignoring case and spaces.",
             (("s", "text"),),
             "def <<fn>>(s):\n<<doc>>    cleaned = \"\".join(ch.lower() for ch in s if ch.isalnum())\n"
             "    return cleaned == cleaned[::-1]\n",
             lambda r: (r.choice(("racecar", "level", "python", "Never odd or even", "banana", "Step on no pets")),),
             lambda s: (lambda c: c == c[::-1])("".join(ch.lower() for ch in s if ch.isalnum()))),
        Impl("python", ("count_vowels",), "Number of vowels in a string.", (("text", "any string"),),
             "def <<fn>>(text):\n<<doc>>    return sum(1 for ch in text.lower() if ch in \"aeiou\")\n",
             lambda r: (r.choice(("hello world", "procedural knowledge", "pretraining data", "queue")),),
             lambda t: sum(1 for ch in t.lower() if ch in "aeiou")),
        Impl("javascript", ("reverseWords",), "Reverse the order of the words in a sentence.",
             (("sentence", "words separated by spaces"),),
             "function <<fn>>(sentence) {\n<<doc>>  return sentence.split(\" \").reverse().join(\" \");\n}\n",
             lambda r: (r.choice(("the quick brown fox", "hello big world", "one two three four")),),
             lambda s: " ".join(reversed(s.split(" ")))),
    ],
    "search": [
        Impl("python", ("binary_search", "bsearch"), "Index of target in a sorted list, or -1.",
             (("values", "sorted list"), ("target", "value to find")),
             "def <<fn>>(values, target):\n<<doc>>    lo, hi = 0, len(values) - 1\n    while lo <= hi:\n"
             "        mid = (lo + hi) // 2\n        if values[mid] == target:\n            return mid\n"
             "        if values[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n"
             "    return -1\n", _search_args, _bsearch),
        Impl("javascript", ("binarySearch",), "Binary search in a sorted array; -1 when absent.",
             (("values", "sorted array"), ("target", "value to find")),
             "function <<fn>>(values, target) {\n<<doc>>  let lo = 0;\n  let hi = values.length - 1;\n"
             "  while (lo <= hi) {\n    const mid = Math.floor((lo + hi) / 2);\n"
             "    if (values[mid] === target) return mid;\n    if (values[mid] < target) lo = mid + 1;\n"
             "    else hi = mid - 1;\n  }\n  return -1;\n}\n", _search_args, _bsearch),
    ],
}


# --- assembling a procedural file -------------------------------------------------------------------------


def _py_doc(rng: random.Random, impl: Impl, examples: list[tuple[str, str]]) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f'    """{impl.summary}"""\n'
    if style == 1:
        args = "".join(f"        {n}: {d}\n" for n, d in impl.params)
        return f'    """{impl.summary}\n\n    Args:\n{args}\n    Returns:\n        The result.\n    """\n'
    if style == 2 and examples and impl.prints is None:
        ex = "".join(f"    >>> {call}\n    {out}\n" for call, out in examples[:2])
        return f'    """{impl.summary}\n\n{ex}    """\n'
    return ""  # a comment above the function instead


def _js_doc(rng: random.Random, impl: Impl) -> str:
    if rng.random() < 0.5:
        return ""
    params = "".join(f" * @param {{number}} {n} - {d}\n" for n, d in impl.params)
    return f"/**\n * {impl.summary}\n{params} */\n"


def render_impl(rng: random.Random, impl: Impl) -> tuple[str, str, list[tuple[str, list[str]]]]:
    """(definition, function name, [(call, output lines)]) for one implementation with 1-3 examples."""
    fn = rng.choice(impl.names)
    calls = []
    for _ in range(rng.randint(1, 2 if impl.prints else 3)):
        args = impl.args(rng)
        call = impl.call.replace("<<fn>>", fn).format(args=_args_text(args, impl.lang))
        if impl.prints:
            out = impl.prints(*args)
        else:
            value = impl.result(*args)
            out = [py_repr(value) if impl.lang == "python" else js_repr(value)]
        calls.append((call, out))
    if impl.lang == "python":
        doc = _py_doc(rng, impl, [(c, o[0]) for c, o in calls])
        source = impl.source.replace("<<doc>>", doc).replace("<<fn>>", fn)
        if not doc:
            source = f"# {impl.summary}\n" + source
    else:
        doc = _js_doc(rng, impl)
        source = doc + impl.source.replace("<<doc>>", "").replace("<<fn>>", fn)
        if not doc:
            source = f"// {impl.summary}\n" + source
    return source, fn, calls


def _py_demo(rng: random.Random, fn: str, calls: list[tuple[str, list[str]]], prints: bool) -> str:
    style = rng.randrange(3)
    if prints:
        body = "".join(f"    {call}\n" for call, _ in calls)
        out = "".join(f"# {line}\n" for _, lines in calls for line in lines)
        return f'\n\nif __name__ == "__main__":\n{body}\n# Output:\n{out}'
    if style == 0:
        body = "".join(f"    print({call})  # {lines[0]}\n" for call, lines in calls)
        return f'\n\nif __name__ == "__main__":\n{body}'
    if style == 1:
        body = "".join(f"    assert {call} == {lines[0]}\n" for call, lines in calls)
        return f"\n\ndef test_{fn}():\n{body}"
    return "\n\n" + "".join(f"print({call})\n" for call, _ in calls) + "# prints:\n" + "".join(
        f"# {lines[0]}\n" for _, lines in calls)


def _js_demo(rng: random.Random, fn: str, calls: list[tuple[str, list[str]]], prints: bool) -> str:
    if prints:
        body = "".join(f"{call};\n" for call, _ in calls)
        return "\n" + body + "// Output:\n" + "".join(f"// {line}\n" for _, lines in calls for line in lines)
    style = rng.randrange(3)
    if style == 0:
        return "\n" + "".join(f"console.log({call}); // {lines[0]}\n" for call, lines in calls)
    if style == 1:
        tests = "".join(f"  expect({call}).toEqual({_js_literal(lines[0])});\n" for call, lines in calls)
        return f'\ntest("{fn} works", () => {{\n{tests}}});\n'
    return "\n" + "".join(f"console.log({call}); // => {lines[0]}\n" for call, lines in calls) + \
        f"\nmodule.exports = {{ {fn} }};\n"


def _js_literal(printed: str) -> str:
    # What a test compares against: a number or boolean as printed, anything else as a string.
    try:
        float(printed)
        return printed
    except ValueError:
        return printed if printed in ("true", "false") else json.dumps(printed)


_PY_HEADERS = (
    '"""Small numeric helpers used across the project."""\n',
    "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n",
    "# utils/{mod}.py\n",
    '"""{mod}: worked implementations for the exercises in chapter {ch}."""\n',
    "",
)
_JS_HEADERS = ('"use strict";\n', "// src/{mod}.js\n", "/** @module {mod} */\n", "// {mod}.js - helper functions\n", "")
_MODULES = ("mathutils", "geometry", "helpers", "numeric", "algorithms", "calc", "exercises", "lib", "core")


def _assemble(ctx: Ctx, chosen: list[Impl]) -> str:
    rng = ctx.rng
    mod = rng.choice(_MODULES)
    if chosen[0].lang == "python":
        header = rng.choice(_PY_HEADERS).format(mod=mod, ch=rng.randint(1, 12))
        imports = "".join(sorted({i.imports for i in chosen if i.imports}))
        parts = [header + ("\n" if header and imports else "") + imports]
        for one in chosen:
            source, fn, calls = render_impl(rng, one)
            parts.append(source + _py_demo(rng, fn, calls, one.prints is not None))
        return "\n\n\n".join(p.strip("\n") for p in parts if p.strip())
    parts = [rng.choice(_JS_HEADERS).format(mod=mod)]
    for one in chosen:
        source, fn, calls = render_impl(rng, one)
        parts.append(source + _js_demo(rng, fn, calls, one.prints is not None))
    return "\n".join(p.strip("\n") + "\n" for p in parts if p.strip())


_LICENSE = (
    "Copyright {year} {who}\n\nLicensed under the Apache License, Version 2.0 (the \"License\");\n"
    "you may not use this file except in compliance with the License.\nYou may obtain a copy of the License at\n\n"
    "    http://www.apache.org/licenses/LICENSE-2.0\n\nUnless required by applicable law or agreed to in writing, "
    "software\ndistributed under the License is distributed on an \"AS IS\" BASIS,\nWITHOUT WARRANTIES OR "
    "CONDITIONS OF ANY KIND, either express or implied."
)


def with_license(ctx: Ctx, text: str, comment: str) -> str:
    """Prepends a license header, as many real files have; `comment` is the line-comment marker."""
    lines = _LICENSE.format(year=ctx.year(2010, 2024), who=ctx.person()).split("\n")
    return "\n".join(f"{comment} {line}".rstrip() for line in lines) + "\n\n" + text


def procedural(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    options = impls(rng, task)
    lang = rng.choice(("python", "javascript"))
    pool = [i for i in options if i.lang == lang] or options
    impl = rng.choice(pool)
    chosen = [impl]
    # Real modules often hold a couple of unrelated helpers: sometimes add one from another task.
    if rng.random() < 0.25:
        other = rng.choice([t for t in CODE_TASKS if t != task])
        extra = [i for i in impls(rng, other) if i.lang == impl.lang]
        if extra:
            chosen.append(rng.choice(extra))
    text = _assemble(ctx, chosen)
    if words(text) < 60:
        # Too short for a file of its own: add another implementation of the same task, then a license.
        more = [i for i in pool if i not in chosen]
        if more:
            chosen.insert(1, rng.choice(more))
            text = _assemble(ctx, chosen)
    if words(text) < 60:
        text = with_license(ctx, text, "#" if impl.lang == "python" else "//")
    return text.rstrip() + "\n"


# --- non-procedural code --------------------------------------------------------------------------------

_SERVICES = ("billing", "auth", "search", "inventory", "notifications", "gateway", "reports", "scheduler")
_PACKAGES_JS = ("express", "react", "lodash", "axios", "dotenv", "zod", "pino", "commander", "chalk", "ws")
_PACKAGES_PY = ("requests", "numpy", "pydantic", "click", "rich", "sqlalchemy", "fastapi", "pyyaml", "httpx")
_CHANGES = (
    "Support for reading configuration from environment variables", "A --dry-run flag for the sync command",
    "Crash when the cache directory does not exist", "Typo in the error message for missing credentials",
    "Faster startup by loading plugins lazily", "Dark mode for the settings page", "Retry on HTTP 503 responses",
    "Deprecated the legacy XML exporter", "Upgraded the logging library", "Pagination for the /items endpoint",
    "Timezone handling in scheduled jobs", "Unicode file names on Windows", "A memory leak in the websocket client",
)


def _version(rng: random.Random) -> str:
    return f"{rng.randint(0, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"


def _config(ctx: Ctx) -> str:
    rng = ctx.rng
    svc = ctx.pick(_SERVICES)
    port, workers, pool, timeout = rng.randrange(3000, 9000, 10), rng.randint(1, 16), rng.randint(5, 50), rng.randint(5, 120)
    fmt_ = rng.randrange(3)
    if fmt_ == 0:
        return (f"# {svc} service configuration\n# Last edited {ctx.date(2018)}\n\nserver:\n  host: 0.0.0.0\n"
                f"  port: {port}\n  workers: {workers}\n  request_timeout: {timeout}s\n\ndatabase:\n"
                f"  url: postgres://{svc}:${{DB_PASSWORD}}@db.internal:5432/{svc}\n  pool_size: {pool}\n"
                f"  max_overflow: {rng.randint(0, 20)}\n\ncache:\n  backend: redis\n  ttl_seconds: {rng.randint(60, 86400)}\n\n"
                f"logging:\n  level: {ctx.pick(('INFO', 'DEBUG', 'WARNING'))}\n  format: json\n\nfeatures:\n"
                f"  new_dashboard: {ctx.pick(('true', 'false'))}\n  beta_export: {ctx.pick(('true', 'false'))}\n"
                f"  max_upload_mb: {rng.randint(5, 500)}\n")
    if fmt_ == 1:
        return (f"; {svc}.ini - deployment settings\n\n[server]\nhost = 127.0.0.1\nport = {port}\n"
                f"workers = {workers}\ntimeout = {timeout}\n\n[database]\nname = {svc}_prod\nuser = {svc}\n"
                f"pool_size = {pool}\n\n[email]\nsmtp_host = smtp.example.com\nsmtp_port = {ctx.pick((25, 465, 587))}\n"
                f"sender = noreply@example.com\n\n[limits]\nmax_requests_per_minute = {rng.randint(30, 6000)}\n"
                f"max_body_kb = {rng.randint(64, 10240)}\n")
    cfg = {
        "service": svc, "version": _version(rng), "port": port, "workers": workers,
        "database": {"host": "db.internal", "port": 5432, "pool": pool},
        "retry": {"attempts": rng.randint(1, 8), "backoff_ms": rng.randrange(100, 5000, 100)},
        "allowed_origins": [f"https://{svc}.example.com", "http://localhost:3000"],
        "paths": {"data": f"/var/lib/{svc}", "logs": f"/var/log/{svc}", "tmp": "/tmp"},
        "limits": {"max_upload_mb": rng.randint(5, 500), "requests_per_minute": rng.randint(30, 6000)},
        "debug": rng.random() < 0.3,
    }
    return json.dumps(cfg, indent=2) + "\n"


def _manifest(ctx: Ctx) -> str:
    rng = ctx.rng
    name = f"{ctx.pick(_SERVICES)}-{ctx.pick(('client', 'kit', 'tools', 'core', 'sdk'))}"
    if rng.random() < 0.5:
        deps = {p: f"^{_version(rng)}" for p in rng.sample(_PACKAGES_JS, rng.randint(3, 6))}
        dev = {p: f"^{_version(rng)}" for p in rng.sample(("jest", "eslint", "prettier", "typescript", "vite"), 3)}
        pkg = {
            "name": name, "version": _version(rng), "description": f"Client library for the {name.split('-')[0]} API",
            "main": "dist/index.js", "type": "module",
            "scripts": {"build": "tsc -p .", "test": "jest", "lint": "eslint src"},
            "keywords": rng.sample(["api", "client", "http", "sdk", "typescript", "node"], 3),
            "author": ctx.person(), "license": ctx.pick(("MIT", "Apache-2.0", "ISC")),
            "dependencies": deps, "devDependencies": dev, "engines": {"node": f">={rng.randint(14, 20)}"},
        }
        return json.dumps(pkg, indent=2) + "\n"
    deps = "".join(f'    "{p}>={_version(rng)}",\n' for p in rng.sample(_PACKAGES_PY, rng.randint(3, 6)))
    return (f'[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{_version(rng)}"\ndescription = "Tools for the '
            f'{name.split("-")[0]} service"\nreadme = "README.md"\nrequires-python = ">=3.{rng.randint(8, 11)}"\n'
            f'authors = [{{ name = "{ctx.person()}" }}]\nlicense = {{ text = "MIT" }}\ndependencies = [\n{deps}]\n\n'
            f'[project.optional-dependencies]\ntest = ["pytest>=7", "coverage"]\n\n[project.scripts]\n'
            f'{name} = "{name.replace("-", "_")}.cli:main"\n\n[tool.ruff]\nline-length = {ctx.pick((88, 100, 120))}\n')


def _changelog(ctx: Ctx) -> str:
    rng = ctx.rng
    major, minor = rng.randint(0, 3), rng.randint(3, 15)
    out = ["# Changelog", "", "All notable changes to this project are documented in this file.", ""]
    for k in range(rng.randint(3, 5)):
        out.append(f"## [{major}.{minor - k}.{rng.randint(0, 4)}] - {ctx.date(2019)}")
        for heading in rng.sample(("Added", "Fixed", "Changed", "Removed"), rng.randint(1, 2)):
            out.append(f"### {heading}")
            out += [f"- {c}" for c in rng.sample(_CHANGES, rng.randint(1, 3))]
        out.append("")
    return "\n".join(out)


def _readme(ctx: Ctx) -> str:
    rng = ctx.rng
    name = f"{ctx.pick(_SERVICES)}{ctx.pick(('py', 'kit', '-cli', 'lib'))}"
    return "\n".join([
        f"# {name}", "",
        f"{name} is a small library for talking to the {ctx.pick(_SERVICES)} API. It was started in "
        f"{ctx.year(2012, 2022)} and is maintained by {ctx.person()} and contributors.", "",
        "## Installation", "",
        "1. Make sure Python 3.9 or newer is installed.",
        f"2. Install the package: `pip install {name}`",
        "3. Create an API key in the dashboard and export it as `API_KEY`.", "",
        "## Usage", "", "```python",
        f"from {name.replace('-', '_')} import Client", "",
        'client = Client(api_key=os.environ["API_KEY"])',
        f'client.items.list(limit={rng.randint(10, 100)})', "```", "",
        "## Contributing", "",
        "Pull requests are welcome. Please open an issue first to discuss larger changes, and add tests "
        "for new behaviour.", "",
        "## License", "", f"{ctx.pick(('MIT', 'Apache 2.0', 'BSD 3-Clause'))}. See LICENSE for details.", "",
    ])


def _data(ctx: Ctx) -> str:
    rng = ctx.rng
    kind = rng.choice(("capital", "symbol", "author", "painter", "currency"))
    facts = [f for f in FACTS if f.kind == kind]
    rows = rng.sample(facts, min(len(facts), rng.randint(5, 12)))
    key, value = {"capital": ("country", "capital"), "symbol": ("element", "symbol"), "author": ("title", "author"),
                  "painter": ("painting", "painter"), "currency": ("country", "currency")}[kind]
    const = {"capital": "CAPITALS", "symbol": "ELEMENT_SYMBOLS", "author": "BOOKS", "painter": "PAINTINGS",
             "currency": "CURRENCIES"}[kind]
    if rng.random() < 0.5:
        body = "".join(f'    "{f.subject}": "{f.answer}",\n' for f in rows)
        note = rng.choice(("# Reference data for the quiz app; keep entries sorted by insertion date.",
                           "# Lookup table used by the geography and science flashcards.",
                           f"# Generated from the {kind} spreadsheet on {ctx.date(2016)}."))
        return f"{note}\n\n{const} = {{\n{body}}}\n\n__all__ = [\"{const}\"]\n"
    body = "".join(f'  {{ {key}: "{f.subject}", {value}: "{f.answer}" }},\n' for f in rows)
    return (f"// data/{const.lower()}.js\n// Static data for the trivia widget. Do not edit by hand.\n\n"
            f"export const {const.lower()} = [\n{body}];\n\nexport default {const.lower()};\n")


def _schema(ctx: Ctx) -> str:
    rng = ctx.rng
    svc = ctx.pick(_SERVICES)
    if rng.random() < 0.5:
        return (f"-- schema for the {svc} database, migration {rng.randint(1, 120):04d}\n\n"
                f"CREATE TABLE users (\n    id SERIAL PRIMARY KEY,\n    email VARCHAR(255) NOT NULL UNIQUE,\n"
                f"    display_name VARCHAR({ctx.pick((64, 80, 120))}),\n    created_at TIMESTAMP NOT NULL DEFAULT now()\n);\n\n"
                f"CREATE TABLE orders (\n    id SERIAL PRIMARY KEY,\n    user_id INTEGER REFERENCES users(id),\n"
                f"    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),\n    status VARCHAR(16) DEFAULT 'pending',\n"
                f"    placed_at TIMESTAMP\n);\n\nCREATE INDEX orders_user_idx ON orders (user_id);\n")
    fields = rng.sample(("name: str", "email: str", "age: int", "country: str", "active: bool = True",
                         "score: float = 0.0", "tags: list[str] = field(default_factory=list)", "city: str"), 5)
    body = "".join(f"    {f}\n" for f in sorted(fields, key=lambda f: "=" in f))
    return (f'"""Data models for the {svc} service."""\n\nfrom dataclasses import dataclass, field\nfrom enum import Enum\n\n\n'
            f"class Status(Enum):\n    ACTIVE = 1\n    SUSPENDED = 2\n    DELETED = 3\n\n\n@dataclass\nclass Account:\n"
            f'    """One customer account as stored in the {svc} database."""\n\n{body}')


def _markup(ctx: Ctx) -> str:
    rng = ctx.rng
    if rng.random() < 0.5:
        facts = "".join(f"      <li>{ctx.facts.statement()}</li>\n" for _ in range(rng.randint(3, 5)))
        return (f'<!DOCTYPE html>\n<html lang="en">\n  <head>\n    <meta charset="utf-8">\n'
                f"    <title>Did you know? | {ctx.place()} Library</title>\n"
                f'    <link rel="stylesheet" href="/static/site.css">\n  </head>\n  <body>\n    <h1>Did you know?</h1>\n'
                f"    <ul>\n{facts}    </ul>\n    <footer>Open {ctx.pick(('Monday', 'Tuesday'))} to Saturday, "
                f"{rng.randint(8, 10)}am to {rng.randint(5, 8)}pm.</footer>\n  </body>\n</html>\n")

    def color() -> str:
        return f"#{rng.randrange(0x1000000):06x}"

    return (f"/* site.css - main stylesheet */\n\n:root {{\n  --brand: {color()};\n  --text: {color()};\n"
            f"  --radius: {rng.randint(2, 12)}px;\n}}\n\nbody {{\n  margin: 0;\n  font-family: system-ui, sans-serif;\n"
            f"  line-height: 1.{rng.randint(4, 7)};\n}}\n\n.card {{\n  padding: {rng.randint(8, 32)}px;\n"
            f"  border-radius: var(--radius);\n  box-shadow: 0 1px {rng.randint(2, 8)}px rgba(0, 0, 0, 0.1);\n}}\n\n"
            f"@media (max-width: {ctx.pick((480, 640, 768))}px) {{\n  .card {{\n    padding: 8px;\n  }}\n}}\n")


def _boilerplate(ctx: Ctx) -> str:
    rng = ctx.rng
    svc = ctx.pick(_SERVICES)
    if rng.random() < 0.5:
        return (f'const express = require("express");\n\nconst app = express();\nconst PORT = process.env.PORT || '
                f"{rng.randrange(3000, 9000, 10)};\n\napp.use(express.json());\n\n// health check for the load balancer\n"
                f'app.get("/health", (req, res) => {{\n  res.json({{ status: "ok", service: "{svc}" }});\n}});\n\n'
                f'app.get("/version", (req, res) => {{\n  res.json({{ version: "{_version(rng)}" }});\n}});\n\n'
                f"app.listen(PORT, () => {{\n  console.log(`{svc} listening on port ${{PORT}}`);\n}});\n")
    return (f'"""Command-line entry point for {svc}."""\n\nimport argparse\nimport logging\n\n'
            f"logger = logging.getLogger(__name__)\n\n\ndef build_parser():\n"
            f'    parser = argparse.ArgumentParser(prog="{svc}", description="Manage the {svc} service.")\n'
            f'    parser.add_argument("--config", default="config.yaml", help="path to the config file")\n'
            f'    parser.add_argument("--verbose", action="store_true", help="log more detail")\n'
            f'    parser.add_argument("--port", type=int, default={rng.randrange(3000, 9000, 10)})\n'
            f"    return parser\n\n\ndef main():\n    args = build_parser().parse_args()\n"
            f"    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)\n"
            f'    logger.info("starting with %s", args.config)\n\n\nif __name__ == "__main__":\n    main()\n')


PLAIN_GENRES: dict[str, Callable[[Ctx], str]] = {
    "config": _config, "manifest": _manifest, "changelog": _changelog, "readme": _readme, "data": _data,
    "schema": _schema, "markup": _markup, "boilerplate": _boilerplate,
}


def _comment_marker(text: str) -> str | None:
    """The line-comment marker of a generated file, judged by how it starts; None for JSON."""
    if text.startswith(("{", "[")):
        return None
    if text.startswith(("//", "const ", "export ", "/*")):
        return "//"
    if text.startswith(";"):
        return ";"
    if text.startswith("--"):
        return "--"
    if text.startswith("<"):
        return None
    return "#"


def plain(ctx: Ctx) -> tuple[str, str]:
    genre = ctx.pick(tuple(PLAIN_GENRES))
    text = PLAIN_GENRES[genre](ctx)
    marker = _comment_marker(text)
    if words(text) < 60 and marker:
        text = with_license(ctx, text, marker)
    return text, genre
