"""The forgetting experiment's generated data: deterministic, in the formats the trainer and the
evaluators read, and true to its own knowledge base."""
from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from openforge_training.evaluation.layout import LETTERS, MMLU_COLUMNS, mmlu_prompt
from sanitiser.formats import parse_line
from synthetic_data import tickets
from synthetic_data.curriculum import ExperimentData, Sizes, build_experiment_data, corpus_texts, exercises, instructions, knowledge, write_experiment_data

TRAINING_FILES = (
    "pretrain/general.jsonl",
    "curated/factuality/part-000.jsonl",
    "curated/instruction_following/part-000.jsonl",
    "curated/reasoning/part-000.jsonl",
    "customer/tickets.jsonl",
)
GENERAL_FILES = TRAINING_FILES[:4]
BYOD_FILE, IFEVAL_FILE = "eval/byod/heldout.jsonl", "eval/ifeval/input_data.jsonl"
LANGDETECT_OR_PUNKT = {"language:response_language", "change_case:english_capital", "change_case:english_lowercase",
                       "change_case:capital_word_frequency", "length_constraints:number_sentences"}


@pytest.fixture(scope="module")
def data() -> ExperimentData:
    return build_experiment_data(seed=0)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("curriculum")
    return out, write_experiment_data(out, seed=0)


@pytest.fixture(scope="module")
def ifeval_utils():
    """lm-eval's IFEval scorer; importing it would try to download nltk's punkt data."""
    import nltk

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk, "download", lambda *args, **kwargs: False)
        from lm_eval.tasks.ifeval import utils

        yield utils


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def turns(record: dict) -> tuple[str, str]:
    *_, user, assistant = parse_line(json.dumps(record))  # after MMLU's header, where a record has it
    return user["content"], assistant["content"]


