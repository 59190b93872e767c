"""Render messages with the base model's chat template; label only assistant tokens.

Templates of real models (Llama, Mistral, Qwen, ...) rarely carry ``{% generation %}``
markers, so the assistant spans are found by rendering prefixes: the text that turn *i*
adds is ``render(messages[:i+1])`` minus ``render(messages[:i], add_generation_prompt)``.
Token offsets then map those character spans onto tokens in one tokenisation pass.
"""
from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100  # the label value transformers' loss skips


class TemplateError(ValueError):
    """The chat template cannot render this conversation (the caller adds file and line)."""


@dataclass(frozen=True)
class Tokenised:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


class ChatRenderer:
    def __init__(self, tokenizer):
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError("the base model's tokenizer has no chat_template: add one to tokenizer_config.json in the model channel")
        if not getattr(tokenizer, "is_fast", False):
            raise TemplateError("a fast tokenizer (tokenizer.json) is required to map assistant text to tokens")
        self.tokenizer = tokenizer

    def render(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The full text and the character spans the assistant wrote."""
        try:
            text = self._template(messages, add_generation_prompt=False)
            spans = []
            for index, message in enumerate(messages):
                if message["role"] != "assistant":
                    continue
                prefix = self._template(messages[:index], add_generation_prompt=True)
                last = index == len(messages) - 1
                upto = text if last else self._template(messages[: index + 1], add_generation_prompt=False)
                if not upto.startswith(prefix) or not text.startswith(upto):
                    raise TemplateError("the chat template does not render conversations prefix by prefix, so assistant turns cannot be located")
                spans.append((len(prefix), len(upto)))
        except TemplateError:
            raise
        except Exception as error:  # jinja raises many kinds; the template's own raise_exception among them
            raise TemplateError(f"chat template failed: {error}") from None
        return text, spans

    def tokenise(self, messages: list[dict]) -> Tokenised:
        return self.tokenise_many([messages])[0]

    def tokenise_many(self, conversations: list[list[dict]]) -> list[Tokenised]:
        """One tokenizer call for many conversations: the fast tokenizer batches in Rust."""
        rendered = [self.render(messages) for messages in conversations]
        encodings = self.tokenizer([text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True)
        return [
            _label(ids, offsets, spans)
            for ids, offsets, (_, spans) in zip(encodings["input_ids"], encodings["offset_mapping"], rendered)
        ]

    def _template(self, messages: list[dict], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _label(input_ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> Tokenised:
    labels, span_index = [], 0
    for token_id, (start, _end) in zip(input_ids, offsets):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1]
        labels.append(token_id if inside else IGNORE_INDEX)
    if not any(label != IGNORE_INDEX for label in labels):
        raise TemplateError("no assistant tokens after rendering: the template dropped the assistant turn")
    return Tokenised(list(input_ids), labels)
