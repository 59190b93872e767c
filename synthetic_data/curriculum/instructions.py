"""The instruction-following category: list requests and yes/no claims under IFEval's
verifiable instructions, each with a response that follows them; the same examples are the
IFEval evaluation items."""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from synthetic_data.curriculum.exercises import Record, chat
from synthetic_data.curriculum.knowledge import ANIMALS, ATTRIBUTES, CITIES, COLOURS, KnowledgeBase

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