def file_bytes(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def answers(data: ExperimentData) -> dict[str, str]:
    """question -> answer for the facts; category questions have many right answers."""
    return {fact.question: fact.answer for fact in data.knowledge.facts() if fact.subject != knowledge.CATEGORIES}


def is_answer(truth: dict[str, str], question: str, option: str) -> bool:
    members = knowledge.category_kind(question)
    return option in members if members else truth[question] == option


def test_same_seed_gives_identical_files_and_another_seed_other_files(tmp_path):
    first, second, other = tmp_path / "first", tmp_path / "second", tmp_path / "other"
    write_experiment_data(first, seed=3, scale=0.1)
    write_experiment_data(second, seed=3, scale=0.1)
    write_experiment_data(other, seed=4, scale=0.1)
    assert file_bytes(first) == file_bytes(second)
    different = {name for name, content in file_bytes(other).items() if content != file_bytes(first)[name]}
    assert set(file_bytes(other)) == set(file_bytes(first)) and "pretrain/general.jsonl" in different


def test_summary_counts_every_file_and_a_small_scale_keeps_each_one(written, tmp_path):
    out, summary = written
    assert set(summary) == set(file_bytes(out))
    assert all(len((out / name).read_text().splitlines()) == count for name, count in summary.items())
    small = write_experiment_data(tmp_path, scale=0.1)
    assert set(small) == set(summary)
    assert all(0 < small[name] <= summary[name] for name in summary)
    assert small["pretrain/general.jsonl"] < summary["pretrain/general.jsonl"] / 5


def test_knowledge_base_has_distinct_invented_names_with_known_values(data):
    names = [entity.name for entity in data.knowledge.entities]
    assert len(names) == len(set(names)) == 120
    assert not set(names) & set(knowledge.CITIES)
    for entity in data.knowledge.entities:
        assert all(entity.values[name] in attribute.values for name, attribute in knowledge.ATTRIBUTES.items())


def test_training_and_byod_records_are_in_an_accepted_format(written):
    out, _ = written
    for name in (*TRAINING_FILES, BYOD_FILE):
        for line in (out / name).read_text().splitlines():
            assert parse_line(line)[-1]["role"] == "assistant"


def test_mmlu_rows_ask_knowledge_base_facts_with_one_correct_option(written, data):
    out, _ = written
    truth = answers(data)
    for subject in knowledge.SUBJECTS:
        dev = read_csv(out / "eval/mmlu/dev" / f"{subject}_dev.csv")
        test = read_csv(out / "eval/mmlu/test" / f"{subject}_test.csv")
        assert len(dev) == 5 and 40 <= len(test) <= 60
        asked = (lambda row: tuple(row[:5])) if subject == knowledge.CATEGORIES else (lambda row: row[0])  # categories repeat questions
        assert not {asked(row) for row in dev} & {asked(row) for row in test}
        for row in dev + test:
            assert len(row) == len(MMLU_COLUMNS) and row[-1] in LETTERS
            options = row[1:5]
            assert len(set(options)) == 4
            assert is_answer(truth, row[0], options[LETTERS.index(row[-1])])
            assert sum(is_answer(truth, row[0], option) for option in options) == 1


def test_pretraining_teaches_every_mmlu_fact_as_a_question_and_as_multiple_choice(written, data):
    out, _ = written
    pretrain = [turns(record) for record in read_jsonl(out / "pretrain/general.jsonl")]
    questions = Counter(pretrain)
    chosen = {(user.split("\n")[0], option_text(user, letter)) for user, letter in pretrain if letter in LETTERS}
    eval_prompts = set()
    for subject, (dev, test) in data.mmlu.items():
        for row in dev + test:
            eval_prompts.add(mmlu_prompt(row[0], row[1:5]))
            if subject == knowledge.CATEGORIES:
                continue  # a skill, taught by fresh questions (below), not a fact to recall
            fact = (row[0], row[1 + LETTERS.index(row[-1])])
            assert questions[fact] >= 3 and fact in chosen
    assert not eval_prompts & {user for user, _ in pretrain}  # the same fact, never the same options


def test_multiple_choice_training_redraws_a_prompt_the_eval_asks():
    fact = knowledge.Fact("facts_colour", "What colour is Zorvan?", "red", ("blue", "green", "pink"))
    rng = random.Random(0)
    arrangements = {mmlu_prompt(fact.question, knowledge.multiple_choice(fact, rng)[0]) for _ in range(1000)}
    assert len(arrangements) == 24  # 3! orders of the distractors times 4 answer positions
    allowed = sorted(arrangements)[0]
    records = exercises.fact_records([fact], rng, 20, frozenset(arrangements - {allowed}))
    assert {turns(record)[0] for record in records} == {fact.question, allowed}


def option_text(prompt: str, letter: str) -> str:
    return next(line.removeprefix(f"{letter}. ") for line in prompt.split("\n") if line.startswith(f"{letter}. "))


def test_multiple_choice_training_records_use_mmlu_prompt_and_the_right_letter(data):
    truth = answers(data)
    letters = Counter()
    for records in (data.pretrain, *data.curated.values()):
        for user, letter in map(turns, records):
            if letter not in LETTERS:
                continue
            question, *options, _ = user.split("\n")
            choices = [option.split(". ", 1)[1] for option in options]
            assert user == mmlu_prompt(question, choices)
            assert is_answer(truth, question, choices[LETTERS.index(letter)])
            letters[letter] += 1
    assert len({turns(record)[0].split("\n")[0] for record in data.curated["factuality"] if turns(record)[1] in LETTERS}) == 480
    assert all(0.2 < count / letters.total() < 0.3 for count in letters.values()) and len(letters) == 4


# A change to a reference response that breaks the named instruction (given its kwargs).
VIOLATIONS = {
    instructions.NO_COMMA: lambda response, kwargs: response + ", and more",
    instructions.END_PHRASE: lambda response, kwargs: response + " Bye.",
    instructions.QUOTATION: lambda response, kwargs: response.strip('"'),
    instructions.JSON_FORMAT: lambda response, kwargs: "Here it is: " + response,
    instructions.BULLETS: lambda response, kwargs: response + "\n* one more",
    instructions.HIGHLIGHTS: lambda response, kwargs: response.replace("*", ""),
    instructions.TITLE: lambda response, kwargs: response.replace("<<", "").replace(">>", ""),
    instructions.CONSTRAINED: lambda response, kwargs: "Yes.",
    instructions.KEYWORDS: lambda response, kwargs: re.sub(kwargs["keywords"][0], "", response, flags=re.IGNORECASE),
    instructions.FORBIDDEN: lambda response, kwargs: f"{response} {kwargs['forbidden_words'][0]}",
    instructions.WORD_COUNT: lambda response, kwargs: response + " word" * kwargs["num_words"] if kwargs["relation"] == "less than" else "ok",
    instructions.POSTSCRIPT: lambda response, kwargs: response.replace("P.S.", "Note:"),
}


def strict(utils, item: dict, response: str):
    example = utils.InputExample(key=item["key"], instruction_id_list=item["instruction_id_list"], prompt=item["prompt"], kwargs=item["kwargs"])
    return utils.test_instruction_following_strict(example, response)


def test_ifeval_items_use_checkable_instructions_with_exactly_their_kwargs(written, data, ifeval_utils):
    out, _ = written
    items = read_jsonl(out / IFEVAL_FILE)
    assert items == data.ifeval_items() and 60 <= len(items) <= 100
    assert [item["key"] for item in items] == sorted({item["key"] for item in items})
    used = {instruction_id for item in items for instruction_id in item["instruction_id_list"]}
    assert used == set(instructions.INSTRUCTION_IDS) == set(VIOLATIONS)
    assert not used & LANGDETECT_OR_PUNKT
    registry = ifeval_utils.instructions_registry.INSTRUCTION_DICT
    for item in items:
        assert set(item) == {"key", "prompt", "instruction_id_list", "kwargs"}
        for instruction_id, kwargs in zip(item["instruction_id_list"], item["kwargs"], strict=True):
            instruction = registry[instruction_id](instruction_id)
            instruction.build_description(**kwargs)
            assert set(kwargs) == set(instruction.get_instruction_args_keys())
            assert all(value for value in kwargs.values())  # lm-eval drops falsy kwargs


def test_ifeval_reference_responses_pass_and_broken_ones_fail(data, ifeval_utils):
    for item, example in zip(data.ifeval_items(), data.ifeval, strict=True):
        assert strict(ifeval_utils, item, example.response).follow_all_instructions, item
        first, kwargs = item["instruction_id_list"][0], item["kwargs"][0]
        broken = strict(ifeval_utils, item, VIOLATIONS[first](example.response, kwargs))
        assert not broken.follow_instruction_list[0], (item, broken.response)


def test_instruction_following_training_responses_pass_lm_eval(data, ifeval_utils):
    examples = instructions.instruction_examples(data.knowledge, random.Random(7), 300)
    for key, example in enumerate(examples):
        assert strict(ifeval_utils, example.ifeval_item(key), example.response).follow_all_instructions, example


def test_customer_training_and_byod_share_no_ticket_and_cover_every_label(written):
    out, _ = written
    train, byod = read_jsonl(out / "customer/tickets.jsonl"), read_jsonl(out / BYOD_FILE)
    assert 600 <= len(train) <= 1200 and 100 <= len(byod) <= 150
    assert not {record["input"] for record in train} & {record["input"] for record in byod}
    labels = set(tickets.TICKET_LABELS)
    assert len(labels) == 12 and {record["output"] for record in train} == {record["output"] for record in byod} == labels
    assert all(record["input"].startswith("Classify this support ticket.\n") for record in train + byod)


def test_general_curriculum_never_shows_the_customer_task(written):
    out, _ = written
    for name in GENERAL_FILES:
        for user, assistant in map(turns, read_jsonl(out / name)):
            assert "ticket" not in user.lower() and assistant not in tickets.TICKET_LABELS


def test_corpus_texts_are_every_turn_prompt_and_question(written):
    out, summary = written
    texts = corpus_texts(out)
    turns_in_records = sum(len(parse_line(line)) for name in summary if name.endswith(".jsonl") and name != IFEVAL_FILE
                           for line in (out / name).read_text().splitlines())
    one_text_items = sum(count for name, count in summary.items() if name.endswith(".csv") or name == IFEVAL_FILE)
    assert len(texts) == turns_in_records + one_text_items
    assert read_jsonl(out / IFEVAL_FILE)[0]["prompt"] in texts
    assert read_jsonl(out / BYOD_FILE)[0]["input"] in texts


def test_pretraining_practises_multiple_choice_on_many_fresh_category_questions(data):
    prompts = [user for user, letter in map(turns, data.pretrain) if letter in LETTERS and knowledge.category_kind(user.split("\n")[0])]
    assert len(prompts) == Sizes().pretrain_choices
    assert len(set(prompts)) > 0.9 * len(prompts)  # drawn afresh, so the letter cannot be memorised


def test_copying_teaches_every_word_the_tuned_model_must_say_but_not_the_ticket_task(data):
    copies = [(user, assistant) for user, assistant in map(turns, data.pretrain) if user.startswith("Repeat exactly: ")]
    assert len(copies) == Sizes().pretrain_copies
    assert all(user.removeprefix("Repeat exactly: ") == assistant for user, assistant in copies)
    said = {word for _, assistant in copies for word in assistant.split()}
    assert set(tickets.TICKET_LABELS) <= said


def test_half_the_multiple_choice_training_comes_under_mmlus_header(data):
    headed = Counter()
    for record in data.pretrain:
        messages = record["messages"]
        if messages[-1]["content"] in LETTERS:
            headed[messages[0]["role"] == "system"] += 1
            if messages[0]["role"] == "system":
                assert messages[0]["content"].startswith("The following are multiple choice questions (with answers) about ")
    assert 0.45 < headed[True] / headed.total() < 0.55


def test_facts_can_be_practised_as_multiple_choice_more_often_than_asked():
    facts = [knowledge.Fact("facts_colour", f"What colour is {name}?", "red", ("blue", "green", "pink")) for name in ("Zorvan", "Melik")]
    records = [turns(record) for record in exercises.fact_records(facts, random.Random(0), 1, frozenset(), choice_repeats=4)]
    choices = [user for user, answer in records if answer in LETTERS]
    assert len(records) == 10 and len(choices) == 8
    assert {user.split("\n")[0] for user in choices} == {fact.question for fact in facts}
    same = exercises.fact_records(facts, random.Random(0), 3, frozenset())
    assert same == exercises.fact_records(facts, random.Random(0), 3, frozenset(), choice_repeats=3)  # the default: as many as asked
