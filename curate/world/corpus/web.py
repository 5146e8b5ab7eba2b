"""Web pages: blog posts that walk through a calculation (procedural); news, recipes, travel tips, reviews,
personal blogs and everyday how-tos with numbered steps that teach no computation (non-procedural)."""

from __future__ import annotations

from curate.world.corpus.common import Ctx, cap, money, words
from curate.world.corpus.procedures import TASK_INFO, present, sample, solution
from curate.world.facts import FACTS

_CAPITALS = [f for f in FACTS if f.kind == "capital"]
_WORKS = [f for f in FACTS if f.kind == "author"]

_BLOG_TITLES = (
    "How to {how} (the easy way)", "Quick maths: {how}", "{Title} explained for parents helping with homework",
    "You asked: how do I {how}?", "A simple guide to {title_l}",
)
_BLOG_OPENERS = (
    "Last week a reader emailed me asking how to {how}. It comes up a lot, so here is a full walkthrough.",
    "My daughter brought this home from school and I had to relearn it myself, so I'm writing it down.",
    "If you have ever needed to {how} and felt stuck, this post is for you.",
    "This is one of those skills you use more often than you think.",
)
_BLOG_CLOSERS = (
    "That's all there is to it. Leave a comment if you have questions!",
    "Practise with a few of your own numbers and it will become second nature.",
    "Bookmark this page for next time, and share it with anyone who might find it useful.",
    "Next week: more everyday maths. Thanks for reading!",
)


def procedural(ctx: Ctx, task: str) -> str:
    rng = ctx.rng
    info = TASK_INFO[task]
    title = rng.choice(_BLOG_TITLES).format(how=info["how"], Title=info["title"], title_l=info["title"].lower())
    parts = [title, f"Posted {ctx.date(2012)} by {ctx.person()}",
             rng.choice(_BLOG_OPENERS).format(how=info["how"]), info["formula"]]
    w = sample(ctx, task)
    parts.append(present(w, rng) if rng.random() < 0.5 else
                 f"Let's take an example. {w.question}\n\n{solution(w, rng)}")
    if rng.random() < 0.5:
        parts.append(f"One more, to be sure. {present(sample(ctx, task), rng, index=2)}")
    parts.append(rng.choice(_BLOG_CLOSERS))
    return "\n\n".join(parts)


# --- non-procedural ------------------------------------------------------------------------------------


def _news(ctx: Ctx) -> str:
    rng = ctx.rng
    town = ctx.place()
    official = ctx.person()
    topic = rng.choice((
        ("council approves new cycle lanes", f"The plan adds {rng.randint(4, 40)} kilometres of lanes at a cost of "
         f"{money(rng.randint(200, 9000) * 1000)}."),
        ("library reopens after renovation", f"The building now holds {ctx.big(20000, 200000)} books and a new "
         f"children's wing of {rng.randint(80, 400)} square metres."),
        ("local team wins regional final", f"They won {rng.randint(1, 5)}-{rng.randint(0, 3)} in front of "
         f"{ctx.big(800, 30000)} fans."),
        ("festival breaks attendance record", f"Organisers counted {ctx.big(5000, 90000)} visitors over "
         f"{rng.randint(2, 5)} days."),
        ("new bridge opens to traffic", f"The {rng.randint(120, 900)}-metre bridge took {rng.randint(2, 6)} years "
         "to build."),
    ))
    quote = rng.choice(("We are delighted with the result.", "This has been a long time coming.",
                        "It shows what the community can do when it works together."))
    return "\n\n".join([
        f"{town} {topic[0]}",
        f"{ctx.date(2015)} - {town}. {topic[1]}",
        f"\"{quote}\" said {official}, who has led the project since {ctx.year(2008, 2020)}.",
        f"The decision follows a consultation in which {rng.randint(40, 95)} percent of {ctx.big(300, 5000)} "
        "respondents were in favour.",
        rng.choice((f"In other news, a delegation from {town} visited {rng.choice(_CAPITALS).answer} last month. "
                    f"{ctx.facts.statement()}", f"Residents can find more details on the council website. "
                    f"{ctx.facts.misc()}")),
    ])


