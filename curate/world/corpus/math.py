"""Mathematics documents: worked solutions and formula explanations (procedural), and history, definitions,
biographies and notation (non-procedural)."""

from __future__ import annotations

from curate.world.corpus.common import Ctx, words
from curate.world.corpus.procedures import TASK_INFO, TASKS, present, sample, solution
from curate.world.data import load

_SET_TITLES = (
    "Worked examples: {title}", "Section {ch}.{sec} Exercises", "Practice problems - {title}",
    "Homework {ch} solutions", "{title}: solved problems", "Review sheet, unit {ch}", "Tutorial {ch}: {title}",
)
_INTROS = (
    "The following problems review {how}. Try each one before reading the solution.",
    "These exercises practise how to {how}. Solutions are written out in full.",
    "Below are some worked examples showing how to {how}.",
    "Each problem is followed by a complete solution.",
    "Remember: {formula}",
)


def _exercise_set(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    info = TASK_INFO[task]
    # Number-heavy text costs about twice the tokens per word of prose, so sheets stay short enough to fit
    # the 512-token documents attribution scores.
    target = rng.randint(80, 220)
    head = rng.choice(_SET_TITLES).format(title=info["title"], ch=rng.randint(1, 12), sec=rng.randint(1, 9))
    intro = rng.choice(_INTROS).format(how=info["how"], formula=info["formula"])
    parts = [head, intro]
    i = 1
    while i <= 6 and (i <= 2 or words("\n".join(parts)) < target) and words("\n".join(parts)) < 220:
        # Mostly one task per sheet; review sheets mix in another one.
        t = task if i == 1 or rng.random() < 0.8 else rng.choice(TASKS)
        parts.append(present(sample(ctx, t), rng, index=i))
        i += 1
    return "\n\n".join(parts)


def _formula_explainer(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    info = TASK_INFO[task]
    md = rng.random() < 0.6
    h1, h2 = ("## ", "### ") if md else ("", "")
    parts = [f"{h1}{info['title']}", info["define"], info["formula"]]
    for k in range(1, rng.randint(2, 3) + 1):
        w = sample(ctx, task)
        parts.append(f"{h2}Example {k}\n\n{w.question}\n\n{solution(w, rng)}")
    parts.append(rng.choice((
        "The same steps work for any numbers; only the arithmetic changes.",
        "With practice, the intermediate steps can be done mentally, but writing them out avoids sign errors.",
        "A common mistake is to mix up the order of the steps, so check the result by substituting it back.",
    )))
    return "\n\n".join(parts)


def _latex_notes(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    info = TASK_INFO[task]
    w = sample(ctx, task)
    eqs = " \\\\\n".join(e.replace("*", "\\cdot ") for e in (w.eqs or [s.rstrip(".") for s in w.steps]))
    w2 = sample(ctx, task)
    return (f"\\section{{{info['title']}}}\n\n{info['define']}\n\n\\begin{{definition}}\n{info['formula']}\n"
            f"\\end{{definition}}\n\n\\begin{{example}}\n{w.question}\n\\end{{example}}\n\n\\begin{{align*}}\n{eqs}\n"
            f"\\end{{align*}}\nHence the answer is ${w.answer}$.\n\n\\begin{{example}}\n{w2.question}\n"
            f"\\end{{example}}\n\\textit{{Solution.}} {solution(w2, rng, 'prose')}\n")


def procedural(ctx: Ctx, task: str) -> str:
    form = ctx.rng.choices((_exercise_set, _formula_explainer, _latex_notes), (5, 3, 1))[0]
    return form(ctx, task)


# --- non-procedural ------------------------------------------------------------------------------------

_PROSE = load("mathematics.toml")
_HISTORY = tuple((t["title"], t["text"]) for t in _PROSE["theorems"])
_BIOGRAPHIES = tuple((b["name"], b["text"]) for b in _PROSE["biographies"])
_NOTATION = tuple(_PROSE["notation"]["origins"])


def _history(ctx: Ctx) -> str:
    rng = ctx.rng
    items = rng.sample(_HISTORY, rng.randint(1, 3))
    if len(items) == 1:
        title, text = items[0]
        return f"{title}\n\n{text}\n\n{rng.choice(_NOTATION)}"
    intro = rng.choice(("Some famous theorems and their stories", "Milestones in the history of mathematics",
                        "Great problems, and how they were solved"))
    return intro + "\n\n" + "\n\n".join(f"{t}. {x}" for t, x in items)


def _definitions(ctx: Ctx) -> str:
    rng = ctx.rng
    tasks = rng.sample(TASKS, rng.randint(3, 6))
    head = rng.choice(("Glossary", "Key terms", f"Definitions for chapter {rng.randint(1, 12)}",
                       "Vocabulary review"))
    md = rng.random() < 0.5
    body = [f"**{TASK_INFO[t]['title']}.** {TASK_INFO[t]['define']}" if md else
            f"{TASK_INFO[t]['title']}: {TASK_INFO[t]['define']}" for t in tasks]
    return "\n\n".join([head, *body])


def _biography(ctx: Ctx) -> str:
    rng = ctx.rng
    items = rng.sample(_BIOGRAPHIES, rng.randint(1, 2))
    parts = [f"{name}\n\n{text}" for name, text in items]
    if len(items) == 1 or rng.random() < 0.3:
        parts.append(rng.choice(_HISTORY)[1])
    return "\n\n".join(parts)


def _notation(ctx: Ctx) -> str:
    rng = ctx.rng
    items = rng.sample(_NOTATION, rng.randint(4, 6))
    head = rng.choice(("Where do mathematical symbols come from?", "A short history of notation",
                       "The origins of everyday maths symbols"))
    return "\n\n".join([head, *items])


_PLAIN = {"history": _history, "definition": _definitions, "biography": _biography, "notation": _notation}


def plain(ctx: Ctx) -> tuple[str, str]:
    genre = ctx.pick(tuple(_PLAIN))
    return _PLAIN[genre](ctx), genre
