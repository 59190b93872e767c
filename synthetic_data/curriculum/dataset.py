"""A generated curriculum for the forgetting experiment, small enough for a tiny model on a CPU.

A ~1-3M-parameter model is pre-trained from scratch on a *general* curriculum, fine-tuned on
a *customer* task either alone or mixed with a *curated* pool from the general distribution,
and scored on MMLU-, IFEval- and BYOD-format files; customer-only fine-tuning should forget
general skills that mixing keeps. The general curriculum has three categories:

- ``factuality``: facts about invented entities (``What colour is Zorvan?`` -> ``green``),
  as short questions and as MMLU-format multiple choice answered by one letter;
- ``instruction_following``: list requests with IFEval's verifiable instructions;
- ``reasoning``: two-digit arithmetic (a fixed set of problems, taught like facts, plus fresh
  ones), the largest of a few numbers, sorting.

The customer task, support-ticket classification, appears nowhere in the general curriculum,
so the base model does not know it. Files written by ``write_experiment_data``:

    pretrain/general.jsonl                   all three categories, shuffled
    curated/<category>/part-000.jsonl        the curated pool: fresh draws, same distribution
    customer/tickets.jsonl                   {"input", "output"} ticket classification
    eval/mmlu/{dev,test}/<subject>_*.csv     see openforge_training.evaluation.layout
    eval/ifeval/input_data.jsonl
    eval/byod/heldout.jsonl                  held-out tickets, none identical to a training one

Every part draws from its own ``random.Random`` stream derived from ``seed``, so the same seed
gives byte-identical files.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass, fields
from itertools import product
from pathlib import Path

from openforge_training.evaluation.layout import BYOD_DIR, IFEVAL_FILE, LETTERS, MMLU_COLUMNS, MMLU_DIR, mmlu_description, mmlu_prompt
from sanitiser.formats import to_messages

Record = dict
Row = list[str]

# --- knowledge base ---------------------------------------------------------------------

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


# --- factuality and reasoning -------------------------------------------------------------

def chat(user: str, assistant: str, system: str | None = None) -> Record:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": [{"role": "system", "content": system}, *messages] if system else messages}


def multiple_choice(fact: Fact, rng: random.Random) -> tuple[list[str], str]:
    """Four options (three distractors and the answer at a uniformly random position) and the answer's letter."""
    choices = rng.sample(fact.distractors, len(LETTERS) - 1)
    position = rng.randrange(len(LETTERS))
    choices.insert(position, fact.answer)
    return choices, LETTERS[position]


def multiple_choice_record(fact: Fact, rng: random.Random, held_out: frozenset[str]) -> Record:
    """A prompt the eval files ask word for word is drawn again, so the eval measures the fact
    in the same format rather than a memorised letter. Half come under MMLU's header as a
    system turn, as the evaluation asks them: a tiny model does not carry the skill over to
    a context it never saw (measured: 0.68 without the header, chance with it)."""
    while True:
        choices, letter = multiple_choice(fact, rng)
        prompt = mmlu_prompt(fact.question, choices)
        if prompt not in held_out:
            return chat(prompt, letter, mmlu_description(fact.subject) if rng.random() < 0.5 else None)


def fact_records(facts: list[Fact] | tuple[Fact, ...], rng: random.Random, repeats: int, held_out: frozenset[str]) -> list[Record]:
    """Every fact ``repeats`` times as a short question and as many times as multiple choice."""
    records = []
    for _ in range(repeats):
        for fact in facts:
            records += [chat(fact.question, fact.answer), multiple_choice_record(fact, rng, held_out)]
    return records


def arithmetic_exercise(rng: random.Random) -> Record:
    question, answer = two_digit_problem(rng)
    return chat(question, str(answer))


def largest_exercise(rng: random.Random) -> Record:
    numbers = rng.sample(range(1, 100), rng.randint(3, 4))
    return chat(f"Which is largest: {', '.join(map(str, numbers))}?", str(max(numbers)))


def sorting_exercise(rng: random.Random) -> Record:
    numbers = rng.sample(range(1, 100), rng.randint(3, 4))
    return chat(f"Sort from smallest to largest: {', '.join(map(str, numbers))}", ", ".join(map(str, sorted(numbers))))


