"""Rendering with the model's own chat template; the loss sees assistant tokens only."""
import pytest
from transformers import AutoTokenizer

from openforge_training.chat import IGNORE_INDEX, ChatRenderer, TemplateError


@pytest.fixture(scope="module")
def renderer(tiny_model):
    return ChatRenderer(AutoTokenizer.from_pretrained(tiny_model))


def labelled_text(renderer, tokenised) -> str:
    return renderer.tokenizer.decode([label for label in tokenised.labels if label != IGNORE_INDEX])


def test_only_the_assistant_answer_and_its_end_marker_are_trained(renderer):
    tokenised = renderer.tokenise([{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"}])
    assert labelled_text(renderer, tokenised) == "5<|end|>\n"
    assert len(tokenised.input_ids) == len(tokenised.labels)
    assert renderer.tokenizer.decode(tokenised.input_ids).startswith("<|begin|><|user|>\nWhat is 2 + 3?")


def test_every_assistant_turn_of_a_multi_turn_conversation_is_trained(renderer):
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Colour of the sky?"},
        {"role": "assistant", "content": "blue"},
        {"role": "user", "content": "And grass?"},
        {"role": "assistant", "content": "green"},
    ]
    assert labelled_text(renderer, renderer.tokenise(messages)) == "blue<|end|>\ngreen<|end|>\n"


def test_a_tokenizer_without_chat_template_is_refused(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = None
    with pytest.raises(TemplateError, match="no chat_template"):
        ChatRenderer(tokenizer)


def test_a_template_that_drops_the_assistant_is_named(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}{% endif %}{% endfor %}"
    with pytest.raises(TemplateError, match="no assistant tokens"):
        ChatRenderer(tokenizer).tokenise([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