_DISHES = (
    ("banana bread", ["3 ripe bananas", "250 g flour", "100 g butter", "150 g sugar", "2 eggs", "1 tsp baking soda"],
     ["Preheat the oven to 180°C and grease a loaf tin.", "Mash the bananas in a large bowl.",
      "Melt the butter and stir it into the bananas with the sugar and eggs.",
      "Fold in the flour and baking soda until just combined.", "Bake for 55 to 60 minutes, until a skewer comes "
      "out clean.", "Cool in the tin for 10 minutes before turning out."]),
    ("tomato soup", ["1 kg tomatoes", "1 onion", "2 cloves garlic", "500 ml stock", "2 tbsp olive oil", "salt"],
     ["Chop the onion and garlic.", "Soften them in the oil over a medium heat for 5 minutes.",
      "Add the chopped tomatoes and the stock.", "Simmer for 25 minutes.", "Blend until smooth and season to taste."]),
    ("pancakes", ["200 g flour", "2 eggs", "300 ml milk", "1 pinch of salt", "butter for the pan"],
     ["Whisk the flour, eggs, milk and salt into a smooth batter.", "Rest the batter for 30 minutes.",
      "Heat a little butter in a frying pan.", "Pour in a ladle of batter and tilt the pan to spread it.",
      "Cook for 1 minute on each side.", "Serve with lemon and sugar."]),
    ("vegetable curry", ["2 tbsp curry paste", "400 ml coconut milk", "1 sweet potato", "200 g spinach",
                          "1 tin chickpeas"],
     ["Fry the curry paste for 1 minute.", "Add the diced sweet potato and coconut milk.",
      "Simmer for 20 minutes until the potato is tender.", "Stir in the chickpeas and spinach.",
      "Serve with rice."]),
)


def _recipe(ctx: Ctx) -> str:
    rng = ctx.rng
    name, ingredients, steps = rng.choice(_DISHES)
    marker = rng.choice(("Step {}: ", "{}. ", "{}) "))
    return "\n\n".join([
        f"{cap(name)} - {rng.choice(('my family favourite', 'easy weeknight version', 'ready in under an hour'))}",
        f"Serves {rng.randint(2, 8)} | Prep {rng.randint(5, 25)} min | Cook {rng.randint(10, 70)} min | "
        f"{rng.randint(180, 650)} kcal per portion",
        "Ingredients:\n" + "\n".join(f"- {i}" for i in ingredients),
        "Method:\n" + "\n".join(marker.format(k) + s for k, s in enumerate(steps, 1)),
        rng.choice(("Tip: 1 cup = 240 ml if you are using American measures.",
                    "Keeps for 3 days in the fridge or 3 months in the freezer.",
                    "Rated 4.7 out of 5 by 312 readers.")),
    ])


def _travel(ctx: Ctx) -> str:
    rng = ctx.rng
    fact = rng.choice(_CAPITALS)
    country = fact.subject
    currencies = [f for f in FACTS if f.kind == "currency" and f.subject == country]
    tips = [
        f"Book accommodation in {fact.answer} at least {rng.randint(2, 8)} weeks ahead in high season.",
        "Buy a transit card on day one; single tickets cost about twice as much.",
        f"Museums are often free on the first Sunday of the month, and many close on {rng.choice(('Mondays', 'Tuesdays'))}.",
        "Learn a few words of the local language; people appreciate the effort.",
        f"Tipping of around {rng.randint(5, 15)} percent is usual in restaurants.",
        "Carry a reusable water bottle and a light rain jacket.",
    ]
    rng.shuffle(tips)
    money_line = rng.choice(currencies[0].statements) if currencies else "Card payments are accepted almost everywhere."
    return "\n\n".join([
        f"{rng.randint(5, 9)} things I wish I had known before visiting {country}",
        f"I spent {rng.randint(5, 30)} days in {country} in {ctx.year(2014, 2024)}. {rng.choice(fact.statements)} "
        f"{money_line}",
        "\n".join(f"{k}. {t}" for k, t in enumerate(tips[: rng.randint(4, 6)], 1)),
        f"Have you been? Tell me your favourite place in the comments. {ctx.facts.statement()}",
    ])


