"""Every accepted format becomes alternating chat messages; anything else is named."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.formats import FormatError, detect_format, parse_line


def test_input_output_becomes_one_user_and_one_assistant_turn():
    assert parse_line('{"input": "System : Provide answer.", "output": "Diagnosis: flu"}') == [
        {"role": "user", "content": "System : Provide answer."},
        {"role": "assistant", "content": "Diagnosis: flu"},
    ]


def test_openai_messages_keep_system_and_turns():
    record = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    assert detect_format(record) == "messages"
    assert [m["role"] for m in parse_line(json.dumps(record))] == ["system", "user", "assistant"]


def test_bedrock_conversation_joins_text_blocks_and_system():
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "You classify tickets."}],
        "messages": [
            {"role": "user", "content": [{"text": "Ticket:"}, {"text": "card declined"}]},
            {"role": "assistant", "content": [{"text": "billing"}]},
        ],
    }
    assert detect_format(record) == "bedrock-conversation-2024"
    assert parse_line(json.dumps(record)) == [
        {"role": "system", "content": "You classify tickets."},
        {"role": "user", "content": "Ticket:\ncard declined"},
        {"role": "assistant", "content": "billing"},
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"prompt": "a", "completion": "b"}', "unknown format"),
        ('{"input": "a"', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"input": "", "output": "b"}', "'input' must be a non-empty string"),
        ('{"messages": [{"role": "user", "content": "a"}]}', "must end with an assistant turn"),
        ('{"messages": [{"role": "assistant", "content": "a"}]}', "should be 'user'"),
        ('{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}', "should be 'assistant'"),
        ('{"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]}', "role must be system, user or assistant"),
        ('{"messages": [{"role": "user", "content": [{"image": {}}]}, {"role": "assistant", "content": [{"text": "x"}]}]}', "only text blocks"),
    ],
)
def test_records_that_cannot_train_say_why(line, message):
    with pytest.raises(FormatError, match=message):
        parse_line(line)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["input", "output", "messages", "role", "content", "text", "system", "schemaVersion"]) | st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values)
def test_any_json_either_becomes_a_valid_conversation_or_a_format_error(value):
    try:
        messages = parse_line(json.dumps(value))
    except FormatError:
        return
    turns = [m for m in messages if m["role"] != "system"]
    assert turns and turns[-1]["role"] == "assistant"
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages)


@settings(max_examples=200, deadline=None)
@given(line=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_a_format_error(line):
    try:
        parse_line(line)
    except FormatError:
        pass