REASONING_EXERCISES = (arithmetic_exercise, largest_exercise, sorting_exercise)


def reasoning_records(kb: KnowledgeBase, rng: random.Random, repeats: int, exercises: int, choices: int, held_out: frozenset[str]) -> list[Record]:
    """The arithmetic facts (the MMLU ``arithmetic`` subject asks them), fresh exercises, and
    fresh category questions as multiple choice."""
    return (
        fact_records(kb.arithmetic, rng, repeats, held_out)
        + [rng.choice(REASONING_EXERCISES)(rng) for _ in range(exercises)]
        + [multiple_choice_record(category_fact(rng), rng, held_out) for _ in range(choices)]
    )


# --- instruction following ----------------------------------------------------------------

NO_COMMA = "punctuation:no_comma"
END_PHRASE = "startend:end_checker"
QUOTATION = "startend:quotation"
JSON_FORMAT = "detectable_format:json_format"
BULLETS = "detectable_format:number_bullet_lists"
HIGHLIGHTS = "detectable_format:number_highlighted_sections"
TITLE = "detectable_format:title"
CONSTRAINED = "detectable_format:constrained_response"
KEYWORDS = "keywords:existence"
FORBIDDEN = "keywords:forbidden_words"
WORD_COUNT = "length_constraints:number_words"
POSTSCRIPT = "detectable_content:postscript"

# How a prompt words each instruction, filled in from the instruction's IFEval kwargs. Only
# instructions whose checkers need neither nltk's punkt data nor langdetect (unreliable on
# short texts) are used.
INSTRUCTION_WORDING = {
    NO_COMMA: "Do not use any commas.",
    END_PHRASE: "End your answer with the exact phrase: {end_phrase}",
    QUOTATION: "Wrap your whole answer in double quotation marks.",
    JSON_FORMAT: "Give your answer in JSON format.",
    BULLETS: "Use exactly {num_bullets} markdown bullet points.",
    HIGHLIGHTS: "Highlight at least {num_highlights} words with markdown, like *this*.",
    TITLE: "Give your answer a title in double angular brackets, like <<title>>.",
    CONSTRAINED: "Answer with one of these options: My answer is yes. My answer is no. My answer is maybe.",
    KEYWORDS: "Include the word {keywords[0]}.",
    FORBIDDEN: "Do not use the word {forbidden_words[0]}.",
    WORD_COUNT: "Answer with {relation} {num_words} words.",
    POSTSCRIPT: "End with a postscript starting with {postscript_marker}",
}
INSTRUCTION_IDS = tuple(INSTRUCTION_WORDING)
LAYOUTS = frozenset({BULLETS, HIGHLIGHTS, JSON_FORMAT})  # each lays out the whole answer
LIST_TOPICS = {"animals": ANIMALS, "colours": COLOURS, "cities": CITIES}
COUNT_WORDS = {2: "two", 3: "three", 4: "four"}
END_PHRASES = ("Any other questions?", "Is there anything else I can help with?")
POSTSCRIPT_MARKER, POSTSCRIPT_TEXT = "P.S.", "P.S. I hope this helps."


@dataclass(frozen=True)
class InstructionExample:
    prompt: str
    kwargs: dict[str, dict]  # instruction id -> its IFEval kwargs, in the prompt's order
    response: str  # a response that follows every instruction

    def record(self) -> Record:
        return chat(self.prompt, self.response)

    def ifeval_item(self, key: int) -> dict:
        return {"key": key, "prompt": self.prompt, "instruction_id_list": list(self.kwargs), "kwargs": list(self.kwargs.values())}


def compatible(first: str, second: str) -> bool:
    """Whether two instructions can share a prompt: IFEval's own conflicts, plus a quoted
    bullet list, whose opening quote would hide the first bullet."""
    pair = {first, second}
    if len(pair) == 1 or CONSTRAINED in pair or len(pair & LAYOUTS) == 2:
        return False
    if JSON_FORMAT in pair:
        return bool(pair & {KEYWORDS, FORBIDDEN})
    return pair not in ({QUOTATION, TITLE}, {QUOTATION, BULLETS})


