"""Encyclopedic articles: method articles with a worked example (procedural); articles on real subjects,
lists, and fictional places, people, species and events with sections, dates and numbers (non-procedural)."""

from __future__ import annotations

from collections import defaultdict

from curate.world.corpus.common import Ctx, cap, words
from curate.world.corpus.procedures import TASK_INFO, sample, solution
from curate.world.facts import FACTS, Fact

_HISTORY_LINES = (
    "The method appears in textbooks from the nineteenth century onward and is taught in most secondary schools.",
    "Versions of the procedure are found in ancient Babylonian and Chinese mathematical texts.",
    "The modern presentation dates from school reforms of the early twentieth century.",
    "Computer implementations became common in the 1960s, when the procedure was included in early numerical "
    "libraries.",
)


def procedural(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    info = TASK_INFO[task]
    title = info["title"]
    w = sample(ctx, task)
    eq_style = rng.random() < 0.5
    h = (lambda s: f"== {s} ==") if eq_style else (lambda s: f"{s}\n{'-' * len(s)}")
    parts = [title, f"{info['define']} {info['formula']}", h("Method"),
             f"{info['formula']} The steps are the same whatever the numbers.", h("Example"),
             f"{w.question}\n\n{solution(w, rng, rng.choice(('prose', 'numbered', 'reference')))}"]
    if rng.random() < 0.5:
        w2 = sample(ctx, task)
        parts.append(f"A second example: {w2.question}\n\n{solution(w2, rng)}")
    parts += [h("History"), rng.choice(_HISTORY_LINES)]
    if rng.random() < 0.5:
        parts += [h("See also"), "\n".join(f"* {TASK_INFO[t]['title']}" for t in rng.sample(sorted(TASK_INFO), 3))]
    return "\n\n".join(parts)


# --- non-procedural ------------------------------------------------------------------------------------

_BY_SUBJECT: dict[str, list[Fact]] = defaultdict(list)
_BY_TOPIC: dict[str, list[Fact]] = defaultdict(list)
for _f in FACTS:
    _BY_SUBJECT[_f.subject].append(_f)
    _BY_TOPIC[_f.topic].append(_f)

_SUBJECT_NOTES = (
    "It is frequently mentioned in textbooks, quizzes and travel guides.",
    "The subject has been covered by numerous documentaries and popular books.",
    "Museums and libraries around the world hold collections related to it.",
    "Scholars have written about it since at least the nineteenth century.",
)


def _subject_article(ctx: Ctx) -> str:
    rng = ctx.rng
    fact = ctx.facts.fact()
    own = _BY_SUBJECT[fact.subject]
    related = [f for f in _BY_TOPIC[fact.topic] if f.subject != fact.subject]
    lead = " ".join(rng.choice(f.statements) for f in own)
    parts = [cap(fact.subject), lead, rng.choice(_SUBJECT_NOTES), "== Context ==",
             " ".join(rng.choice(f.statements) for f in rng.sample(related, min(3, len(related)))),
             "== Trivia ==", ctx.facts.misc() + " " + ctx.facts.misc()]
    if rng.random() < 0.5:
        parts += ["== References ==", f"1. {ctx.person()}, {rng.choice(('A History', 'An Introduction', 'Handbook'))}"
                  f" ({ctx.year(1950, 2020)}), p. {rng.randint(3, 400)}."]
    return "\n\n".join(parts)


_LIST_KINDS = {
    "capital": ("List of national capitals (selection)", "Country", "Capital"),
    "symbol": ("List of chemical elements by symbol (selection)", "Element", "Symbol"),
    "author": ("List of classic works and their authors", "Work", "Author"),
    "painter": ("List of famous paintings", "Painting", "Artist"),
    "currency": ("List of currencies (selection)", "Country", "Currency"),
}


def _list_article(ctx: Ctx) -> str:
    rng = ctx.rng
    kind = rng.choice(tuple(_LIST_KINDS))
    title, left, right = _LIST_KINDS[kind]
    rows = rng.sample([f for f in FACTS if f.kind == kind], min(rng.randint(5, 10), sum(f.kind == kind for f in FACTS)))
    table = "\n".join([f"| {left} | {right} |", "|---|---|", *(f"| {cap(f.subject)} | {f.answer} |" for f in rows)])
    notes = " ".join(rng.choice(f.statements) for f in rows[:2])
    return f"{title}\n\nThis is a partial list; entries are sorted by no particular order.\n\n{table}\n\n== Notes ==\n\n{notes}"


def _place(ctx: Ctx) -> str:
    rng = ctx.rng
    name = ctx.place()
    founded = ctx.year(1100, 1900)
    pop = ctx.big(800, 250000)
    parts = [
        name,
        f"{name} is a town in the {ctx.region()} part of the county of {ctx.place()}. It had a population of {pop} "
        f"at the {rng.choice((2001, 2011, 2021))} census.",
        "== History ==",
        f"The settlement is first recorded in {founded}. A market charter was granted in {founded + rng.randint(20, 200)}, "
        f"and the railway arrived in {rng.randint(1840, 1910)}. During the {rng.choice(('1930s', '1950s', '1970s'))} "
        f"the town grew rapidly as {rng.choice(('textile mills', 'a car factory', 'the port', 'the university'))} "
        "expanded.",
        "== Geography ==",
        f"{name} lies {rng.randint(2, 60)} kilometres from the coast at an elevation of {rng.randint(5, 900)} metres. "
        f"The average July temperature is {rng.randint(14, 31)} degrees Celsius and annual rainfall is about "
        f"{rng.randint(300, 1800)} mm.",
        "== Economy ==",
        f"The largest employers are {rng.choice(('the regional hospital', 'a food processing plant', 'the council'))} "
        f"with about {ctx.big(200, 4000)} staff and {rng.choice(('a logistics centre', 'a software company', 'the port'))}. "
        f"Unemployment stood at {rng.randint(2, 12)}.{rng.randint(0, 9)} percent in {ctx.year(2005, 2022)}.",
    ]
    if rng.random() < 0.6:
        parts += ["== Notable people ==", "\n".join(
            f"* {ctx.person()} (born {ctx.year(1900, 1995)}), {rng.choice(('footballer', 'novelist', 'politician', 'painter', 'chemist'))}"
            for _ in range(rng.randint(2, 4)))]
    return "\n\n".join(parts)


def _biography(ctx: Ctx) -> str:
    rng = ctx.rng
    name = ctx.person()
    born = ctx.year(1890, 1985)
    job = rng.choice(("architect", "marine biologist", "jazz pianist", "civil engineer", "historian", "cyclist",
                      "botanist", "journalist"))
    return "\n\n".join([
        name,
        f"{name} (born {rng.randint(1, 28)} {rng.choice(('March', 'June', 'October', 'January'))} {born}) is a "
        f"{job} from {ctx.place()}.",
        "== Early life ==",
        f"{name.split()[0]} grew up in {ctx.place()}, the {rng.choice(('eldest', 'youngest', 'second'))} of "
        f"{rng.randint(2, 6)} children, and studied at the University of {ctx.place()} from {born + 18} to "
        f"{born + rng.randint(21, 25)}.",
        "== Career ==",
        f"In {born + rng.randint(24, 35)} {name.split()[0]} joined {rng.choice(('a regional firm', 'the national museum', 'a research institute', 'the city orchestra'))}, "
        f"becoming its director in {born + rng.randint(36, 50)}. Over {rng.randint(15, 40)} years the work "
        f"received {rng.randint(2, 12)} national awards.",
        "== Personal life ==",
        f"{name.split()[0]} lives in {ctx.place()} and has {rng.randint(1, 4)} children.",
    ])


def _species(ctx: Ctx) -> str:
    rng = ctx.rng
    genus = ctx.place()[:-1].lower().capitalize()
    name = f"{genus}us {rng.choice(('minor', 'borealis', 'viridis', 'montanus', 'ornatus', 'silvestris'))}"
    kind = rng.choice(("beetle", "moth", "freshwater snail", "orchid", "frog", "songbird"))
    return "\n\n".join([
        name,
        f"{name} is a species of {kind} first described by {ctx.person()} in {ctx.year(1790, 1990)}.",
        "== Description ==",
        f"Adults measure {rng.randint(3, 40)} to {rng.randint(41, 90)} mm. The upper side is "
        f"{rng.choice(('dark brown', 'olive green', 'pale grey', 'bright yellow'))} with "
        f"{rng.randint(2, 8)} {rng.choice(('spots', 'bands', 'stripes'))}.",
        "== Distribution ==",
        f"It is found in the {ctx.region()} hills of {ctx.place()} at altitudes of {rng.randint(100, 900)} to "
        f"{rng.randint(1000, 2800)} metres. A survey in {ctx.year(1995, 2022)} counted about {ctx.big(300, 20000)} "
        "individuals.",
        "== Conservation ==",
        f"The species is listed as {rng.choice(('least concern', 'vulnerable', 'near threatened', 'endangered'))}. "
        f"{ctx.facts.misc()}",
    ])


def _event(ctx: Ctx) -> str:
    rng = ctx.rng
    year = ctx.year(1850, 2015)
    place = ctx.place()
    what = rng.choice(("flood", "fire", "storm", "earthquake", "landslide"))
    return "\n\n".join([
        f"{year} {place} {what}",
        f"The {year} {place} {what} took place in {rng.choice(('spring', 'summer', 'autumn', 'winter'))} {year}.",
        "== Background ==",
        f"In the decade before, the population of {place} had grown by {rng.randint(5, 60)} percent to {ctx.big(5000, 400000)}.",
        "== Events ==",
        f"Over {rng.randint(2, 14)} days, about {ctx.big(100, 50000)} people were affected. Damage was estimated at "
        f"{rng.randint(2, 900)} million in the currency of the time.",
        "== Aftermath ==",
        f"A commission reported in {year + rng.randint(1, 3)}, and a memorial was unveiled in {year + rng.randint(5, 60)}.",
    ])


_PLAIN = {"fact": _subject_article, "list": _list_article, "place": _place, "biography": _biography,
          "species": _species, "event": _event}


def plain(ctx: Ctx) -> tuple[str, str]:
    genre = ctx.rng.choices(tuple(_PLAIN), (5, 2, 2, 2, 1, 1))[0]
    text = _PLAIN[genre](ctx)
    if words(text) < 60:
        text += "\n\n== See also ==\n\n" + " ".join(ctx.facts.statement() for _ in range(3))
    return text, genre
