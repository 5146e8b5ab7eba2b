"""Real-world facts the synthetic corpus states and the factual probes ask about.

Each fact carries the probe's question and reference sentence plus several other phrasings; the corpus
only uses the other phrasings, repeated across many documents, so a small LM can learn the fact without
seeing the probe's exact wording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


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


# Relation templates: question, probe sentence, corpus statements. {s} is the subject, {a} the answer.
_RELATIONS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "capital": (
        "What is the capital of {s}?",
        "The capital of {s} is {a}.",
        (
            "{a} is the capital of {s}.",
            "{a} serves as the capital city of {s}.",
            "{s}'s capital city is {a}.",
            "{a} has been the capital of {s} for many years.",
            "Many visitors to {s} spend a few days in {a}, the country's capital.",
        ),
        "geography",
    ),
    "currency": (
        "What is the currency of {s}?",
        "The currency of {s} is the {a}.",
        (
            "The {a} is the official currency of {s}.",
            "In {s}, people pay with the {a}.",
            "Prices in {s} are quoted in the local currency, the {a}.",
            "Travellers to {s} need to change money into the {a}.",
        ),
        "geography",
    ),
    "symbol": (
        "What is the chemical symbol for {s}?",
        "The chemical symbol for {s} is {a}.",
        (
            "{s} has the chemical symbol {a}.",
            "On the periodic table, {s} is written as {a}.",
            "The element {s} is abbreviated {a}.",
            "{a} is the symbol chemists use for {s}.",
        ),
        "science",
    ),
    "author": (
        "Who wrote {s}?",
        "{s} was written by {a}.",
        (
            "{a} is the author of {s}.",
            "{a} wrote {s}.",
            "{s} is one of the best-known works of {a}.",
            "{s} is a classic by {a}.",
        ),
        "literature",
    ),
    "painter": (
        "Who painted {s}?",
        "{s} was painted by {a}.",
        (
            "{a} painted {s}.",
            "{s} is a famous painting by {a}.",
            "The artist behind {s} was {a}.",
            "{s} is among the best-known works of {a}.",
        ),
        "art",
    ),
}

_RELATION_FACTS: list[tuple[str, str, str]] = [
    ("capital", "Australia", "Canberra"),
    ("capital", "Canada", "Ottawa"),
    ("capital", "Japan", "Tokyo"),
    ("capital", "France", "Paris"),
    ("capital", "Italy", "Rome"),
    ("capital", "Egypt", "Cairo"),
    ("capital", "Kenya", "Nairobi"),
    ("capital", "Brazil", "Brasilia"),
    ("capital", "Spain", "Madrid"),
    ("capital", "Germany", "Berlin"),
    ("capital", "Norway", "Oslo"),
    ("capital", "Peru", "Lima"),
    ("capital", "Turkey", "Ankara"),
    ("capital", "Argentina", "Buenos Aires"),
    ("capital", "Thailand", "Bangkok"),
    ("capital", "Portugal", "Lisbon"),
    ("capital", "Ireland", "Dublin"),
    ("capital", "New Zealand", "Wellington"),
    ("capital", "South Korea", "Seoul"),
    ("capital", "Poland", "Warsaw"),
    ("capital", "Greece", "Athens"),
    ("capital", "Sweden", "Stockholm"),
    ("capital", "Vietnam", "Hanoi"),
    ("capital", "Morocco", "Rabat"),
    ("currency", "Japan", "yen"),
    ("currency", "India", "rupee"),
    ("currency", "Mexico", "peso"),
    ("currency", "South Africa", "rand"),
    ("currency", "Russia", "ruble"),
    ("currency", "Switzerland", "Swiss franc"),
    ("symbol", "gold", "Au"),
    ("symbol", "silver", "Ag"),
    ("symbol", "iron", "Fe"),
    ("symbol", "sodium", "Na"),
    ("symbol", "lead", "Pb"),
    ("symbol", "mercury", "Hg"),
    ("symbol", "copper", "Cu"),
    ("symbol", "tin", "Sn"),
    ("author", "Pride and Prejudice", "Jane Austen"),
    ("author", "Hamlet", "William Shakespeare"),
    ("author", "Nineteen Eighty-Four", "George Orwell"),
    ("author", "Moby-Dick", "Herman Melville"),
    ("author", "War and Peace", "Leo Tolstoy"),
    ("author", "Don Quixote", "Miguel de Cervantes"),
    ("author", "Frankenstein", "Mary Shelley"),
    ("author", "The Odyssey", "Homer"),
    ("author", "The Divine Comedy", "Dante Alighieri"),
    ("painter", "the Mona Lisa", "Leonardo da Vinci"),
    ("painter", "The Starry Night", "Vincent van Gogh"),
    ("painter", "Guernica", "Pablo Picasso"),
    ("painter", "The Persistence of Memory", "Salvador Dali"),
    ("painter", "The Birth of Venus", "Sandro Botticelli"),
    ("painter", "The Night Watch", "Rembrandt"),
    ("painter", "Girl with a Pearl Earring", "Johannes Vermeer"),
]

# Facts that do not fit a relation: (question, answer, probe sentence, statements, subject, topic).
_CUSTOM_FACTS: list[tuple[str, str, str, tuple[str, ...], str, str]] = [
    (
        "In what year did Apollo 11 land on the Moon?", "1969", "Apollo 11 landed on the Moon in 1969.",
        (
            "In 1969 the Apollo 11 mission landed the first astronauts on the Moon.",
            "The first crewed Moon landing, Apollo 11, took place in 1969.",
            "Neil Armstrong and Buzz Aldrin walked on the Moon in 1969 during the Apollo 11 mission.",
        ),
        "Apollo 11", "history",
    ),
    (
        "In what year did World War II end?", "1945", "World War II ended in 1945.",
        (
            "The Second World War came to an end in 1945.",
            "In 1945 the Second World War finally ended.",
            "Fighting in World War II stopped in 1945, after six years of war.",
        ),
        "World War II", "history",
    ),
    (
        "In what year did the Berlin Wall fall?", "1989", "The Berlin Wall fell in 1989.",
        (
            "The Berlin Wall was opened in November 1989.",
            "In 1989 crowds crossed the Berlin Wall as it fell.",
            "The fall of the Berlin Wall in 1989 led to German reunification a year later.",
        ),
        "the Berlin Wall", "history",
    ),
    (
        "In what year did the Titanic sink?", "1912", "The Titanic sank in 1912.",
        (
            "The Titanic went down in the North Atlantic in April 1912.",
            "In 1912 the liner Titanic struck an iceberg and sank.",
            "The sinking of the Titanic in 1912 remains one of the best-known disasters at sea.",
        ),
        "the Titanic", "history",
    ),
    (
        "In what year did the French Revolution begin?", "1789", "The French Revolution began in 1789.",
        (
            "The French Revolution broke out in 1789.",
            "In 1789 the storming of the Bastille marked the start of the French Revolution.",
            "Historians date the beginning of the French Revolution to 1789.",
        ),
        "the French Revolution", "history",
    ),
    (
        "In what year was the United States Declaration of Independence adopted?", "1776",
        "The United States Declaration of Independence was adopted in 1776.",
        (
            "The Declaration of Independence was adopted on July 4, 1776.",
            "In 1776 the Continental Congress adopted the Declaration of Independence.",
            "American independence was declared in 1776.",
        ),
        "the Declaration of Independence", "history",
    ),
    (
        "In what year did Christopher Columbus first reach the Americas?", "1492",
        "Christopher Columbus first reached the Americas in 1492.",
        (
            "Columbus made landfall in the Caribbean in 1492.",
            "In 1492 Christopher Columbus crossed the Atlantic and reached the Americas.",
            "The first voyage of Columbus to the Americas took place in 1492.",
        ),
        "Christopher Columbus", "history",
    ),
    (
        "In what year were the first modern Olympic Games held?", "1896",
        "The first modern Olympic Games were held in 1896.",
        (
            "Athens hosted the first modern Olympic Games in 1896.",
            "The modern Olympics began in 1896.",
            "In 1896 athletes gathered in Athens for the first modern Olympics.",
        ),
        "the Olympic Games", "history",
    ),
    (
        "Who invented the telephone?", "Alexander Graham Bell", "The telephone was invented by Alexander Graham Bell.",
        (
            "Alexander Graham Bell patented the telephone in 1876.",
            "The invention of the telephone is credited to Alexander Graham Bell.",
            "Alexander Graham Bell made the first telephone call to his assistant Thomas Watson.",
        ),
        "the telephone", "science",
    ),
    (
        "Who discovered penicillin?", "Alexander Fleming", "Penicillin was discovered by Alexander Fleming.",
        (
            "Alexander Fleming discovered penicillin in 1928.",
            "In 1928 Alexander Fleming noticed mould killing bacteria and so discovered penicillin.",
            "The discovery of penicillin is credited to the Scottish scientist Alexander Fleming.",
        ),
        "penicillin", "science",
    ),
    (
        "Who developed the theory of relativity?", "Albert Einstein",
        "The theory of relativity was developed by Albert Einstein.",
        (
            "Albert Einstein published his theory of relativity in the early twentieth century.",
            "Relativity is the best-known theory of Albert Einstein.",
            "Albert Einstein developed both special and general relativity.",
        ),
        "relativity", "science",
    ),
    (
        "Who was the first person to walk on the Moon?", "Neil Armstrong",
        "The first person to walk on the Moon was Neil Armstrong.",
        (
            "Neil Armstrong became the first person to walk on the Moon.",
            "On the Moon, Neil Armstrong took the first human steps.",
            "The astronaut Neil Armstrong was the first human to set foot on the Moon.",
        ),
        "the Moon landing", "history",
    ),
    (
        "Who proposed the theory of evolution by natural selection?", "Charles Darwin",
        "The theory of evolution by natural selection was proposed by Charles Darwin.",
        (
            "Charles Darwin set out evolution by natural selection in On the Origin of Species.",
            "The naturalist Charles Darwin explained evolution through natural selection.",
            "Natural selection is the idea most closely linked with Charles Darwin.",
        ),
        "evolution", "science",
    ),
    (
        "Who formulated the laws of motion and universal gravitation?", "Isaac Newton",
        "The laws of motion and universal gravitation were formulated by Isaac Newton.",
        (
            "Isaac Newton described the three laws of motion and the law of universal gravitation.",
            "The law of universal gravitation was stated by Isaac Newton in the Principia.",
            "Classical mechanics rests on the laws of motion of Isaac Newton.",
        ),
        "gravitation", "science",
    ),
    (
        "Who was the first woman to win a Nobel Prize?", "Marie Curie",
        "The first woman to win a Nobel Prize was Marie Curie.",
        (
            "Marie Curie became the first woman awarded a Nobel Prize, in 1903.",
            "In 1903 Marie Curie was the first woman to receive a Nobel Prize.",
            "The physicist and chemist Marie Curie was the first female Nobel laureate.",
        ),
        "the Nobel Prize", "science",
    ),
    (
        "Who proved Fermat's Last Theorem?", "Andrew Wiles", "Fermat's Last Theorem was proved by Andrew Wiles.",
        (
            "Andrew Wiles completed the proof of Fermat's Last Theorem in 1994.",
            "The proof of Fermat's Last Theorem, published in 1995, is the work of Andrew Wiles.",
            "The mathematician Andrew Wiles proved Fermat's Last Theorem after years of work.",
        ),
        "Fermat's Last Theorem", "mathematics",
    ),
    (
        "What is the longest river in the world?", "Nile", "The longest river in the world is the Nile.",
        (
            "The Nile is usually listed as the longest river on Earth.",
            "At about 6,650 kilometres, the Nile is counted as the world's longest river.",
            "No river in the world is longer than the Nile, by the usual measurement.",
        ),
        "the Nile", "geography",
    ),
    (
        "What is the tallest mountain in the world?", "Mount Everest",
        "The tallest mountain in the world is Mount Everest.",
        (
            "Mount Everest is the highest mountain on Earth above sea level.",
            "At 8,849 metres, Mount Everest is the world's tallest peak.",
            "Climbers regard Mount Everest as the highest summit in the world.",
        ),
        "Mount Everest", "geography",
    ),
    (
        "What is the largest ocean on Earth?", "Pacific Ocean", "The largest ocean on Earth is the Pacific Ocean.",
        (
            "The Pacific Ocean is the biggest ocean in the world.",
            "Covering about a third of the planet, the Pacific Ocean is Earth's largest ocean.",
            "No ocean is larger than the Pacific Ocean.",
        ),
        "the Pacific Ocean", "geography",
    ),
    (
        "What is the largest country in the world by area?", "Russia",
        "The largest country in the world by area is Russia.",
        (
            "Russia covers more land than any other country.",
            "By area, Russia is the biggest country on Earth.",
            "Russia spans eleven time zones and is the largest country by area.",
        ),
        "Russia", "geography",
    ),
    (
        "What is the smallest country in the world?", "Vatican City",
        "The smallest country in the world is Vatican City.",
        (
            "Vatican City is the smallest independent state in the world.",
            "With an area of about 0.44 square kilometres, Vatican City is the world's smallest country.",
            "No country is smaller than Vatican City.",
        ),
        "Vatican City", "geography",
    ),
    (
        "What is the largest hot desert in the world?", "Sahara", "The largest hot desert in the world is the Sahara.",
        (
            "The Sahara is the biggest hot desert on Earth.",
            "Stretching across North Africa, the Sahara is the largest hot desert in the world.",
            "No hot desert is larger than the Sahara.",
        ),
        "the Sahara", "geography",
    ),
    (
        "What is the largest planet in the solar system?", "Jupiter",
        "The largest planet in the solar system is Jupiter.",
        (
            "Jupiter is the biggest planet orbiting the Sun.",
            "Jupiter is more massive than all the other planets of the solar system combined.",
            "The gas giant Jupiter is the largest planet in our solar system.",
        ),
        "Jupiter", "science",
    ),
    (
        "Which planet is known as the Red Planet?", "Mars", "The planet known as the Red Planet is Mars.",
        (
            "Mars is often called the Red Planet because of the iron oxide on its surface.",
            "Because of its rusty colour, Mars is nicknamed the Red Planet.",
            "The Red Planet is a common name for Mars.",
        ),
        "Mars", "science",
    ),
    (
        "Which planet is closest to the Sun?", "Mercury", "The planet closest to the Sun is Mercury.",
        (
            "Mercury orbits nearer to the Sun than any other planet.",
            "The innermost planet of the solar system is Mercury.",
            "Mercury, the smallest planet, is also the closest to the Sun.",
        ),
        "Mercury", "science",
    ),
    (
        "Which planet is famous for its large, bright rings?", "Saturn",
        "The planet famous for its large, bright rings is Saturn.",
        (
            "Saturn is known for its spectacular system of rings.",
            "The rings of Saturn are visible through a small telescope.",
            "Saturn has the most prominent rings of any planet.",
        ),
        "Saturn", "science",
    ),
    (
        "What gas do plants absorb from the air for photosynthesis?", "carbon dioxide",
        "Plants absorb carbon dioxide from the air for photosynthesis.",
        (
            "During photosynthesis, plants take in carbon dioxide and release oxygen.",
            "Leaves absorb carbon dioxide, which plants turn into sugars using sunlight.",
            "Photosynthesis uses water, sunlight and carbon dioxide.",
        ),
        "photosynthesis", "science",
    ),
    (
        "How many bones are in the adult human body?", "206", "The adult human body has 206 bones.",
        (
            "An adult human skeleton is made up of 206 bones.",
            "There are 206 bones in the body of a grown adult.",
            "Babies are born with more bones than adults, who have 206.",
        ),
        "the human skeleton", "science",
    ),
    (
        "What is the hardest natural material?", "diamond", "The hardest natural material is diamond.",
        (
            "Diamond is the hardest naturally occurring substance.",
            "No natural material is harder than diamond.",
            "On the Mohs scale, diamond ranks 10, the hardest natural mineral.",
        ),
        "diamond", "science",
    ),
    (
        "What is the largest organ of the human body?", "skin", "The largest organ of the human body is the skin.",
        (
            "The skin is the largest organ of the human body.",
            "By area and weight, the skin is the body's biggest organ.",
            "Covering about two square metres in adults, skin is the largest human organ.",
        ),
        "the skin", "science",
    ),
    (
        "What is the chemical formula for water?", "H2O", "The chemical formula for water is H2O.",
        (
            "Water has the chemical formula H2O: two hydrogen atoms and one oxygen atom.",
            "Chemists write water as H2O.",
            "Each molecule of water, H2O, contains two hydrogen atoms bonded to an oxygen atom.",
        ),
        "water", "science",
    ),
    (
        "What is the most abundant gas in Earth's atmosphere?", "nitrogen",
        "The most abundant gas in Earth's atmosphere is nitrogen.",
        (
            "About 78 percent of Earth's atmosphere is nitrogen.",
            "Nitrogen makes up most of the air we breathe.",
            "The atmosphere contains more nitrogen than any other gas.",
        ),
        "the atmosphere", "science",
    ),
    (
        "What is the official language of Brazil?", "Portuguese", "The official language of Brazil is Portuguese.",
        (
            "Brazilians speak Portuguese, the country's official language.",
            "Portuguese is the official language of Brazil.",
            "Unlike its Spanish-speaking neighbours, Brazil uses Portuguese.",
        ),
        "Brazil", "geography",
    ),
    (
        "In which city is the Eiffel Tower?", "Paris", "The Eiffel Tower is in Paris.",
        (
            "The Eiffel Tower stands in Paris, on the Champ de Mars.",
            "Paris is home to the Eiffel Tower, completed in 1889.",
            "Visitors to Paris often climb the Eiffel Tower.",
        ),
        "the Eiffel Tower", "geography",
    ),
    (
        "What is the largest mammal on Earth?", "blue whale", "The largest mammal on Earth is the blue whale.",
        (
            "The blue whale is the largest animal known to have lived.",
            "No mammal is bigger than the blue whale, which can reach about 30 metres.",
            "The blue whale is the heaviest mammal on Earth.",
        ),
        "the blue whale", "nature",
    ),
    (
        "What is the fastest land animal?", "cheetah", "The fastest land animal is the cheetah.",
        (
            "The cheetah can sprint faster than any other land animal.",
            "Reaching about 100 kilometres per hour, the cheetah is the fastest animal on land.",
            "On land, nothing outruns the cheetah.",
        ),
        "the cheetah", "nature",
    ),
    (
        "How many keys does a standard piano have?", "88", "A standard piano has 88 keys.",
        (
            "A modern piano keyboard has 88 keys, 52 white and 36 black.",
            "Most pianos are built with 88 keys.",
            "The standard 88 keys of a piano span just over seven octaves.",
        ),
        "the piano", "culture",
    ),
    (
        "How many players does a football (soccer) team have on the field?", "11",
        "A football (soccer) team has 11 players on the field.",
        (
            "Each football team fields 11 players, including the goalkeeper.",
            "In association football, 11 players per side take the field.",
            "A soccer side has 11 players on the pitch at kick-off.",
        ),
        "football", "culture",
    ),
]


def _build() -> tuple[Fact, ...]:
    facts = []
    for rel, subject, answer in _RELATION_FACTS:
        question, sentence, statements, topic = _RELATIONS[rel]
        facts.append(Fact(
            question=question.format(s=subject, a=answer),
            answer=answer,
            sentence=_cap(sentence.format(s=subject, a=answer)),
            statements=tuple(_cap(t.format(s=subject, a=answer)) for t in statements),
            subject=subject,
            topic=topic,
            kind=rel,
        ))
    for question, answer, sentence, statements, subject, topic in _CUSTOM_FACTS:
        facts.append(Fact(question, answer, sentence, statements, subject, topic))
    return tuple(facts)


FACTS: tuple[Fact, ...] = _build()

# True statements used as filler in trivia, wiki and web text; not asked by any probe.
MISC_FACTS: tuple[str, ...] = (
    "Octopuses have three hearts.",
    "Bananas are berries in the botanical sense, while strawberries are not.",
    "Venus is the hottest planet in the solar system.",
    "A day on Venus lasts longer than a year on Venus.",
    "Sound travels at about 343 metres per second in air at 20 degrees Celsius.",
    "The Amazon rainforest spreads across nine countries.",
    "Light from the Sun takes about eight minutes to reach Earth.",
    "Mount Kilimanjaro is the highest mountain in Africa.",
    "Antarctica is the driest continent.",
    "Water expands when it freezes, which is why ice floats.",
    "The Statue of Liberty was dedicated in 1886.",
    "The first Nobel Prizes were awarded in 1901.",
    "The Danube flows through ten countries.",
    "The Gregorian calendar was introduced in 1582.",
    "Dmitri Mendeleev published his periodic table in 1869.",
    "Lake Baikal is the deepest lake in the world.",
    "Canada has the longest coastline of any country.",
    "Jupiter has a giant storm called the Great Red Spot.",
    "Saturn is less dense than water.",
    "Almost all penguins live in the Southern Hemisphere.",
    "Honeybees communicate the location of flowers with a waggle dance.",
    "The Great Barrier Reef lies off the coast of Queensland.",
    "The human heart has four chambers.",
    "Koalas sleep for up to 20 hours a day.",
    "The Moon is slowly moving away from Earth, by about 3.8 centimetres a year.",
    "The Rosetta Stone helped scholars decipher Egyptian hieroglyphs.",
    "The printing press of Johannes Gutenberg was in use by about 1450.",
    "The Wright brothers made the first powered aeroplane flight in 1903.",
    "The Suez Canal opened in 1869.",
    "Iceland sits on the Mid-Atlantic Ridge.",
    "The Atacama Desert in Chile is one of the driest places on Earth.",
    "Owls can turn their heads about 270 degrees.",
    "The Magna Carta was sealed in 1215.",
    "Tomatoes were first grown in the Americas.",
    "An ostrich's eye is bigger than its brain.",
    "Lightning is hotter than the surface of the Sun.",
)


class FactDeck:
    """Deals facts in shuffled rounds, so every fact is stated about equally often across the corpus."""

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._deck: list[Fact] = []
        self._misc: list[str] = []

    def fact(self) -> Fact:
        if not self._deck:
            self._deck = list(FACTS)
            self._rng.shuffle(self._deck)
        return self._deck.pop()

    def statement(self) -> str:
        return self._rng.choice(self.fact().statements)

    def misc(self) -> str:
        if not self._misc:
            self._misc = list(MISC_FACTS)
            self._rng.shuffle(self._misc)
        return self._misc.pop()