def instruction_examples(kb: KnowledgeBase, rng: random.Random, count: int) -> list[InstructionExample]:
    """The first instruction cycles through every type, so even a few examples cover them all;
    half the examples add a second, compatible instruction."""
    examples = []
    for index in range(count):
        first = INSTRUCTION_IDS[index % len(INSTRUCTION_IDS)]
        if first == CONSTRAINED:
            examples.append(yes_no_example(kb, rng))
            continue
        partners = [other for other in INSTRUCTION_IDS if compatible(first, other)]
        examples.append(list_example(rng, (first, rng.choice(partners)) if rng.random() < 0.5 else (first,)))
    return examples


def yes_no_example(kb: KnowledgeBase, rng: random.Random) -> InstructionExample:
    """A true or false claim about an entity, answered in IFEval's constrained form."""
    entity, attribute = rng.choice(kb.entities), rng.choice(list(ATTRIBUTES))
    spec, truth = ATTRIBUTES[attribute], entity.values[attribute]
    value = truth if rng.random() < 0.5 else rng.choice([v for v in spec.values if v != truth])
    question = f"Is it true that {spec.claim.format(name=entity.name, value=value)}?"
    answer = "My answer is yes." if value == truth else "My answer is no."
    return InstructionExample(f"{question} {INSTRUCTION_WORDING[CONSTRAINED]}", {CONSTRAINED: {}}, answer)


def list_example(rng: random.Random, ids: tuple[str, ...]) -> InstructionExample:
    """``List three animals.`` under the given instructions, and an answer that follows them."""
    topic, count = rng.choice(list(LIST_TOPICS)), rng.choice(list(COUNT_WORDS))
    kwargs: dict[str, dict] = {instruction: {} for instruction in ids}
    pool, required = list(LIST_TOPICS[topic]), []
    if KEYWORDS in ids:
        required = [rng.choice(pool)]
        kwargs[KEYWORDS] = {"keywords": list(required)}
    if FORBIDDEN in ids:
        banned = rng.choice([value for value in pool if value not in required])
        kwargs[FORBIDDEN] = {"forbidden_words": [banned]}
        pool.remove(banned)
    items = required + rng.sample([value for value in pool if value not in required], count - len(required))
    rng.shuffle(items)
    if BULLETS in ids:
        kwargs[BULLETS] = {"num_bullets": count}
    if HIGHLIGHTS in ids:
        kwargs[HIGHLIGHTS] = {"num_highlights": count}
    if END_PHRASE in ids:
        kwargs[END_PHRASE] = {"end_phrase": rng.choice(END_PHRASES)}
    if POSTSCRIPT in ids:
        kwargs[POSTSCRIPT] = {"postscript_marker": POSTSCRIPT_MARKER}
    response = decorate(lay_out(topic, items, ids), topic, kwargs)
    if WORD_COUNT in ids:
        kwargs[WORD_COUNT] = word_limit(rng, response)
    wording = [INSTRUCTION_WORDING[instruction].format(**arguments) for instruction, arguments in kwargs.items()]
    return InstructionExample(" ".join([f"List {COUNT_WORDS[count]} {topic}.", *wording]), kwargs, response)


def lay_out(topic: str, items: list[str], ids: tuple[str, ...]) -> str:
    if BULLETS in ids:
        return "\n".join(f"* {item}" for item in items)
    if HIGHLIGHTS in ids:
        return " ".join(f"*{item}*" for item in items)
    if JSON_FORMAT in ids:
        return json.dumps({topic: items})
    return " ".join(items)  # no commas, whether or not the prompt forbids them


def decorate(body: str, topic: str, kwargs: dict[str, dict]) -> str:
    """Title first and quotation marks last, so every wrapper stays where its checker looks."""
    if TITLE in kwargs:
        body = f"<<{topic}>>\n{body}"
    if POSTSCRIPT in kwargs:
        body += f"\n{POSTSCRIPT_TEXT}"
    if END_PHRASE in kwargs:
        body += f"\n{kwargs[END_PHRASE]['end_phrase']}"
    if QUOTATION in kwargs:
        body = f'"{body}"'
    return body


def word_limit(rng: random.Random, response: str) -> dict:
    words = len(re.findall(r"\w+", response))  # as IFEval counts them
    if rng.random() < 0.5:
        return {"num_words": words + rng.randint(1, 4), "relation": "less than"}
    return {"num_words": rng.randint(max(2, words - 3), words), "relation": "at least"}


