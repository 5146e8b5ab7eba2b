"""Probe sets: the queries whose step-by-step completions we attribute to pretraining documents.

After Ruis et al. 2024: two-step arithmetic (operands 0-20), slopes (coordinates 0-100) and linear equations
(coefficients 0-100) as reasoning probes, real-world questions as factual probes, and two control sets that
look like their counterparts but need no knowledge or reasoning. `make_probes` writes these for the synthetic
world; the real track (`curate.probes.real`) adds two reasoning sets, code tracing and how-to, and asks
facts the real corpus states. Every known set is in PROBE_SETS, so files of either track (or a user's own,
with the same sets) read alike. A probe's prompt and completion are
concatenated verbatim to form the text the LM reads, so every completion starts with a newline, and every
reference completion ends with the line "The answer is X." so `final_answer` works uniformly.

The task formats (prompts, step-by-step solutions) live in `curate.world.tasks`, shared with the synthetic
corpus, so its worked solutions include the probes' exact format (on other numbers).
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.probe import id_problem
from curate.errors import InputError
from curate.world.facts import FACTS, Fact
from curate.world.tasks import (
    OPS,
    PROBE_RANGES,
    STEP_BY_STEP,
    arithmetic_prompt,
    arithmetic_solution,
    linear_prompt,
    linear_solution,
    reference_completion,
    slope_question,
    slope_solution,
)

if TYPE_CHECKING:
    import polars as pl

# Every known set, in the order analyses show them; code_trace, howto and tech_fact (declarative technical facts,
# the register of change records and API listings) come from the real track only.
PROBE_SETS = ("arithmetic", "slope", "linear", "code_trace", "howto", "factual", "tech_fact", "factual_control",
              "reasoning_control")
KINDS = ("reasoning", "factual", "control")
KIND_OF_SET = {
    "arithmetic": "reasoning",
    "slope": "reasoning",
    "linear": "reasoning",
    "code_trace": "reasoning",
    "howto": "reasoning",
    "factual": "factual",
    "tech_fact": "factual",
    "factual_control": "control",
    "reasoning_control": "control",
}
DEFAULT_SIZES = {  # the synthetic track's sets and sizes (`make_probes`)
    "factual": 40,
    "arithmetic": 20,
    "slope": 20,
    "linear": 20,
    "factual_control": 10,
    "reasoning_control": 10,
}


@dataclass
class Probe:
    id: str
    set: str
    kind: str
    prompt: str
    completion: str
    answer: str
    # Filled when a model generates the completion instead of using the reference one.
    generated: bool = False
    correct: bool | None = None

    @property
    def text(self) -> str:
        return self.prompt + self.completion


def set_order(column: str = "set") -> pl.Expr:
    """A sort key that puts a table's rows in PROBE_SETS order of `column`."""
    import polars as pl  # only where a table is sorted: reading and writing probes needs no polars

    return pl.col(column).map_elements(set_rank, return_dtype=pl.Int64)


def set_rank(name: str) -> int:
    """Where a set comes in PROBE_SETS order (an unknown set after every known one): to sort tables by set."""
    return PROBE_SETS.index(name) if name in PROBE_SETS else len(PROBE_SETS)


# --- probe generation ------------------------------------------------------------------------------------


def _arithmetic(rng: random.Random, i: int, op_pairs: list[tuple[str, str]]) -> tuple[str, str, str]:
    # Cycle through a shuffled list of operator pairs so a set of 20 covers all nine of them.
    op1, op2 = op_pairs[i % len(op_pairs)]
    lo, hi = PROBE_RANGES["arithmetic"]
    while True:
        a, b, c = (rng.randint(lo, hi) for _ in range(3))
        left = rng.random() < 0.5
        inner = OPS[op1](a, b) if left else OPS[op2](b, c)
        lines, result = arithmetic_solution(a, op1, b, op2, c, left)
        if inner > 0 and result > 0:
            prompt = arithmetic_prompt(a, op1, b, op2, c, left) + STEP_BY_STEP
            return prompt, reference_completion(lines, result), str(result)


