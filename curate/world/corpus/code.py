"""Source-code documents: Python and JavaScript that computes (procedural) and code that only declares,
configures or documents (non-procedural).

The snippets' text is data: data/code_snippets.toml holds the implementations of each task, and
data/code_files.toml the templates of non-procedural files. Every example call shown with its output is
computed here by Python code that mirrors the snippet (`_MIRRORS`), and the tests run the snippets to check
that the outputs they claim are the ones they print.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from curate.world.corpus.common import Ctx, fill, words
from curate.world.corpus.procedures import TASKS, arithmetic_instance, linear_instance, slope_instance
from curate.world.data import load
from curate.world.facts import FACTS
from curate.world.tasks import (
    OP_VERB,
    answer_line,
    arithmetic_expression,
    arithmetic_solution,
    linear_solution,
)

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
    call: str = "<<fn>>(<<args>>)"  # <<args>> is the comma-separated argument list
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


# --- what the snippets compute, mirrored in Python ------------------------------------------------------


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
        answer_line(dy // dx),
    ]


def _linear_lines(a: int, b: int, c: int) -> list[str]:
    lines, x = linear_solution(a, b, c)
    return [*lines, answer_line(x)]


def _expr_args(rng: random.Random) -> tuple[str]:
    a, op1, b, op2, c, left = arithmetic_instance(rng)
    return (arithmetic_expression(a, op1, b, op2, c, left),)


def _eval_expr(expression: str) -> int:
    # Both operands of every expression are non-negative, so Python's evaluation matches the snippet's.
    return eval(expression, {"__builtins__": {}})


def _ints(lo: int, hi: int, k: int) -> Callable[[random.Random], tuple]:
    return lambda r: tuple(r.randint(lo, hi) for _ in range(k))


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


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
        return [*lines, answer_line(result)]

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


class Mirror(NamedTuple):
    """What a snippet computes, in Python: example arguments, the result and (if it prints) the printed lines."""

    args: Callable[[random.Random], tuple]
    result: Callable[..., object]
    prints: Callable[..., list[str]] | None = None


def _point_pair(r: random.Random) -> tuple:
    x1, y1, x2, y2 = slope_instance(r)
    return (x1, y1), (x2, y2)


def _values(r: random.Random) -> tuple:
    return ([r.randint(1, 99) for _ in range(r.randint(3, 7))],)


def _palindrome(s: str) -> bool:
    cleaned = "".join(ch.lower() for ch in s if ch.isalnum())
    return cleaned == cleaned[::-1]


# The mirror of each snippet of data/code_snippets.toml, by the name in its `mirror` field.
_MIRRORS: dict[str, Mirror] = {
    "expression": Mirror(_expr_args, _eval_expr),
    "slope": Mirror(slope_instance, lambda x1, y1, x2, y2: (y2 - y1) / (x2 - x1)),
    "slope_of_points": Mirror(_point_pair, lambda p, q: (q[1] - p[1]) / (q[0] - p[0])),
    "slope_steps": Mirror(_nonneg_slope, lambda x1, y1, x2, y2: (y2 - y1) // (x2 - x1), _slope_lines),
    "linear": Mirror(lambda r: linear_instance(r)[:3], lambda a, b, c: (c - b) / a),
    "linear_steps": Mirror(_pos_linear, lambda a, b, c: (c - b) // a, _linear_lines),
    "percent_of": Mirror(lambda r: (r.choice((5, 10, 15, 20, 25, 30, 40, 75)), r.randint(10, 900)),
                         lambda p, n: p * n / 100),
    "percent_change": Mirror(_ints(20, 400, 2), lambda old, new: (new - old) / old * 100),
    "discount": Mirror(lambda r: (r.randint(5, 500), r.choice((10, 15, 20, 25, 50))), lambda p, q: p - p * q / 100),
    "mean": Mirror(_values, lambda v: sum(v) / len(v)),
    "circle_area": Mirror(_ints(1, 30, 1), lambda r: math.pi * r ** 2),
    "perimeter": Mirror(_ints(1, 80, 2), lambda w, h: 2 * (w + h)),
    "triangle_area": Mirror(_ints(1, 60, 2), lambda b, h: b * h / 2),
    "c_to_f": Mirror(_ints(-30, 45, 1), lambda c: c * 9 / 5 + 32),
    "km_to_miles": Mirror(_ints(1, 500, 1), lambda km: km / 1.609344),
    "f_to_c": Mirror(_ints(-20, 110, 1), lambda f: (f - 32) * 5 / 9),
    "hours_to_minutes": Mirror(_ints(1, 48, 1), lambda h: h * 60),
    "gcd": Mirror(_ints(10, 999, 2), math.gcd),
    "is_prime": Mirror(_ints(2, 500, 1), _is_prime),
    "primes_up_to": Mirror(_ints(10, 60, 1), lambda n: [i for i in range(2, n + 1) if _is_prime(i)]),
    "factorial": Mirror(_ints(0, 15, 1), math.factorial),
    "fibonacci": Mirror(_ints(0, 30, 1), _fib),
    "compound": Mirror(lambda r: (r.randint(1, 40) * 250, r.choice((0.02, 0.03, 0.05, 0.08)), r.randint(1, 10)),
                       _compound),
    "sort": Mirror(lambda r: (r.sample(range(1, 100), r.randint(5, 8)),), sorted),
    "hypotenuse": Mirror(_ints(1, 40, 2), lambda a, b: math.sqrt(a * a + b * b)),
    "average_speed": Mirror(lambda r: (r.randint(10, 900), r.choice((0.5, 1, 1.5, 2, 3, 4, 6))), lambda d, h: d / h),
    "travel_time": Mirror(lambda r: (r.randint(10, 900), r.randrange(20, 130, 10)), lambda d, s: d / s),
    "distance": Mirror(_ints(-50, 150, 4), lambda x1, y1, x2, y2: math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)),
    "palindrome": Mirror(lambda r: (r.choice(("racecar", "level", "python", "Never odd or even", "banana",
                                               "Step on no pets")),), _palindrome),
    "vowels": Mirror(lambda r: (r.choice(("hello world", "procedural knowledge", "pretraining data", "queue")),),
                     lambda t: sum(1 for ch in t.lower() if ch in "aeiou")),
    "reverse_words": Mirror(lambda r: (r.choice(("the quick brown fox", "hello big world", "one two three four")),),
                            lambda s: " ".join(reversed(s.split(" ")))),
    "binary_search": Mirror(_search_args, _bsearch),
}


def _impl(snippet: dict) -> Impl:
    mirror = _MIRRORS[snippet["mirror"]]
    optional = {key: snippet[key] for key in ("call", "imports") if key in snippet}
    params = tuple(tuple(p) for p in snippet["params"])
    return Impl(snippet["lang"], tuple(snippet["names"]), snippet["summary"], params, snippet["source"],
                mirror.args, mirror.result, prints=mirror.prints, **optional)


_TABLE: dict[str, list[Impl]] = {
    task: [_impl(s) for s in snippets] for task, snippets in load("code_snippets.toml").items()
}
_FILES: dict[str, str] = load("code_files.toml")


def impls(rng: random.Random, task: str) -> list[Impl]:
    """The implementations of `task`; for arithmetic, `rng` also shapes step-printing ones (which operators)."""
    if task == "arithmetic":
        return _two_step_impls(rng) + _TABLE[task]
    return _TABLE[task]


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
        call = fill(impl.call, fn=fn, args=_args_text(args, impl.lang))
        if impl.prints:
            out = impl.prints(*args)
        else:
            value = impl.result(*args)
            out = [py_repr(value) if impl.lang == "python" else js_repr(value)]
        calls.append((call, out))
    if impl.lang == "python":
        doc = _py_doc(rng, impl, [(c, o[0]) for c, o in calls])
        source = fill(impl.source, doc=doc, fn=fn)
        if not doc:
            source = f"# {impl.summary}\n" + source
    else:
        doc = _js_doc(rng, impl)
        source = doc + fill(impl.source, doc="", fn=fn)
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


def with_license(ctx: Ctx, text: str, comment: str) -> str:
    """Prepends a license header, as many real files have; `comment` is the line-comment marker."""
    lines = fill(_FILES["license"], year=ctx.year(2010, 2024), who=ctx.person()).split("\n")
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
    common = {"svc": svc, "port": port, "workers": workers, "pool": pool, "timeout": timeout}
    if fmt_ == 0:
        return fill(_FILES["config_yaml"], **common, date=ctx.date(2018), overflow=rng.randint(0, 20),
                    ttl=rng.randint(60, 86400), level=ctx.pick(("INFO", "DEBUG", "WARNING")),
                    dashboard=ctx.pick(("true", "false")), beta=ctx.pick(("true", "false")),
                    upload=rng.randint(5, 500))
    if fmt_ == 1:
        return fill(_FILES["config_ini"], **common, smtp_port=ctx.pick((25, 465, 587)),
                    rpm=rng.randint(30, 6000), body_kb=rng.randint(64, 10240))
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
    return fill(_FILES["pyproject"], name=name, version=_version(rng), service=name.split("-")[0],
                minor=rng.randint(8, 11), author=ctx.person(), deps=deps, module=name.replace("-", "_"),
                line_length=ctx.pick((88, 100, 120)))


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
    name = f"{ctx.pick(_SERVICES)}{ctx.pick(('py', 'kit', '-cli', 'lib'))}"
    return fill(_FILES["readme"], name=name, service=ctx.pick(_SERVICES), year=ctx.year(2012, 2022),
                person=ctx.person(), module=name.replace("-", "_"), limit=ctx.rng.randint(10, 100),
                license=ctx.pick(("MIT", "Apache 2.0", "BSD 3-Clause")))


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
        return fill(_FILES["sql_schema"], svc=svc, migration=f"{rng.randint(1, 120):04d}",
                    name_length=ctx.pick((64, 80, 120)))
    fields = rng.sample(("name: str", "email: str", "age: int", "country: str", "active: bool = True",
                         "score: float = 0.0", "tags: list[str] = field(default_factory=list)", "city: str"), 5)
    body = "".join(f"    {f}\n" for f in sorted(fields, key=lambda f: "=" in f))
    return fill(_FILES["python_models"], svc=svc, fields=body)


def _markup(ctx: Ctx) -> str:
    rng = ctx.rng
    if rng.random() < 0.5:
        facts = "".join(f"      <li>{ctx.facts.statement()}</li>\n" for _ in range(rng.randint(3, 5)))
        return fill(_FILES["html"], place=ctx.place(), facts=facts, day=ctx.pick(("Monday", "Tuesday")),
                    opens=rng.randint(8, 10), closes=rng.randint(5, 8))

    def color() -> str:
        return f"#{rng.randrange(0x1000000):06x}"

    return fill(_FILES["css"], brand=color(), text=color(), radius=rng.randint(2, 12), line_height=rng.randint(4, 7),
                padding=rng.randint(8, 32), shadow=rng.randint(2, 8), width=ctx.pick((480, 640, 768)))


def _boilerplate(ctx: Ctx) -> str:
    rng = ctx.rng
    svc = ctx.pick(_SERVICES)
    if rng.random() < 0.5:
        return fill(_FILES["express_server"], port=rng.randrange(3000, 9000, 10), svc=svc, version=_version(rng))
    return fill(_FILES["python_cli"], svc=svc, port=rng.randrange(3000, 9000, 10))


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
