"""The streaming pass: clean, quarantine with reasons, duplicates; nothing lost."""
import orjson
import pytest

from sanitiser.core import Sanitiser, Settings
from sanitiser.formats import parse_line
from tests.sanitiser.conftest import jsonl, sanitise

TICKET = {"input": "My parcel number 7731 never arrived and the tracking page shows nothing at all", "output": "shipping"}


def test_a_clean_record_is_written_as_the_bytes_it_came_in_with():
    raw = b'{"output": "billing",   "input": "charged twice"}\n'
    stats, sink = sanitise(raw)
    assert sink.clean_lines == [raw[:-1]] and stats.rewritten == 0 and stats.balanced


def test_a_record_a_rule_changed_is_rewritten_in_its_own_format():
    record = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "System: be brief"}],
              "messages": [{"role": "user", "content": [{"text": "User: hi"}]}, {"role": "assistant", "content": [{"text": "hello"}]}]}
    stats, sink = sanitise(jsonl(record))
    out = orjson.loads(sink.clean_lines[0])
    assert out["system"][0]["text"] == "System : be brief" and out["messages"][0]["content"][0]["text"] == "User : hi"
    assert out["schemaVersion"] == "bedrock-conversation-2024" and stats.rewritten == 1


def test_exact_duplicates_are_found_through_formatting_differences():
    same = [{"input": "charged twice", "output": "billing"}, {"messages": [{"role": "user", "content": "charged twice"}, {"role": "assistant", "content": "billing"}]}]
    stats, sink = sanitise(jsonl(*same, {"input": " charged twice ", "output": "billing"}))
    assert stats.clean == 1 and stats.exact_duplicates == 2
    assert [d["duplicate_of"] for d in sink.duplicates] == [{"source": "s3://bucket/data.jsonl", "line": 1}] * 2


def test_near_duplicates_point_at_the_first_occurrence():
    near = dict(TICKET, output=TICKET["output"] + " please")
    other = {"input": "How do I change the email address on my account settings page today", "output": "account"}
    stats, sink = sanitise(jsonl(TICKET, other, near))
    assert stats.near_duplicates == 1 and sink.duplicates[0]["line"] == 3 and sink.duplicates[0]["duplicate_of"]["line"] == 1
    assert sink.duplicates[0]["kind"] == "near" and sink.duplicates[0]["similarity"] >= 0.8


def test_dedup_can_be_off():
    stats, _ = sanitise(jsonl(TICKET, TICKET), Settings(exact_dedup=False, near_dedup=False))
    assert stats.clean == 2


def test_duplicates_across_sources_name_the_other_source():
    sanitiser = Sanitiser()
    sanitise(jsonl(TICKET), sanitiser=sanitiser, source="a.jsonl")
    stats, sink = sanitise(jsonl(TICKET), sanitiser=sanitiser, source="b.jsonl")
    assert sink.duplicates[0]["duplicate_of"] == {"source": "a.jsonl", "line": 1}


@pytest.mark.parametrize(
    "data, reason",
    [
        (b'{"input": "caf\xe9", "output": "x"}\n', "invalid_utf8"),
        (bytes(range(128, 256)) + b"\n", "invalid_utf8"),
        (b"\x00\x01binary\x02junk\n", "invalid_json"),
        (b'{"input": "a", "output": "b"} trailing\n', "invalid_json"),
        (b'{"input": "a", "outp', "truncated_last_line"),
        (b"   \n", "empty_line"),
        (b'{"input": "a"}\n', "invalid_structure"),
        (b'{"input": "<image>", "output": "b"}\n', "empty_after_cleaning"),
    ],
)
def test_hostile_lines_are_quarantined_with_a_reason_and_the_raw_line(data, reason):
    stats, sink = sanitise(data)
    assert stats.quarantined == 1 and sink.quarantined[0]["reason"] == reason and stats.balanced
    kept = sink.quarantined[0].get("raw") or sink.quarantined[0]["raw_base64"]
    assert kept and sink.quarantined[0]["line"] == 1


