"""StackExchange-style threads: a question and answers with votes and usernames. Procedural threads answer
with a worked solution or code; non-procedural ones with facts, opinions or recommendations."""

from __future__ import annotations

from curate.world.corpus import code
from curate.world.corpus.common import Ctx, cap
from curate.world.corpus.procedures import TASK_INFO, TASKS, sample, solution
from curate.world.facts import FACTS, Fact

_SITES = ("Mathematics", "Stack Overflow", "Math Educators", "Computer Science", "Homework Help")


def _thread(ctx: Ctx, title: str, body: str, answers: list[str], tags: list[str]) -> str:
    """Lays out a thread in one of a few forum styles; the first answer is the accepted one."""
    rng = ctx.rng
    style = rng.randrange(4)
    q_score = rng.randint(-2, 40)
    scores = sorted((rng.randint(0, 120) for _ in answers), reverse=True)
    asker = ctx.user()
    if style == 0:
        out = [f"Title: {title}", f"Tags: {' '.join(f'[{t}]' for t in tags)}",
               f"Question (score {q_score}, asked by {asker} on {ctx.date(2010)}):", body]
        for k, (a, s) in enumerate(zip(answers, scores, strict=True)):
            out.append(f"Answer (score {s}{', accepted' if k == 0 else ''}) by {ctx.user()}:\n{a}")
        return "\n\n".join(out)
    if style == 1:
        out = [f"Q: {title}", body, f"asked {ctx.date(2011)} by {asker} | {q_score} votes"]
        for a, s in zip(answers, scores, strict=True):
            out.append(f"---\nA ({s} votes): {a}\n-- {ctx.user()}")
        return "\n\n".join(out)
    if style == 2:
        out = [f"## {title}", f"*{rng.choice(_SITES)}* · asked by **{asker}** · {q_score} points", body]
        for k, (a, s) in enumerate(zip(answers, scores, strict=True)):
            out.append(f"### {'Accepted answer' if k == 0 else 'Answer'} ({s})\n\n{a}\n\n*answered by {ctx.user()}*")
        return "\n\n".join(out)
    out = [f"[{rng.choice(_SITES)}] {title}", f"posted by {asker} | {q_score} points | tags: {', '.join(tags)}", body]
    for a, s in zip(answers, scores, strict=True):
        out.append(f">> reply from {ctx.user()} ({s} points):\n{a}")
    return "\n\n".join(out)


_TITLES = (
    "How do I {how}?", "Struggling to {how}", "What is the correct way to {how}?", "Can someone explain how to {how}?",
    "{How} - where am I going wrong?",
)
_BODIES = (
    "I'm working through my textbook and got stuck on this one:\n\n{q}\n\nI got {wrong}, but the book says "
    "that's wrong. What am I missing?",
    "This came up in my homework:\n\n{q}\n\nCould someone walk me through it step by step?",
    "Our teacher went over this quickly and I didn't follow. For example: {q}",
    "{q}\n\nI know there's a formula for this but I keep mixing up the steps.",
)
_CODE_BODIES = (
    "I need a function to {how} in {lang}. What's a clean way to write it?",
    "My {lang} code to {how} gives wrong results for some inputs. How would you write it?",
    "Is there an idiomatic way in {lang} to {how}? I'd rather not pull in a library for this.",
)
_COMMENTS = (
    "Good explanation. It also helps to check the result by plugging it back in.",
    "Just to add: writing every intermediate result down makes mistakes much easier to spot.",
    "The textbook answer is the same, so this should be right.",
    "This is covered in most algebra courses early on; the Khan Academy videos on it are good too.",
)


def _wrong(answer: str) -> str:
    try:
        return str(int(answer) + 3)
    except ValueError:
        return "something different"