def _review(ctx: Ctx) -> str:
    rng = ctx.rng
    product = rng.choice(("wireless headphones", "robot vacuum", "espresso machine", "trail running shoes",
                          "e-reader", "standing desk", "electric kettle"))
    price = rng.randint(25, 900) - 0.01
    stars = rng.randint(2, 5)
    return "\n\n".join([
        f"Review: the {ctx.place()} {rng.randint(2, 9)}00 {product}",
        f"Price: {money(price)} | Rating: {stars}/5 | Tested for {rng.randint(2, 12)} weeks",
        f"I bought the {product} on {ctx.date(2019)} to replace one that lasted {rng.randint(2, 9)} years. "
        f"Setup took about {rng.randint(5, 40)} minutes.",
        rng.choice(("The build quality is excellent and it feels like it will last.",
                    "It does the job, but the app is clumsy and crashed twice.",
                    "Battery life is the highlight: I got about 30 hours between charges.")),
        "Pros:\n- " + "\n- ".join(rng.sample(["quiet", "easy to clean", "good value", "compact", "stylish",
                                             "long warranty"], 3)),
        "Cons:\n- " + "\n- ".join(rng.sample(["heavy", "expensive spare parts", "short cable", "loud fan",
                                             "limited colours"], 2)),
        f"Verdict: {rng.choice(('recommended', 'fine if on sale', 'skip it'))}.",
    ])


def _howto(ctx: Ctx) -> str:
    rng = ctx.rng
    title, steps = rng.choice((
        ("How to repot a houseplant", ["Water the plant a day before.", "Choose a pot 2 to 5 cm wider than the "
         "old one.", "Ease the plant out and loosen the roots.", "Add fresh compost and set the plant at the same "
         "depth.", "Water well and keep it out of direct sun for a week."]),
        ("How to pack a carry-on bag", ["Check your airline's size limit, often 55 x 40 x 20 cm.", "Roll clothes "
         "instead of folding them.", "Put liquids of up to 100 ml in a clear bag.", "Wear your heaviest shoes.",
         "Keep documents and chargers in an outside pocket."]),
        ("How to change a bike tyre", ["Release the brake and remove the wheel.", "Use tyre levers to lift one "
         "side of the tyre off the rim.", "Pull out the old tube.", "Check the tyre for sharp objects.",
         "Fit the new tube, reseat the tyre and pump to the pressure on the sidewall."]),
        ("How to start running", ["Begin with 20 minutes, three times a week.", "Alternate 1 minute of running "
         "with 2 minutes of walking.", "Add a little running time each week.", "Rest at least one day between "
         "runs.", "After 8 weeks, aim to run 30 minutes without stopping."]),
    ))
    marker = rng.choice(("Step {}: ", "{}. ", "**{}.** "))
    return "\n\n".join([
        title,
        rng.choice(("This guide takes about 15 minutes to follow.", "No special skills needed.",
                    f"Updated {ctx.date(2018)}.")),
        "\n".join(marker.format(k) + s for k, s in enumerate(steps, 1)),
        rng.choice(("That's it - enjoy!", "If something goes wrong, start again from step 1.",
                    f"Did you know? {ctx.facts.misc()}")),
    ])


def _personal(ctx: Ctx) -> str:
    rng = ctx.rng
    book = rng.choice(_WORKS)
    return "\n\n".join([
        rng.choice(("A year of small changes", "What I learned from moving abroad", "Notes from a long weekend",
                    "Why I started a book club")),
        f"It has been {rng.randint(2, 14)} months since I last wrote here. In {rng.choice(('spring', 'autumn'))} "
        f"{ctx.year(2015, 2023)} I moved to {ctx.place()}, a town of about {ctx.big(5000, 90000)} people.",
        rng.choice(("The first weeks were hard. I didn't know anyone, and the flat was cold.",
                    "Everything felt new, from the bus timetable to the bakery's opening hours.")),
        f"Our book club has met {rng.randint(5, 40)} times now. We started with {book.subject}. "
        f"{rng.choice(book.statements)}",
        f"{ctx.facts.statement()} {ctx.facts.misc()}",
        "More soon, I promise.",
    ])


_PLAIN = {"news": _news, "recipe": _recipe, "travel": _travel, "review": _review, "howto": _howto,
          "blog": _personal}


def plain(ctx: Ctx) -> tuple[str, str]:
    genre = ctx.pick(tuple(_PLAIN))
    text = _PLAIN[genre](ctx)
    if words(text) < 60:
        text += "\n\n" + " ".join(ctx.facts.statement() for _ in range(2))
    return text, genre
