"""Shared pieces of the synthetic corpus: the generation context, names, dates and small text helpers."""

from __future__ import annotations

import random
import re

from curate.world.facts import FACTS, MISC_FACTS, Fact

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Chen", "Olga", "Rahul", "Sofia", "Daniel", "Amara", "Kenji", "Lucia", "Tom",
    "Fatima", "Pedro", "Ingrid", "Samuel", "Mei", "Yusuf", "Clara", "Nikolai", "Priya", "Owen", "Leila", "Hugo",
    "Zanele", "Marco", "Hanna", "Diego", "Grace", "Ibrahim", "Elena", "Victor", "Noor", "Felix", "Rosa", "Arjun",
)
LAST_NAMES = (
    "Garcia", "Smith", "Okafor", "Wang", "Petrova", "Sharma", "Rossi", "Cohen", "Mensah", "Tanaka", "Fernandez",
    "Brown", "Haddad", "Silva", "Larsen", "Adeyemi", "Liu", "Demir", "Novak", "Ivanov", "Patel", "Evans",
    "Karimi", "Dubois", "Dlamini", "Bianchi", "Virtanen", "Morales", "Kowalski", "Nguyen", "Schmidt", "Moreau",
)
_USER_WORDS = (
    "pixel", "quant", "river", "byte", "maple", "orbit", "cobalt", "lemon", "delta", "fox", "kernel", "nova",
    "tiger", "vector", "echo", "frost", "matrix", "sage", "pine", "lambda", "comet", "atlas", "ember", "zen",
)
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)
_PLACE_START = (
    "Ash", "Bran", "Cal", "Dun", "Elm", "Fair", "Glen", "Hol", "Kings", "Lang", "Mar", "North", "Oak", "Pen",
    "Red", "Stan", "Thorn", "Wex", "Bel", "Cor", "Mil", "Ros", "Tal", "Ver",
)
_PLACE_END = (
    "ford", "ton", "bury", "wick", "mere", "dale", "field", "haven", "stead", "more", "brook", "port", "ley",
    "cliff", "moor", "gate", "holm", "vale",
)
_REGION = ("northern", "southern", "eastern", "western", "central", "coastal", "upland", "lowland")


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


class Ctx:
    """Everything a document generator draws from: one seeded generator and the shared fact deck."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.facts = FactDeck(rng)

    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def person(self) -> str:
        return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)}"

    def user(self) -> str:
        style = self.rng.randrange(4)
        word = self.pick(_USER_WORDS)
        if style == 0:
            return f"{word}{self.rng.randint(1, 999)}"
        if style == 1:
            return f"{self.pick(FIRST_NAMES).lower()}_{word}"
        if style == 2:
            return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)[0]}."
        return f"user{self.rng.randint(1000, 99999)}"

    def place(self) -> str:
        return self.pick(_PLACE_START) + self.pick(_PLACE_END)

    def region(self) -> str:
        return self.pick(_REGION)

    def year(self, lo: int = 1750, hi: int = 2023) -> int:
        return self.rng.randint(lo, hi)

    def date(self, lo: int = 1990, hi: int = 2024) -> str:
        y, m, d = self.rng.randint(lo, hi), self.rng.randint(1, 12), self.rng.randint(1, 28)
        style = self.rng.randrange(3)
        if style == 0:
            return f"{MONTHS[m - 1]} {d}, {y}"
        if style == 1:
            return f"{d} {MONTHS[m - 1]} {y}"
        return f"{y}-{m:02d}-{d:02d}"

    def big(self, lo: int, hi: int) -> str:
        """A large count, usually with thousands separators, as prose writes it."""
        n = self.rng.randint(lo, hi)
        return f"{n:,}" if self.rng.random() < 0.8 else str(n)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


_KEEP_CASE = {"Euclid's", "Python", "JavaScript", "I"}


def lower_first(s: str) -> str:
    # Keep acronyms and proper names ("GCD", "Euclid's") as they are.
    if len(s) > 1 and (s[1].isupper() or s.split(" ", 1)[0] in _KEEP_CASE):
        return s
    return s[:1].lower() + s[1:]


def fill(template: str, **values: object) -> str:
    """The template with each <<name>> in it replaced by str(values[name])."""
    return re.sub(r"<<(\w+)>>", lambda m: str(values[m[1]]), template)


def words(text: str) -> int:
    return len(text.split())


def fmt(x: float, places: int = 2) -> str:
    """A number as a worked solution writes it: integers without a decimal point, others rounded."""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return f"{x:.{places}f}".rstrip("0").rstrip(".")


def money(x: float, symbol: str = "$") -> str:
    return f"{symbol}{x:,.2f}"


def join_and(items: list[str]) -> str:
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