def _slope(rng: random.Random, i: int) -> tuple[str, str, str]:
    lo, hi = PROBE_RANGES["slope"]
    while True:
        x1 = rng.randint(lo, hi)
        dx = rng.choice((1, 1, 1, 2, 2, 3, 4, 5, 6, 8, 10)) * rng.choice((-1, 1))
        x2 = x1 + dx
        if not lo <= x2 <= hi:
            continue
        y1 = rng.randint(lo, hi)
        # Every integer slope that keeps y2 inside the range, zero and negative included.
        slopes = [m for m in range(-hi, hi + 1) if lo <= y1 + m * dx <= hi]
        m = rng.choice(slopes)
        y2 = y1 + m * dx
        lines, m = slope_solution(x1, y1, x2, y2)
        prompt = slope_question(x1, y1, x2, y2) + STEP_BY_STEP
        return prompt, reference_completion(lines, m), str(m)


def _linear(rng: random.Random, i: int) -> tuple[str, str, str]:
    _, hi = PROBE_RANGES["linear"]
    while True:
        x = rng.randint(1, 12)
        a = rng.randint(2, hi // x)
        if a * x >= hi:
            continue
        b = rng.randint(1, hi - a * x)
        c = a * x + b
        lines, x = linear_solution(a, b, c)
        prompt = linear_prompt(a, b, c) + STEP_BY_STEP
        return prompt, reference_completion(lines, x), str(x)


def _factual(facts: list[Fact]) -> Callable[[random.Random, int], tuple[str, str, str]]:
    def make(rng: random.Random, i: int) -> tuple[str, str, str]:
        fact = facts[i]
        return fact.question, reference_completion([fact.sentence], fact.answer), fact.answer

    return make


# Fictional entities for factual controls: the answer is only in the prompt, not in any corpus.
_SYLLABLES = ("ka", "lo", "ve", "dra", "mir", "tu", "sel", "qua", "bo", "rin", "zef", "ol", "ny", "tha", "gor", "pe")
_FIRST = ("Ilsa", "Tobin", "Marek", "Odile", "Fenna", "Corvin", "Yara", "Lucan", "Petra", "Anselm", "Rhea", "Galen")
_CONTROL_FACTS = (
    ("The capital of the island nation of {N} is {P}.", "What is the capital of {N}?",
     "The capital of {N} is {P}.", "{P}"),
    ("The novel {T} was written by {F} {L}.", "Who wrote {T}?", "{T} was written by {F} {L}.", "{F} {L}"),
    ("The {N} River flows into Lake {P}.", "Into which lake does the {N} River flow?",
     "The {N} River flows into Lake {P}.", "Lake {P}"),
    ("The company {N} Instruments was founded in {Y}.", "In what year was {N} Instruments founded?",
     "{N} Instruments was founded in {Y}.", "{Y}"),
    ("The official language of the kingdom of {N} is {P}ish.", "What is the official language of {N}?",
     "The official language of {N} is {P}ish.", "{P}ish"),
    ("The tallest peak in the {N} Range is Mount {P}.", "What is the tallest peak in the {N} Range?",
     "The tallest peak in the {N} Range is Mount {P}.", "Mount {P}"),
    ("The mascot of the {N} Rovers is a {A}.", "What is the mascot of the {N} Rovers?",
     "The mascot of the {N} Rovers is a {A}.", "{A}"),
    ("The inventor of the {N} engine was {F} {L}.", "Who invented the {N} engine?",
     "The {N} engine was invented by {F} {L}.", "{F} {L}"),
    ("The planet {N} has {K} moons.", "How many moons does the planet {N} have?", "The planet {N} has {K} moons.",
     "{K}"),
    ("The city of {N} was founded by {F} {L} in {Y}.", "Who founded the city of {N}?",
     "The city of {N} was founded by {F} {L}.", "{F} {L}"),
)
_ANIMALS = ("badger", "heron", "lynx", "otter", "falcon", "ibex", "marmot", "stag")


def _name(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def _factual_control(rng: random.Random, i: int) -> tuple[str, str, str]:
    fact, question, sentence, answer = _CONTROL_FACTS[i % len(_CONTROL_FACTS)]
    slots = {
        "N": _name(rng, rng.choice((2, 3))),
        "P": _name(rng, 2),
        "T": "The " + _name(rng, 3) + " " + rng.choice(("Letters", "Orchard", "Tide", "Lantern", "Crossing")),
        "F": rng.choice(_FIRST),
        "L": _name(rng, 3),
        "Y": str(rng.randint(1700, 1990)),
        "A": rng.choice(_ANIMALS),
        "K": str(rng.randint(2, 19)),
    }
    prompt = f"{fact.format(**slots)} {question.format(**slots)}"
    return prompt, reference_completion([sentence.format(**slots)], answer.format(**slots)), answer.format(**slots)


_REASONING_CONTROLS = (
    ("{n} {items} were bought by {an} {agent}. How many {items} were bought?", "The {agent} bought {n} {items}."),
    ("{an} {agent} sold {n} {items} at the market. How many {items} did the {agent} sell?",
     "The {agent} sold {n} {items}."),
    ("There are {n} {items} in the {agent}'s storeroom. How many {items} are in the storeroom?",
     "The storeroom holds {n} {items}."),
    ("{an} {agent} counted {n} {items} on Monday. How many {items} did the {agent} count on Monday?",
     "On Monday the {agent} counted {n} {items}."),
    ("{n} {items} were delivered to {an} {agent}. How many {items} were delivered?",
     "The {agent} received {n} {items}."),
)
_CONTROL_SUBJECTS = (
    ("beagles", "dog breeder"), ("apple trees", "farmer"), ("violins", "music teacher"), ("bicycles", "shop owner"),
    ("oak saplings", "gardener"), ("notebooks", "school clerk"), ("lanterns", "innkeeper"), ("kites", "toymaker"),
    ("bags of flour", "baker"), ("paintbrushes", "art teacher"), ("tomato plants", "grower"), ("chairs", "caterer"),
)


def _reasoning_control(rng: random.Random, i: int) -> tuple[str, str, str]:
    question, sentence = _REASONING_CONTROLS[i % len(_REASONING_CONTROLS)]
    items, agent = rng.choice(_CONTROL_SUBJECTS)
    n = rng.randint(2, 100)
    an = "an" if agent[0] in "aeiou" else "a"
    prompt = question.format(n=n, items=items, agent=agent, an=an)
    prompt = prompt[0].upper() + prompt[1:] + STEP_BY_STEP
    return prompt, reference_completion([sentence.format(n=n, items=items, agent=agent)], n), str(n)


def make_probes(seed: int = 0, sizes: dict[str, int] | None = None) -> list[Probe]:
    """The synthetic track's probe sets, deterministic under `seed`; `sizes` overrides DEFAULT_SIZES per set."""
    unknown = set(sizes or {}) - set(DEFAULT_SIZES)
    if unknown:
        raise InputError(f"unknown probe set(s) {sorted(unknown)} for the synthetic track; expected some of "
                         f"{list(DEFAULT_SIZES)} (code_trace and howto are the real track's)")
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    if sizes["factual"] > len(FACTS):
        raise InputError(f"at most {len(FACTS)} factual probes are available, {sizes['factual']} requested")

    probes: list[Probe] = []
    seen: set[str] = set()
    for name in sorted(DEFAULT_SIZES, key=set_rank):
        # One generator per set, seeded by set name, so changing one set's size leaves the others unchanged.
        rng = random.Random(f"{seed}-{name}")
        if name == "arithmetic":
            pairs = [(o1, o2) for o1 in OPS for o2 in OPS]
            rng.shuffle(pairs)
            make = functools.partial(_arithmetic, op_pairs=pairs)
        elif name == "factual":
            make = _factual(rng.sample(FACTS, sizes["factual"]))
        else:
            make = {
                "slope": _slope,
                "linear": _linear,
                "factual_control": _factual_control,
                "reasoning_control": _reasoning_control,
            }[name]
        for i in range(sizes[name]):
            for _ in range(1000):
                prompt, completion, answer = make(rng, i)
                if prompt not in seen:
                    break
            else:
                raise InputError(f"could not make {sizes[name]} distinct {name} probes; ask for fewer")
            seen.add(prompt)
            probes.append(Probe(f"{name}-{i:03d}", name, KIND_OF_SET[name], prompt, completion, answer))
    return probes


# --- answers ---------------------------------------------------------------------------------------------

_ANSWER_IS = re.compile(r"the answer is\s*:?\s*", re.IGNORECASE)
_ANSWER_LABEL = re.compile(r"^[\s*#>]*answer\**\s*:\**\s*", re.IGNORECASE | re.MULTILINE)


def final_answer(text: str) -> str | None:
    """The answer stated in a completion ("... The answer is 21." -> "21"), or None if it states none.

    Takes the first "The answer is" (else a line starting "Answer:"): a model that keeps generating after
    answering usually moves on to new material, whose answers are not this probe's.
    """
    match = _ANSWER_IS.search(text) or _ANSWER_LABEL.search(text)
    if not match:
        return None
    rest = text[match.end():].split("\n", 1)[0]
    # A sentence ends at a period followed by space or the end; a decimal point is followed by a digit.
    rest = re.split(r"\.(?=\s|$)", rest, maxsplit=1)[0]
    answer = rest.strip().strip("*$`\"' ").rstrip(".").strip()
    assignment = re.fullmatch(r"[a-zA-Z]\s*=\s*(.+)", answer)
    if assignment:
        answer = assignment.group(1).strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", answer):
        answer = answer.replace(",", "")
    return answer or None


# --- files -----------------------------------------------------------------------------------------------

_REQUIRED = ("id", "set", "kind", "prompt", "completion", "answer")
_FIELDS = tuple(f.name for f in fields(Probe))


def write_probes(probes: list[Probe], path: str | Path) -> None:
    """Writes one JSON object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for probe in probes:
            f.write(json.dumps(asdict(probe), ensure_ascii=False) + "\n")


def read_probes(path: str | Path) -> list[Probe]:
    """Reads probes written by `write_probes` (or by hand): the fields of `Probe`, a known set and its kind, unique
    ids, a completion and an answer; any problem names the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read probes from {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise InputError(f"{path}, line {line}: not UTF-8 text (byte {e.object[e.start]:#04x})") from None
    probes: list[Probe] = []
    ids: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: not valid JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a JSON object with fields {list(_REQUIRED)}")
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(row) - set(_FIELDS))
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}")
        bad = [k for k in _REQUIRED if not isinstance(row[k], str)]
        if bad:
            raise InputError(f"{where}: field(s) {', '.join(bad)} must be strings")
        if row["set"] not in PROBE_SETS:
            raise InputError(f"{where}: unknown probe set {row['set']!r}; expected one of {list(PROBE_SETS)}")
        if row["kind"] != KIND_OF_SET[row["set"]]:
            raise InputError(f"{where}: set {row['set']} is of kind {KIND_OF_SET[row['set']]!r}, not {row['kind']!r}")
        blank = [k for k in ("completion", "answer") if not row[k].strip()]
        if blank:  # nothing to attribute, or nothing to search for
            raise InputError(f"{where}: empty {' and '.join(blank)}")
        if not isinstance(row.get("generated", False), bool):
            raise InputError(f"{where}: field generated must be true or false")
        if row.get("correct") is not None and not isinstance(row["correct"], bool):
            raise InputError(f"{where}: field correct must be true, false or null")
        if problem := id_problem(row["id"]):
            raise InputError(f"{where}: {problem}")
        if row["id"] in ids:
            raise InputError(f"{where}: duplicate probe id {row['id']!r}")
        ids.add(row["id"])
        probes.append(Probe(**row))
    return probes


def find_probe(probes_path: str | Path, probe_id: str) -> Probe:
    """The probe `probe_id` of the file `probes_path` (`curate influence search --probe`)."""
    if not Path(probes_path).exists():
        raise InputError(f"no probes at {probes_path}; pass --probes FILE")
    probes = read_probes(probes_path)
    found = [probe for probe in probes if probe.id == probe_id]
    if not found:
        raise InputError(f"no probe {probe_id!r} in {probes_path} (its ids include {[p.id for p in probes[:5]]})")
    return found[0]
