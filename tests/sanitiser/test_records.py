"""Clean records hold only what training reads: fields a format does not know are left out
(and counted), a key twice or nesting past the limit is quarantined with its own reason,
and the sanitiser and the trainer word the same refusal the same way."""
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.core import Settings
from sanitiser.formats import MAX_DEPTH, MAX_RECORD_BYTES, FormatError, parse_line
from tests.sanitiser.conftest import jsonl, sanitise

PII = "jane.doe@example.com"
QA = {"input": "charged twice for one order", "output": "billing"}
CHAT = [{"role": "user", "content": "charged twice"}, {"role": "assistant", "content": "billing"}]
BEDROCK = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "be brief"}],
           "messages": [{"role": "user", "content": [{"text": "charged twice"}]}, {"role": "assistant", "content": [{"text": "billing"}]}]}
BOTH_PATHS = pytest.mark.parametrize("fast_path", [True, False])


def nested(depth: int) -> bytes:
    """A QA record whose ``meta`` field nests ``depth`` objects (built as text: serialisers stop early)."""
    return b'{"input": "charged twice for one order", "output": "billing", "meta": ' + b'{"x": ' * depth + b'"deep"' + b"}" * depth + b"}"


@BOTH_PATHS
@pytest.mark.parametrize("raw", [
    b'{"input": "' + PII.encode() + b'", "input": "hello", "output": "x"}',
    b'{"input" : "' + PII.encode() + b'", "input" : "hello", "output": "x"}',  # space before the colon
    b'{"messages": [{"role": "user", "content": "' + PII.encode() + b'", "content": "hi"}, {"role": "assistant", "content": "x"}]}',
    b'{"input": "hi", "output": "x", "meta": {"a": "' + PII.encode() + b'", "a": 1}}',
])
def test_a_key_twice_is_quarantined_with_its_own_reason(raw, fast_path):
    stats, sink = sanitise(raw + b"\n", Settings(fast_path=fast_path))
    assert stats.reasons == {"duplicate_key": 1} and sink.clean_lines == [] and stats.balanced
    assert "appears twice in one object" in sink.quarantined[0]["detail"]


@BOTH_PATHS
@pytest.mark.parametrize("record, dropped", [
    (dict(QA, meta={"email": PII}), ["meta"]),
    (dict(QA, messages=[{"role": "user", "content": PII}, {"role": "assistant", "content": "x"}]), ["messages"]),
    ({"messages": [dict(CHAT[0], name=PII), CHAT[1]]}, ["messages[].name"]),
    (dict(BEDROCK, messages=[{"role": "user", "content": [{"text": "charged twice", "note": PII}]}, BEDROCK["messages"][1]]), ["messages[].content[].note"]),
    (dict(BEDROCK, system=[{"text": "be brief", "cachePoint": PII}], id=7), ["id", "system[].cachePoint"]),
])
def test_fields_training_does_not_read_are_left_out_and_counted(record, dropped, fast_path):
    stats, sink = sanitise(jsonl(record), Settings(fast_path=fast_path))
    assert stats.clean == 1 and PII.encode() not in sink.clean_lines[0] and b"[EMAIL]" not in sink.clean_lines[0]
    assert stats.dropped_fields == dict.fromkeys(dropped, 1) and stats.to_dict()["dropped_fields"] == dict.fromkeys(dropped, 1)
    assert parse_line(sink.clean_lines[0]) == parse_line(orjson.dumps(record))


def test_a_clean_record_of_recognised_fields_only_keeps_its_bytes_even_with_quotes_and_colons_in_text():
    raw = b'{"input": "he said \\"stop\\": twice", "output" : "billing"}'
    stats, sink = sanitise(raw + b"\n")
    assert sink.clean_lines == [raw] and stats.dropped_fields == {} and stats.quarantined == 0


def test_a_rewritten_record_keeps_no_number_and_no_unknown_field():
    record = dict(QA, input=f"mail {PII}", order=123456789012345678901234567890)
    stats, sink = sanitise(json.dumps(record).encode() + b"\n")  # orjson cannot even write this number
    assert b"e+29" not in sink.clean_lines[0] and b"123456789012345678901234567890" not in sink.clean_lines[0]
    assert orjson.loads(sink.clean_lines[0]) == {"input": "mail [EMAIL]", "output": "billing"} and stats.dropped_fields == {"order": 1}


