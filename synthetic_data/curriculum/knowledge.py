"""The curriculum's knowledge base: invented entities with one value per attribute
(``What colour is Zorvan?`` -> ``green``), two-digit arithmetic problems, and "which of these
is an animal?" questions; each a ``Fact`` with plausible wrong answers, asked as a short
question or as multiple choice."""
from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product

from openforge_training.evaluation.layout import LETTERS

SYLLABLES = ("zor", "van", "me", "lik", "ta", "ron", "bel", "ki", "mar", "dun", "sa", "vel", "no", "rik", "pa", "lo", "fen", "gar", "hu", "jo")
CITIES = (
    "Dravos", "Kelmar", "Ostrun", "Pellin", "Quarna", "Sivra", "Tumbek", "Ulmond", "Varesh", "Wendal",
    "Brisca", "Corvel", "Falmir", "Gorund", "Hestra", "Istval", "Jastel", "Lunder", "Norvas", "Ardune",
)
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown", "grey", "white")
ANIMALS = ("tiger", "horse", "mouse", "crow", "whale", "snake", "rabbit", "goat", "fox", "wolf")  # no vowel first: "keeps a ..."
NUMBERS = tuple(str(n) for n in range(2, 100))
ARITHMETIC = "arithmetic"
CATEGORIES = "categories"
# "Which of these is an animal?": the multiple-choice skill itself (find the option that fits,
# answer its letter) on words the curriculum uses everywhere, in endless fresh arrangements. A
# tiny model does not learn to look a recalled fact up among options from the fact questions
# alone (measured: chance after 3,000 steps); real base models arrive with this skill.
CATEGORY_MEMBERS = {"a colour": COLOURS, "an animal": ANIMALS, "a city": CITIES, "a number": NUMBERS}


@dataclass(frozen=True)
class Attribute:
    question: str  # asks for the value, e.g. "What colour is {name}?"
    claim: str  # states a value, e.g. "{name} is {value}"
    values: tuple[str, ...]


ATTRIBUTES = {
    "city": Attribute("Where does {name} live?", "{name} lives in {value}", CITIES),
    "colour": Attribute("What colour is {name}?", "{name} is {value}", COLOURS),
    "animal": Attribute("Which animal does {name} keep?", "{name} keeps a {value}", ANIMALS),
    "number": Attribute("What number does {name} like?", "{name} likes the number {value}", NUMBERS),
}
SUBJECTS = tuple(f"facts_{attribute}" for attribute in ATTRIBUTES) + (ARITHMETIC, CATEGORIES)


@dataclass(frozen=True)
class Fact:
    subject: str  # the MMLU subject that asks it
    question: str
    answer: str
    distractors: tuple[str, ...]  # plausible wrong answers for multiple choice


@dataclass(frozen=True)
class Entity:
    name: str
    values: dict[str, str]  # attribute -> value


@dataclass(frozen=True)
class KnowledgeBase:
    entities: tuple[Entity, ...]
    arithmetic: tuple[Fact, ...]
    categories: tuple[Fact, ...]  # drawn once, for the MMLU split; training draws afresh

    def entity_facts(self) -> list[Fact]:
        return [entity_fact(entity, attribute) for entity in self.entities for attribute in ATTRIBUTES]

    def facts(self) -> list[Fact]:
        return self.entity_facts() + list(self.arithmetic) + list(self.categories)


def entity_fact(entity: Entity, attribute: str) -> Fact:
    spec, answer = ATTRIBUTES[attribute], entity.values[attribute]
    return Fact(f"facts_{attribute}", spec.question.format(name=entity.name), answer, tuple(v for v in spec.values if v != answer))


def build_knowledge_base(rng: random.Random, size: int) -> KnowledgeBase:
    """``size`` entities with one value per attribute, ``size`` arithmetic problems and ``size``
    category questions."""
    entities = tuple(Entity(name, {a: rng.choice(spec.values) for a, spec in ATTRIBUTES.items()}) for name in invent_names(rng, size))
    return KnowledgeBase(entities, arithmetic_facts(rng, size), tuple(category_fact(rng) for _ in range(size)))


def invent_names(rng: random.Random, count: int) -> list[str]:
    """Distinct two-syllable names (at most a few hundred), none a city's."""
    candidates = sorted({(first + second).capitalize() for first, second in product(SYLLABLES, repeat=2)} - set(CITIES))
    return rng.sample(candidates, count)


def arithmetic_facts(rng: random.Random, count: int) -> tuple[Fact, ...]:
    answers: dict[str, int] = {}
    while len(answers) < count:
        question, answer = two_digit_problem(rng)
        answers.setdefault(question, answer)
    return tuple(Fact(ARITHMETIC, question, str(answer), nearby_numbers(answer)) for question, answer in answers.items())


def two_digit_problem(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if rng.random() < 0.5:
        return f"What is {a} + {b}?", a + b
    a, b = max(a, b), min(a, b)  # no negative answers
    return f"What is {a} - {b}?", a - b


def category_fact(rng: random.Random) -> Fact:
    """One member of a kind among one word of each other kind."""
    kind = rng.choice(list(CATEGORY_MEMBERS))
    others = tuple(rng.choice(words) for other, words in CATEGORY_MEMBERS.items() if other != kind)
    return Fact(CATEGORIES, f"Which of these is {kind}?", rng.choice(CATEGORY_MEMBERS[kind]), others)


def category_kind(question: str) -> tuple[str, ...] | None:
    """The members a category question asks for; None for any other question."""
    kind = question.removeprefix("Which of these is ").removesuffix("?")
    return CATEGORY_MEMBERS.get(kind) if question.startswith("Which of these is ") else None


def nearby_numbers(answer: int) -> tuple[str, ...]:
    """Wrong answers one slip away (a digit off by one or two, a lost carry), so guessing by size fails."""
    return tuple(str(answer + offset) for offset in (-11, -10, -2, -1, 1, 2, 10, 11) if answer + offset >= 0)


def multiple_choice(fact: Fact, rng: random.Random) -> tuple[list[str], str]:
    """Four options (three distractors and the answer at a uniformly random position) and the answer's letter."""
    choices = rng.sample(fact.distractors, len(LETTERS) - 1)
    position = rng.randrange(len(LETTERS))
    choices.insert(position, fact.answer)
    return choices, LETTERS[position]