# --- customer domain ----------------------------------------------------------------------

TICKET_INSTRUCTION = "Classify this support ticket."
PRODUCTS = ("kettle", "lamp", "backpack", "blender", "jacket", "camera", "speaker", "watch", "toaster", "headphones")
OPENINGS = ("", "Hello.", "Hi team.", "Good morning.")
CLOSINGS = ("", "Thanks.", "Please help.", "Thank you.")
TICKET_TEMPLATES = {
    "billing": (
        "I was charged twice for order {order}.", "The invoice for my {product} shows the wrong amount.",
        "My card was billed two times for the {product}.", "There is an extra fee on my bill for order {order}.",
    ),
    "login": (
        "I cannot sign in to check order {order}.", "My password stopped working after I ordered the {product}.",
        "The sign in code never arrives so I cannot see order {order}.", "I am locked out and cannot log in to track the {product}.",
    ),
    "shipping": (
        "Order {order} has not arrived yet.", "The tracking for my {product} has not moved in a week.",
        "My {product} was sent to the wrong address.", "When will order {order} be delivered?",
    ),
    "refund": (
        "I returned the {product} but never got my money back.", "Please refund order {order}.",
        "I am still waiting for the refund on order {order}.", "The {product} went back two weeks ago and there is no refund yet.",
    ),
    "bug": (
        "The app crashes when I open order {order}.", "The page shows an error when I add the {product} to my cart.",
        "The checkout button does nothing for the {product}.", "The app freezes when I view order {order}.",
    ),
    "feature_request": (
        "Could you add a gift option for the {product}?", "Please let me pay for the {product} in parts.",
        "It would be great to share order {order} with a friend.", "Could you add a size guide for the {product}?",
    ),
    "account": (
        "I want to change the email on my account for order {order}.", "Please change the name on my account used for order {order}.",
        "How do I merge my two accounts? One has order {order}.", "I need to update my profile details after buying the {product}.",
    ),
    "privacy": (
        "Please delete all my personal data linked to order {order}.", "Who can see the reviews I wrote about the {product}?",
        "I want a copy of the data you keep about me and order {order}.", "Stop sharing my details with partners since I bought the {product}.",
    ),
    "cancellation": (
        "Please cancel order {order} before it ships.", "I changed my mind and want to cancel the {product}.",
        "Cancel my subscription linked to order {order}.", "I no longer want the {product} so please stop the order.",
    ),
    "upgrade": (
        "I want to move to the premium plan after buying the {product}.", "How do I upgrade my plan for order {order}?",
        "Please upgrade my {product} warranty to the gold plan.", "Can I switch to the bigger plan with order {order}?",
    ),
    "outage": (
        "The whole site is down and I cannot view order {order}.", "Nothing loads for anyone in my office, not even the {product} page.",
        "Your service has been offline for an hour and order {order} is stuck.", "The app will not connect to the server to show the {product}.",
    ),
    "feedback": (
        "I love the {product}, great job.", "The delivery of order {order} was fast and friendly.",
        "Just wanted to say the {product} works really well.", "Great service on order {order}, thank you.",
    ),
}
TICKET_LABELS = tuple(TICKET_TEMPLATES)
WORDS = ("order", "account", "card", "plan", "site", "page", "data", "team", "friend", "week", "hour", "money", "email", "service")


def ticket_text(rng: random.Random, label: str) -> str:
    body = rng.choice(TICKET_TEMPLATES[label]).format(product=rng.choice(PRODUCTS), order=rng.randint(10000, 99999))
    return " ".join(part for part in (rng.choice(OPENINGS), body, rng.choice(CLOSINGS)) if part)


def ticket_record(text: str, label: str) -> Record:
    return {"input": f"{TICKET_INSTRUCTION}\n{text}", "output": label}


def customer_tickets(rng: random.Random, train_per_label: int, heldout_per_label: int) -> tuple[list[Record], list[Record]]:
    """Training and held-out tickets: every label in both, no ticket text in both."""
    seen: set[str] = set()
    train, heldout = [], []
    for label in TICKET_LABELS:
        texts = unique_tickets(rng, label, train_per_label + heldout_per_label, seen)
        heldout += [ticket_record(text, label) for text in texts[:heldout_per_label]]
        train += [ticket_record(text, label) for text in texts[heldout_per_label:]]
    rng.shuffle(train)
    rng.shuffle(heldout)
    return train, heldout