@BOTH_PATHS
def test_nesting_in_an_ignored_field_is_left_out_up_to_the_limit_and_quarantined_past_it(fast_path):
    data = b"\n".join(nested(depth).replace(b"billing", str(depth).encode()) for depth in (MAX_DEPTH - 2, MAX_DEPTH, 1000, 2000))
    stats, sink = sanitise(data + b"\n", Settings(fast_path=fast_path))
    assert stats.clean == 1 and stats.reasons == {"too_deep": 3} and stats.balanced
    assert orjson.loads(sink.clean_lines[0]) == dict(QA, output=str(MAX_DEPTH - 2))


def test_another_schema_version_is_not_bedrock():
    stats, sink = sanitise(jsonl(dict(BEDROCK, schemaVersion={"v": PII})))
    assert stats.reasons == {"invalid_structure": 1} and "schemaVersion" in sink.quarantined[0]["detail"]


@pytest.mark.parametrize("raw", [
    b'{"input": "a", "input": "b", "output": "x"}',
    nested(MAX_DEPTH),
    nested(3000),
    orjson.dumps(dict(QA, input="a" * MAX_RECORD_BYTES)),
])
def test_the_sanitiser_and_the_trainer_refuse_the_same_records_in_the_same_words(raw):
    stats, sink = sanitise(raw + b"\n")
    with pytest.raises(FormatError) as refused:
        parse_line(raw.decode())
    assert stats.quarantined == 1 and sink.quarantined[0]["detail"] == str(refused.value) and sink.quarantined[0]["reason"] == refused.value.reason


extra = st.dictionaries(st.sampled_from(["meta", "id", "name", "note", "input", "messages", "weight"]), st.integers() | st.text(max_size=5), max_size=2)


@settings(max_examples=200, deadline=None)
@given(record=st.sampled_from([QA, {"messages": CHAT}, BEDROCK]), top=extra, inner=extra)
def test_clean_output_holds_exactly_the_recognised_fields_on_both_paths(record, top, inner):
    record = json.loads(json.dumps(record))
    if "messages" in record:
        record["messages"][0].update(inner)
    record.update({k: v for k, v in top.items() if k not in record})
    data = json.dumps(record).encode() + b"\n"
    fast_stats, fast = sanitise(data)
    slow_stats, slow = sanitise(data, Settings(fast_path=False))
    assert fast.clean_lines == slow.clean_lines and fast_stats.to_dict() == slow_stats.to_dict()
    for line in fast.clean_lines:
        out = orjson.loads(line)
        assert set(out) <= {"input", "output", "messages", "schemaVersion", "system"}
        assert sanitise(line + b"\n")[1].clean_lines == [line]  # clean output is clean again, as it is


@BOTH_PATHS
@pytest.mark.parametrize("raw", [
    # One copy of the key written '"k":', the other '"k" :': a count of '":' alone matched the record's keys.
    b'{"input": "SSN 123-45-6789 ' + PII.encode() + b'", "input" : "hello there", "output": "hi"}',
    b'{"input": "what is 2+2", "output": "card 4111 1111 1111 1111", "output" : "4"}',
    b'{"messages" :[{"role" :"user","content" :"Jane Roe, 12 Elm St","name" :"Jane Roe"},{"role" :"assistant","content" :"noted"}],'
    b'"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}',
    b'{"input": "q4", "output": "a4", "\\u0069nput" : "PII ' + PII.encode() + b'"}',
])
def test_a_key_twice_is_quarantined_however_its_colon_is_spaced(raw, fast_path):
    stats, sink = sanitise(raw + b"\n", Settings(fast_path=fast_path))
    assert stats.reasons == {"duplicate_key": 1} and sink.clean_lines == [] and stats.balanced


def test_the_report_counts_unknown_fields_without_repeating_a_name_that_is_data():
    """A key name may hold PII itself: only plain identifiers are named in the counts."""
    records = [{**QA, "SSN 078-05-1120 of " + PII: 1, "meta": 1},
               {"messages": [{**CHAT[0], "Jane Roe, 4111 1111 1111 1111": True, "name": "x"}, CHAT[1]]}]
    stats, sink = sanitise(jsonl(*records), Settings())
    assert len(sink.clean_lines) == 2 and stats.balanced
    assert dict(stats.dropped_fields) == {"(other field names)": 1, "meta": 1, "messages[].(other field names)": 1, "messages[].name": 1}
    assert PII not in json.dumps(stats.to_dict()) and "4111" not in json.dumps(stats.to_dict())
