"""Trivia: quiz rounds and fact lists (non-procedural), and maths puzzle rounds with worked answers
(procedural)."""

from __future__ import annotations

from curate.world.corpus.common import Ctx, words
from curate.world.corpus.procedures import present, sample, solution
from curate.world.facts import Fact

# Quiz phrasings of relation facts, so quizzes do not always repeat the probes' exact question.
_QUIZ_FORMS = {
    "capital": ("Which city is the capital of {s}?", "Name the capital of {s}.", "{s}: what is its capital?"),
    "currency": ("Which currency is used in {s}?", "Name the currency of {s}."),
    "symbol": ("Which element has the symbol {a}?|{s}", "What is the symbol of {s} on the periodic table?"),
    "author": ("Who is the author of {s}?", "{s} - who wrote it?"),
    "painter": ("Which artist painted {s}?", "Who created the painting {s}?"),
}


def _quiz_item(ctx: Ctx, fact: Fact) -> tuple[str, str]:
    rng = ctx.rng
    forms = _QUIZ_FORMS.get(fact.kind)
    if forms and rng.random() < 0.7:
        form = rng.choice(forms)
        if "|" in form:
            # Reverse question: the symbol is given and the element is the answer.
            return form.split("|")[0].format(a=fact.answer), fact.subject
        return form.format(s=fact.subject, a=fact.answer), fact.answer
    if rng.random() < 0.15:
        return f"True or false: {rng.choice(fact.statements)}", "True"
    return fact.question, fact.answer


def _quiz(ctx: Ctx) -> str:
    rng = ctx.rng
    target = rng.randint(80, 260)
    head = rng.choice(("Pub quiz, round {r}: general knowledge", "Quiz night - round {r}", "Trivia round {r}",
                       "Friday quiz #{n}")).format(r=rng.randint(1, 6), n=rng.randint(10, 400))
    inline = rng.random() < 0.6  # answers under each question, or all at the end
    questions, answers = [], []
    while len(questions) < 15 and words("\n".join(questions + ([] if inline else answers))) < target:
        k = len(questions) + 1
        q, a = _quiz_item(ctx, ctx.facts.fact())
        questions.append(f"{k}. {q}\n   Answer: {a}" if inline else f"{k}. {q}")
        answers.append(f"{k}. {a}")
    parts = [head, "\n\n".join(questions) if inline else "\n".join(questions)]
    if not inline:
        parts.append("Answers:\n" + "\n".join(answers))
    if rng.random() < 0.5:
        parts.append(f"Bonus fact: {ctx.facts.misc()}")
    return "\n\n".join(parts)


def _fact_list(ctx: Ctx) -> str:
    rng = ctx.rng
    n = rng.randint(6, 12)
    head = rng.choice((f"{n} facts that will surprise you", f"{n} things you probably didn't know",
                       f"Did you know? {n} quick facts", f"Fact file: {n} facts for curious minds"))
    items = [ctx.facts.statement() if rng.random() < 0.6 else ctx.facts.misc() for _ in range(n)]
    marker = rng.choice(("{}. ", "- ", "#{} "))
    return head + "\n\n" + "\n".join(marker.format(i) + s for i, s in enumerate(items, 1))


def _on_this_day(ctx: Ctx) -> str:
    rng = ctx.rng
    facts = [ctx.facts.fact() for _ in range(rng.randint(4, 8))]
    lines = [f"- {f.answer}: {rng.choice(f.statements)}" if f.answer.isdigit() and len(f.answer) == 4 else f"- {rng.choice(f.statements)}"
             for f in facts]
    return (f"History and science corner, issue {rng.randint(1, 200)}\n\nA mixed bag of dates and discoveries "
            "for this week's newsletter.\n\n" + "\n".join(lines) + f"\n\nQuote of the week: \"{ctx.facts.misc()}\"")


def procedural(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    head = rng.choice(("Maths round: show your working", "Brain teasers with full solutions",
                       "Puzzle corner", "Number puzzles for the quiz league, round {r}")).format(r=rng.randint(1, 9))
    parts = [head]
    target = rng.randint(80, 200)
    i = 1
    while i <= 5 and (i == 1 or words("\n\n".join(parts)) < target):
        w = sample(ctx, task)
        parts.append(present(w, rng, index=i) if rng.random() < 0.6 else
                     f"Puzzle {i}: {w.question}\nSolution: {solution(w, rng)}")
        i += 1
    return "\n\n".join(parts)


_PLAIN = {"quiz": _quiz, "factlist": _fact_list, "dates": _on_this_day}


def plain(ctx: Ctx) -> tuple[str, str]:
    genre = ctx.rng.choices(tuple(_PLAIN), (5, 3, 2))[0]
    return _PLAIN[genre](ctx), genre
