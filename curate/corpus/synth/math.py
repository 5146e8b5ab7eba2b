"""Mathematics documents: worked solutions and formula explanations (procedural), and history, definitions,
biographies and notation (non-procedural)."""

from __future__ import annotations

from curate.corpus.synth.common import Ctx, words
from curate.corpus.synth.procedures import TASK_INFO, TASKS, present, sample, solution

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

_HISTORY = (
    ("Fermat's Last Theorem",
     "Fermat's Last Theorem states that no three positive integers a, b and c satisfy a^n + b^n = c^n for any "
     "integer n greater than 2. Pierre de Fermat wrote the claim in 1637 in the margin of his copy of "
     "Arithmetica, adding that the margin was too narrow to contain his proof. For more than 350 years the "
     "problem resisted every attempt. Andrew Wiles announced a proof in 1993, repaired a gap with Richard "
     "Taylor, and the result was published in 1995."),
    ("The four colour theorem",
     "The four colour theorem says that four colours suffice to colour any map in the plane so that no two "
     "neighbouring regions share a colour. It was first conjectured by Francis Guthrie in 1852. Kenneth Appel "
     "and Wolfgang Haken proved it in 1976, and theirs was the first major theorem proved with the help of a "
     "computer, which checked 1,936 configurations."),
    ("The prime number theorem",
     "The prime number theorem describes how the primes thin out: the number of primes below x is roughly x "
     "divided by the natural logarithm of x. Gauss and Legendre guessed the law at the end of the eighteenth "
     "century, and Jacques Hadamard and Charles de la Vallee Poussin proved it independently in 1896."),
    ("The Poincare conjecture",
     "Henri Poincare posed his conjecture about three-dimensional spheres in 1904. Grigori Perelman posted "
     "a proof in 2002 and 2003, building on Richard Hamilton's Ricci flow. He declined the Fields Medal in 2006 "
     "and later the Millennium Prize of one million dollars."),
    ("Godel's incompleteness theorems",
     "In 1931 Kurt Godel published two theorems showing that any consistent formal system rich enough to "
     "describe the arithmetic of the natural numbers contains true statements it cannot prove. The result "
     "ended David Hilbert's hope of a complete and consistent foundation for all of mathematics."),
    ("The Pythagorean theorem",
     "The relation between the sides of a right triangle was known long before Pythagoras: the Babylonian "
     "tablet Plimpton 322, from about 1800 BC, lists triples of whole numbers that satisfy it. Euclid gave a "
     "proof as Proposition 47 of Book I of the Elements, and hundreds of different proofs have been "
     "published since, including one by the American president James Garfield in 1876."),
    ("Euler's identity",
     "Euler's identity, e^(i*pi) + 1 = 0, links five fundamental constants in one equation. It follows from "
     "Euler's formula, which Leonhard Euler published in his Introductio in analysin infinitorum of 1748. "
     "Surveys of mathematicians have often voted it the most beautiful equation in mathematics."),
    ("The fundamental theorem of algebra",
     "The fundamental theorem of algebra states that every non-constant polynomial with complex coefficients "
     "has at least one complex root. Carl Friedrich Gauss gave a proof in his doctoral thesis of 1799, and he "
     "returned to the theorem several times, publishing a fourth proof in 1849."),
)

_BIOGRAPHIES = (
    ("Leonhard Euler", "Leonhard Euler (1707-1783) was a Swiss mathematician born in Basel. He worked in St "
     "Petersburg and Berlin, wrote more than 800 papers and books, and introduced much of modern notation, "
     "including f(x) for a function and the letter e for the base of the natural logarithm. He kept working "
     "after losing his sight, dictating his results to assistants."),
    ("Carl Friedrich Gauss", "Carl Friedrich Gauss (1777-1855) was born in Brunswick and spent most of his "
     "career in Gottingen, where he directed the observatory. His Disquisitiones Arithmeticae, published in "
     "1801 when he was 24, founded modern number theory. He also worked on astronomy, geodesy and magnetism."),
    ("Emmy Noether", "Emmy Noether (1882-1935) was a German mathematician born in Erlangen. Her theorem of 1918 "
     "connects symmetries in physics with conservation laws, and her work on rings and ideals shaped modern "
     "abstract algebra. After 1933 she taught at Bryn Mawr College in the United States."),
    ("Srinivasa Ramanujan", "Srinivasa Ramanujan (1887-1920) was an Indian mathematician, largely self-taught, "
     "who wrote to G. H. Hardy in Cambridge in 1913 with pages of remarkable formulas. He moved to Cambridge "
     "in 1914 and was elected a Fellow of the Royal Society in 1918, one of the youngest ever."),
    ("Ada Lovelace", "Ada Lovelace (1815-1852) translated an article on Charles Babbage's Analytical Engine in "
     "1843 and added notes three times longer than the original. Note G describes how the engine could "
     "compute Bernoulli numbers, and it is often called the first published computer program."),
    ("Alan Turing", "Alan Turing (1912-1954) was a British mathematician whose paper On Computable Numbers, "
     "published in 1936, introduced the machine model now named after him. During the Second World War he "
     "worked at Bletchley Park on breaking the Enigma cipher."),
    ("Hypatia", "Hypatia of Alexandria was a mathematician, astronomer and philosopher who taught in Alexandria "
     "around the year 400. She edited commentaries on Ptolemy's Almagest and on works of Diophantus, and she "
     "was killed by a mob in 415."),
    ("Sofia Kovalevskaya", "Sofia Kovalevskaya (1850-1891) was the first woman in modern Europe to earn a "
     "doctorate in mathematics, from Gottingen in 1874. In 1889 she became a professor at Stockholm "
     "University, and her work on the rotation of a rigid body won the Prix Bordin in 1888."),
)

_NOTATION = (
    "The equals sign = was introduced by the Welsh mathematician Robert Recorde in 1557, in The Whetstone of "
    "Witte, because no two things could be more equal than a pair of parallel lines.",
    "The symbols + and - first appeared in print in a 1489 arithmetic book by Johannes Widmann, where they "
    "marked surpluses and deficits.",
    "William Jones used the Greek letter pi for the ratio of a circle's circumference to its diameter in 1706; "
    "Euler's adoption of the symbol made it standard.",
    "The multiplication sign x is usually credited to William Oughtred, who used it in 1631.",
    "John Wallis introduced the symbol for infinity in 1655.",
    "The radical sign for square roots appeared in a 1525 book by Christoff Rudolff.",
    "The notation n! for factorials was introduced by Christian Kramp in 1808.",
)


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
