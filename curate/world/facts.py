"""Real-world facts the synthetic corpus states and the factual probes ask about, read from data/facts.toml.

Each fact carries the probe's question and reference sentence plus several other phrasings; the corpus
only uses the other phrasings, repeated across many documents, so a small LM can learn the fact without
seeing the probe's exact wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.world.data import load


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str
    sentence: str  # the factual probe's reference answer sentence
    statements: tuple[str, ...]  # phrasings the corpus uses; each contains `answer`
    subject: str
    topic: str
    kind: str = "custom"  # the relation ("capital", "symbol", ...) for facts built from one


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _relation_facts(kind: str, relation: dict) -> list[Fact]:
    facts = []
    for subject, answer in relation["facts"]:
        statements = tuple(_cap(t.format(s=subject, a=answer)) for t in relation["statements"])
        sentence = _cap(relation["sentence"].format(s=subject, a=answer))
        question = relation["question"].format(s=subject, a=answer)
        facts.append(Fact(question, answer, sentence, statements, subject, relation["topic"], kind))
    return facts


_DATA = load("facts.toml")
FACTS: tuple[Fact, ...] = (
    *(fact for kind, relation in _DATA["relations"].items() for fact in _relation_facts(kind, relation)),
    *(Fact(**{**fact, "statements": tuple(fact["statements"])}) for fact in _DATA["custom"]),
)
# True statements used as filler in trivia, wiki and web text; not asked by any probe.
MISC_FACTS: tuple[str, ...] = tuple(_DATA["filler"]["statements"])