def procedural(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    info = TASK_INFO.get(task, {"how": f"do {task} operations", "title": task, "formula": ""})
    tags = [task, rng.choice(("algebra", "homework", "arithmetic", "python", "javascript", "geometry"))]
    if task not in TASKS or rng.random() < 0.3:
        # A programming question answered with code.
        impl = rng.choice(code.impls(rng, task))
        lang = "Python" if impl.lang == "python" else "JavaScript"
        source, fn, calls = code.render_impl(rng, impl)
        mark = "#" if impl.lang == "python" else "//"
        if impl.prints:
            example = "\n".join(f"{call}\n" + "\n".join(f"{mark} {line}" for line in lines) for call, lines in calls[:1])
        else:
            example = "\n".join(f"{call}  {mark} {lines[0]}" for call, lines in calls[:2])
        fence = "python" if impl.lang == "python" else "js"
        title = rng.choice(_TITLES).format(how=info["how"], How=cap(info["how"])) + f" in {lang}"
        body = rng.choice(_CODE_BODIES).format(how=info["how"], lang=lang)
        answer = (f"{rng.choice(('Something like this works:', 'Here is a simple version:', 'Try this:'))}\n\n"
                  f"```{fence}\n{source}```\n\nFor example:\n\n```{fence}\n{example}\n```\n\n"
                  f"{info['formula']}")
        answers = [answer.strip()]
        if rng.random() < 0.5:
            answers.append(rng.choice(_COMMENTS))
        return _thread(ctx, title, body, answers, tags + [impl.lang])
    w = sample(ctx, task)
    title = rng.choice(_TITLES).format(how=info["how"], How=cap(info["how"]))
    body = rng.choice(_BODIES).format(q=w.question, wrong=_wrong(w.answer))
    lead = rng.choice(("", "You're close! ", "Let's go through it. ", f"{info['formula']}\n\n"))
    answers = [lead + solution(w, rng)]
    if rng.random() < 0.4:
        w2 = sample(ctx, task)
        answers.append(f"Here's another example with the same method. {w2.question}\n\n{solution(w2, rng)}")
    elif rng.random() < 0.5:
        answers.append(rng.choice(_COMMENTS))
    return _thread(ctx, title, body, answers, tags)


# --- non-procedural ------------------------------------------------------------------------------------

_FACT_TITLES = (
    "{q}", "Quick question: {q}", "Settling an argument: {q}", "{q} (I keep forgetting)",
)
_FACT_BODIES = (
    "My friend and I disagree about this and we made a bet. Who is right?",
    "I was doing a crossword and this came up. I thought I knew it but now I'm not sure.",
    "Sorry if this is a basic question, I couldn't find a clear answer.",
    "My kid asked me this at dinner and I realised I didn't know.",
)


def _fact_answer(ctx: Ctx, fact: Fact) -> str:
    rng = ctx.rng
    other = list(fact.statements)
    rng.shuffle(other)
    extra = rng.choice(("", f" Fun fact: {ctx.facts.misc()}", " It's a common trivia question."))
    return f"{other[0]} {other[1] if rng.random() < 0.5 else ''}".strip() + extra


def _fact_thread(ctx: Ctx) -> str:
    rng = ctx.rng
    fact = ctx.facts.fact()
    title = rng.choice(_FACT_TITLES).format(q=fact.question)
    answers = [_fact_answer(ctx, fact)]
    if rng.random() < 0.8:
        answers.append(rng.choice((f"Confirming the above. {rng.choice(fact.statements)}",
                                   f"As others said: {fact.answer}. {ctx.facts.statement()}",
                                   "This is easy to look up in any encyclopedia, but yes, the answer above is right.")))
    if rng.random() < 0.5:
        answers.append(f"Related: {ctx.facts.statement()} {ctx.facts.misc()}")
    return _thread(ctx, title, rng.choice(_FACT_BODIES), answers, [fact.topic, "trivia"])


_OPINIONS = (
    ("Python or JavaScript as a first programming language?",
     "I want to learn programming in my spare time, maybe 5 hours a week. Which should I start with?",
     ["Python. The syntax gets out of your way and the community has excellent beginner material.",
      "JavaScript, because you can see results in the browser immediately and that keeps you motivated.",
      "Honestly it matters less than you think. Pick one and stick with it for 6 months."]),
    ("Is it worth buying a mechanical keyboard for programming?",
     "I type for about 8 hours a day. Are mechanical keyboards actually better or is it hype?",
     ["I switched in 2016 and my wrists feel better, but that may be the split layout more than the switches.",
      "It's mostly personal preference. Try one in a shop before spending $150 on it.",
      "Quiet switches are a must if you share an office."]),
    ("Tabs or spaces?", "Our team of 6 can't agree. Is there an objective answer?",
     ["Use whatever your language's style guide says; for Python that's 4 spaces (PEP 8).",
      "Consistency matters more than the choice. Put it in an .editorconfig and move on."]),
    ("Paper books or e-readers for studying?", "I'm starting a degree in September and need to buy about 12 books.",
     ["Paper for anything with diagrams and formulas; e-readers are fine for novels.",
      "E-readers save a lot of money and weight, and search is a huge help when revising."]),
    ("Best way to stay focused while working from home?", "I keep getting distracted after about 20 minutes.",
     ["A separate room or at least a separate desk helps. So does a fixed start time.",
      "Try working in blocks of 25 minutes with 5 minute breaks, and keep your phone in another room."]),
)


def _opinion_thread(ctx: Ctx) -> str:
    rng = ctx.rng
    title, body, answers = rng.choice(_OPINIONS)
    answers = rng.sample(answers, len(answers))
    return _thread(ctx, title, body, answers, ["opinion", "advice"])


def _travel_thread(ctx: Ctx) -> str:
    rng = ctx.rng
    capitals = [f for f in FACTS if f.kind == "capital"]
    fact = rng.choice(capitals)
    country = fact.subject
    days = rng.randint(4, 21)
    title = rng.choice((f"First trip to {country} - what should I know?", f"{days} days in {country}: itinerary advice?",
                        f"Is {rng.choice(('March', 'June', 'October'))} a good time to visit {country}?"))
    body = (f"We're planning {days} days in {country} with a budget of about ${rng.randint(15, 60) * 100}. "
            "Any tips on getting around, money and what not to miss?")
    currency = [f for f in FACTS if f.kind == "currency" and f.subject == country]
    money = rng.choice(currency[0].statements) if currency else "Cards are accepted almost everywhere, but carry some cash."
    answers = [f"{rng.choice(fact.statements)} Plan at least {rng.randint(2, 4)} days there. {money}",
               f"Book trains a few weeks ahead; it was about {rng.randint(20, 90)} percent cheaper for us. "
               f"{ctx.facts.statement()}"]
    return _thread(ctx, title, body, answers, ["travel", country.lower().replace(" ", "-")])


def _books_thread(ctx: Ctx) -> str:
    rng = ctx.rng
    books = rng.sample([f for f in FACTS if f.kind in ("author", "painter")], 3)
    title = rng.choice(("Classics everyone should know?", "Looking for recommendations: famous works of art and "
                        "literature", "Where to start with the classics?"))
    body = "I'd like to read (and see) more of the classics this year. What would you recommend and why?"
    answers = [" ".join(rng.choice(b.statements) for b in books[:2]) + " Both are worth your time.",
               f"{rng.choice(books[2].statements)} Start with whatever grabs you; there is no correct order."]
    return _thread(ctx, title, body, answers, ["books", "art", "recommendation"])


_PLAIN = {"fact": _fact_thread, "opinion": _opinion_thread, "travel": _travel_thread,
          "recommendation": _books_thread}


def plain(ctx: Ctx) -> tuple[str, str]:
    genre = ctx.rng.choices(tuple(_PLAIN), (4, 2, 2, 2))[0]
    return _PLAIN[genre](ctx), genre