def test_a_50_mb_line_is_quarantined_without_holding_it(tmp_path):
    import tracemalloc

    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        f.write(jsonl(TICKET))
        f.write(b'{"input": "' + b"x" * (50 * 1024 * 1024) + b'", "output": "y"}\n')
        f.write(jsonl({"input": "after the big one", "output": "fine"}))
    from tests.sanitiser.conftest import ListSink

    tracemalloc.start()
    sink = ListSink()
    with open(path, "rb") as handle:
        stats = Sanitiser(Settings(max_line_bytes=1024 * 1024, chunk_bytes=4 * 1024 * 1024)).run(handle, str(path), sink)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [q["reason"] for q in sink.quarantined] == ["line_too_long"] and sink.quarantined[0]["raw_bytes"] > 50 * 1024 * 1024
    assert sink.quarantined[0]["raw_truncated"] and stats.clean == 2 and stats.balanced
    assert peak < 16 * 1024 * 1024, peak  # a chunk or two, never the 50 MB line


def test_an_empty_file_is_reported_not_a_crash():
    stats, sink = sanitise(b"")
    assert stats.lines_in == 0 and stats.balanced and not sink.clean_lines


def test_marker_quarantine_mode():
    stats, sink = sanitise(jsonl({"input": "User: hi", "output": "ok"}), Settings(marker_fix="quarantine"))
    assert sink.quarantined[0]["reason"] == "reserved_marker" and "User:" in sink.quarantined[0]["detail"]


def test_stats_count_what_the_rules_did():
    stats, _ = sanitise(jsonl({"input": "System: mail me at a@b.io", "output": "ok\u00a0done"}))
    assert stats.markers == {"System:": 1} and stats.pii == {"EMAIL": 1} and stats.normalised_fields == 1
    assert stats.to_dict()["balanced"] is True


def test_clean_output_parses_as_training_records():
    _, sink = sanitise(jsonl(TICKET, {"input": "System: a\u201cb\u201d", "output": "c"}))
    for line in sink.clean_lines:
        assert parse_line(line)[-1]["role"] == "assistant"


def test_clean_keys_follow_the_clean_output_for_cross_shard_dedup():
    from sanitiser.dedup import content_key

    other = {"input": "How do I change the email address on my account settings page today", "output": "account"}
    sanitiser = Sanitiser()
    _, sink = sanitise(jsonl(TICKET, {"input": "System: x", "output": "y"}, b"junk" and {"prompt": 1}, other), sanitiser=sanitiser)
    keys = list(sanitiser.clean_keys)
    assert keys[1::2] == [1, 2, 4]  # input lines of the clean records, in output order
    assert keys[0::2][0] == content_key([("user", TICKET["input"]), ("assistant", TICKET["output"])])
    assert len(keys) == 2 * len(sink.clean_lines)


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("日本語のチケット: 配送が遅れています", "日本語のチケット: 配送が遅れています"),  # benign non-ASCII: kept byte for byte
        ("cafe\u0301 crashes", "café crashes"),  # not NFC
        ("line separator at the end\u2028", "line separator at the end"),  # Unicode whitespace at an end
        ("zero\u200bwidth", "zerowidth"),
        ("call \uff15\uff15\uff15-\uff11\uff12\uff13-\uff14\uff15\uff16\uff17 about order 1", "call [PHONE] about order 1"),  # full-width digits
        ("call \uff15\uff15\uff15-\uff11\uff12\uff13-\uff14\uff15\uff16\uff17 today", "call [PHONE] today"),  # ... and no ASCII digit
        ("System: call \uff15\uff15\uff15-\uff11\uff12\uff13-\uff14\uff15\uff16\uff17", "System : call [PHONE]"),  # ... on a line flagged for a marker only
    ],
)
def test_non_ascii_lines_are_fixed_exactly_when_a_rule_applies(text, cleaned):
    raw = orjson.dumps({"input": text, "output": "ok"})
    for fast_path in (True, False):
        stats, sink = sanitise(raw + b"\n", Settings(fast_path=fast_path))
        assert orjson.loads(sink.clean_lines[0])["input"] == cleaned
        assert (sink.clean_lines[0] == raw) == (text == cleaned)  # untouched lines keep their bytes
