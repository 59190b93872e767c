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


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3_STYLE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
MISTRAL_STYLE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)


@pytest.mark.parametrize(
    "template, expected",
    [(CHATML, "Paris<|im_end|>\nBerlin<|im_end|>\n"), (LLAMA3_STYLE, "Paris<|eot_id|>Berlin<|eot_id|>"), (MISTRAL_STYLE, " Paris<|end|> Berlin<|end|>")],
)
def test_templates_shaped_like_real_models_label_exactly_the_answers(tiny_model, template, expected):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = template
    messages = [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "And of Germany?"},
        {"role": "assistant", "content": "Berlin"},
    ]
    assert labelled_text(ChatRenderer(tokenizer), ChatRenderer(tokenizer).tokenise(messages)) == expected