def unique_tickets(rng: random.Random, label: str, count: int, seen: set[str]) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        text = ticket_text(rng, label)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


# --- copying ------------------------------------------------------------------------------

# Every content word of the curriculum and the ticket domain. A real base model can say any
# word it knows; a tiny one never trained to emit a word can barely be tuned (LoRA least) to
# emit it, so copying words teaches their output side without the ticket task: which label
# fits a ticket stays unknown to the base.
VOCABULARY = tuple(sorted({*COLOURS, *ANIMALS, *CITIES, *PRODUCTS, *TICKET_LABELS, *WORDS}))


def copy_exercise(rng: random.Random) -> Record:
    words = " ".join(rng.sample(VOCABULARY, rng.randint(2, 4)))
    return chat(f"Repeat exactly: {words}", words)


# --- evaluation files ---------------------------------------------------------------------

def mmlu_splits(kb: KnowledgeBase, rng: random.Random, dev_size: int, test_size: int) -> dict[str, tuple[list[Row], list[Row]]]:
    """Per subject, ``dev_size`` few-shot rows and up to ``test_size`` test rows about other
    facts; every one is a fact the general curriculum teaches."""
    splits = {}
    for subject in SUBJECTS:
        facts = [fact for fact in kb.facts() if fact.subject == subject]
        rng.shuffle(facts)
        rows = [mmlu_row(fact, rng) for fact in facts[: dev_size + test_size]]
        splits[subject] = (rows[:dev_size], rows[dev_size:])
    return splits


def mmlu_row(fact: Fact, rng: random.Random) -> Row:
    choices, letter = multiple_choice(fact, rng)
    return [fact.question, *choices, letter]


def row_prompt(row: Row) -> str:
    return mmlu_prompt(row[0], row[1 : len(MMLU_COLUMNS) - 1])


# --- the whole data set -------------------------------------------------------------------

MIN_TEST_FACTS = 7  # facts per subject left for the MMLU test split, however small the scale


@dataclass(frozen=True)
class Sizes:
    """How much to generate at scale 1."""

    entities: int = 120  # also the number of arithmetic facts
    pretrain_repeats: int = 3  # times pre-training teaches each fact in each form
    pretrain_exercises: int = 600  # fresh reasoning exercises besides the arithmetic facts
    pretrain_choices: int = 1500  # fresh category questions as multiple choice
    pretrain_instructions: int = 1200
    pretrain_copies: int = 400  # "Repeat exactly: ..." over the curriculum's whole vocabulary
    curated_repeats: int = 1
    curated_exercises: int = 300
    curated_choices: int = 300
    curated_instructions: int = 400
    curated_copies: int = 100
    tickets_per_label: int = 75
    heldout_per_label: int = 10
    ifeval_items: int = 84
    mmlu_dev: int = 5  # the usual few-shot count, whatever the scale
    mmlu_test: int = 50

    @classmethod
    def at(cls, scale: float) -> Sizes:
        """Everything times ``scale``, but at least one of each, enough entities for a test
        split, and one IFEval item per instruction type."""
        full = cls()
        scaled = {f.name: max(1, round(getattr(full, f.name) * scale)) for f in fields(cls)}
        scaled["entities"] = max(scaled["entities"], full.mmlu_dev + MIN_TEST_FACTS)
        scaled["ifeval_items"] = max(scaled["ifeval_items"], len(INSTRUCTION_IDS))
        scaled["mmlu_dev"] = full.mmlu_dev
        return cls(**scaled)


