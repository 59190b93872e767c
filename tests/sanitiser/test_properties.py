"""Random and hostile lines: the pass never raises, every line is accounted for, clean
output is valid JSONL in an accepted format, and cleaning clean output changes nothing."""
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.formats import parse_line
from tests.sanitiser.conftest import sanitise

HOSTILE = ["System:", "User:", "ASSISTANT:", "[EOS]", "<image>", "<unk>", "\u201c", "\u00a0", "\u200b", "\r\n", "  ", "a@b.io",
           "4111 1111 1111 1111", "555-123-4567", "10.0.0.1", "\uff15\uff15\uff15-\uff11\uff12\uff13-\uff14\uff15\uff16\uff17", "\u0663", "e\u0301", "\x00", "\\", '"', "{", "\ud7ff", "\U0001f600",
           "4111\u00ad1111\u00ad1111\u00ad1111", "555\u2011123\u20114567", "john\uff20example.com", "j\u00f6@b\u00fccher.de", "2001:db8::1",
           "+44 20 7946 0958", "123 45 6789", "\u00ad", "\u2013", "/", "\u0301", "4\u0301111", "\ufe0f"]
texts = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=12), max_size=6).map("".join)
records = st.one_of(
    st.builds(lambda i, o: {"input": i, "output": o}, texts, texts),
    st.builds(lambda u, a: {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]}, texts, texts),
    st.builds(lambda s, u, a: {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": s}],
                                "messages": [{"role": "user", "content": [{"text": u}]}, {"role": "assistant", "content": [{"text": a}]}]}, texts, texts, texts),
)
# JSON may escape '/' (PHP's json_encode does): a digit run the raw bytes break up
ESCAPED = [b'{"input": "call 555\\/123\\/4567", "output": "ok"}', b'{"input": "card 4111\\/1111\\/1111\\/1111", "output": "ok"}']
lines = st.one_of(records.map(orjson.dumps), st.binary(max_size=80), texts.map(lambda t: t.encode("utf-8", "surrogatepass")), st.sampled_from(ESCAPED))


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(lines, max_size=25), terminated=st.booleans())
def test_never_raises_and_accounts_for_every_line(batch, terminated):
    data = b"\n".join(line.replace(b"\n", b" ").replace(b"\r", b" ") for line in batch) + (b"\n" if terminated and batch else b"")
    stats, sink = sanitise(data)
    assert stats.balanced
    assert stats.lines_in == len(sink.clean_lines) + len(sink.quarantined) + len(sink.duplicates)
    assert {q["reason"] for q in sink.quarantined} <= set(__import__("sanitiser.core").core.REASONS)
    for line in sink.clean_lines:
        assert b"\n" not in line
        parse_line(line)  # valid JSON in an accepted format, or this raises


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(records, min_size=1, max_size=15))
def test_cleaning_clean_output_again_changes_nothing(batch):
    _, first = sanitise(b"".join(orjson.dumps(r) + b"\n" for r in batch))
    again_stats, again = sanitise(b"".join(line + b"\n" for line in first.clean_lines))
    assert again.clean_lines == first.clean_lines
    assert again_stats.quarantined == 0 and again_stats.rewritten == 0


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(lines, max_size=25), chunk=st.integers(16, 4096), crlf=st.booleans())
def test_fast_path_and_chunking_give_exactly_what_every_rule_on_every_line_gives(batch, chunk, crlf):
    from sanitiser.core import Settings

    newline = b"\r\n" if crlf else b"\n"
    data = newline.join(line.replace(b"\n", b" ").replace(b"\r", b" ") for line in batch) + newline
    fast_stats, fast = sanitise(data, Settings(chunk_bytes=chunk, max_line_bytes=2048))
    slow_stats, slow = sanitise(data, Settings(fast_path=False, max_line_bytes=2048))
    assert fast.clean_lines == slow.clean_lines
    assert fast.quarantined == slow.quarantined and fast.duplicates == slow.duplicates
    assert fast_stats.to_dict() == slow_stats.to_dict()


@settings(max_examples=400, deadline=None)
@given(record=records | st.builds(lambda m: {"messages": m}, st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": texts}), max_size=5)))
def test_fast_validation_agrees_with_the_full_validator_whenever_it_answers(record):
    from sanitiser.fastpath import fast_pairs
    from sanitiser.formats import FormatError, to_messages

    pairs = fast_pairs(record)
    if pairs is None:
        return
    try:
        messages = to_messages(record)
    except FormatError as error:
        raise AssertionError(f"fast path accepted what the validator refuses: {error}") from None
    assert pairs == [(m["role"], m["content"]) for m in messages]