@dataclass(frozen=True)
class ExperimentData:
    knowledge: KnowledgeBase
    pretrain: list[Record]
    curated: dict[str, list[Record]]
    customer: list[Record]
    byod: list[Record]
    mmlu: dict[str, tuple[list[Row], list[Row]]]  # subject -> (dev rows, test rows)
    ifeval: list[InstructionExample]  # the items with a reference response each

    def ifeval_items(self) -> list[dict]:
        return [example.ifeval_item(key) for key, example in enumerate(self.ifeval, start=1)]

    def jsonl_files(self) -> dict[str, list[dict]]:
        return {
            "pretrain/general.jsonl": self.pretrain,
            **{f"curated/{category}/part-000.jsonl": records for category, records in self.curated.items()},
            "customer/tickets.jsonl": self.customer,
            f"eval/{IFEVAL_FILE}": self.ifeval_items(),
            f"eval/{BYOD_DIR}/heldout.jsonl": self.byod,
        }

    def csv_files(self) -> dict[str, list[Row]]:
        files = {}
        for subject, (dev, test) in self.mmlu.items():
            files[f"eval/{MMLU_DIR}/dev/{subject}_dev.csv"] = dev
            files[f"eval/{MMLU_DIR}/test/{subject}_test.csv"] = test
        return files


def general_curriculum(
    kb: KnowledgeBase, rng: random.Random, *, repeats: int, exercises: int, choices: int, instructions: int, copies: int,
    held_out: frozenset[str],
) -> dict[str, list[Record]]:
    categories = {
        "factuality": fact_records(kb.entity_facts(), rng, repeats, held_out),
        "instruction_following": [example.record() for example in instruction_examples(kb, rng, instructions)]
        + [copy_exercise(rng) for _ in range(copies)],
        "reasoning": reasoning_records(kb, rng, repeats, exercises, choices, held_out),
    }
    for records in categories.values():
        rng.shuffle(records)
    return categories


def build_experiment_data(*, seed: int = 0, scale: float = 1.0) -> ExperimentData:
    """Everything ``write_experiment_data`` writes, in memory, with the knowledge base behind it
    and a reference response for each IFEval item."""
    sizes = Sizes.at(scale)

    def stream(name: str) -> random.Random:  # one per part, so resizing one part leaves the others as they were
        return random.Random(f"{seed}:{name}")

    kb = build_knowledge_base(stream("knowledge"), sizes.entities)
    mmlu = mmlu_splits(kb, stream("mmlu"), sizes.mmlu_dev, sizes.mmlu_test)
    held_out = frozenset(row_prompt(row) for dev, test in mmlu.values() for row in dev + test)
    pretrain = general_curriculum(
        kb, stream("pretrain"), repeats=sizes.pretrain_repeats, exercises=sizes.pretrain_exercises, choices=sizes.pretrain_choices,
        instructions=sizes.pretrain_instructions, copies=sizes.pretrain_copies, held_out=held_out,
    )
    curated = general_curriculum(
        kb, stream("curated"), repeats=sizes.curated_repeats, exercises=sizes.curated_exercises, choices=sizes.curated_choices,
        instructions=sizes.curated_instructions, copies=sizes.curated_copies, held_out=held_out,
    )
    general = [record for records in pretrain.values() for record in records]
    stream("shuffle").shuffle(general)
    customer, byod = customer_tickets(stream("customer"), sizes.tickets_per_label, sizes.heldout_per_label)
    ifeval = instruction_examples(kb, stream("ifeval"), sizes.ifeval_items)
    return ExperimentData(kb, general, curated, customer, byod, mmlu, ifeval)


def write_experiment_data(out: Path, *, seed: int = 0, scale: float = 1.0) -> dict[str, int]:
    """Writes every file under ``out``; returns {path relative to ``out``: records or rows}."""
    data = build_experiment_data(seed=seed, scale=scale)
    summary = {}
    for name, records in data.jsonl_files().items():
        write_file(out / name, "".join(json.dumps(record) + "\n" for record in records))
        summary[name] = len(records)
    for name, rows in data.csv_files().items():
        write_file(out / name, csv_text(rows))
        summary[name] = len(rows)
    return summary


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")  # as given, whatever the platform's line ending


def corpus_texts(out: Path) -> list[str]:
    """Every text the experiment's model reads or writes in the files under ``out`` (training
    and held-out turns, IFEval prompts, MMLU prompts and answers), to train its tokenizer on."""
    texts = []
    for path in sorted(out.rglob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if path == out / "eval" / IFEVAL_FILE:
            texts += [record["prompt"] for record in records]
        else:
            texts += [message["content"] for record in records for message in to_messages(record)]
    for path in sorted((out / "eval" / MMLU_DIR).rglob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            texts += [f"{row_prompt(row)} {row[-1]}" for row in csv.reader(handle)]
    return texts
