"""Nothing in, nothing lost: internal sizes that read nothing are refused, CR-only files
split into their lines (and byte ranges of them split the same way), every byte of a range
is accounted for, and the local command's outputs never overwrite one another."""
import io
import json
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.core import Settings
from sanitiser.local import main
from sanitiser.ranges import RangeLines
from sanitiser.reader import LineEndings
from sanitiser.settings import USER_SETTINGS, SettingsError, user_settings
from tests.sanitiser.conftest import sanitise

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sanitisation.md"


@pytest.mark.parametrize("name", ["chunk_bytes", "max_line_bytes"])
@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_sizes_that_read_nothing_are_refused_even_internally(name, value):
    with pytest.raises(SettingsError, match=f"'{name}' must be a whole number of bytes >= 1"):
        Settings(**{name: value})


def test_the_published_settings_are_the_ones_users_may_set_and_the_docs_list_them():
    internal = {"chunk_bytes", "fast_path"}
    assert set(USER_SETTINGS) | internal == set(Settings.__dataclass_fields__)
    for name in internal:
        with pytest.raises(SettingsError, match=f"unknown sanitiser setting\\(s\\): {name}"):
            user_settings({name: 1})
    documented = DOCS.read_text()
    assert all(f"`{name}`" in documented for name in USER_SETTINGS), "docs/sanitisation.md lists every user setting"
    assert user_settings({"near_threshold": 1, "extra_markers": ["<x>"]}) == {"near_threshold": 1.0, "extra_markers": ("<x>",)}


def universal(data: bytes) -> bytes:
    """Universal newlines, but for CR CR LF: one CRLF after a stray CR (a space), not two breaks."""
    data = re.sub(rb"\r+(?=\n)", lambda run: b" " * (len(run[0]) - 1) + b"\r", data)
    return re.sub(rb"\r(?!\n)", b"\n", data)


endings = st.sampled_from([b"\n", b"\r", b"\r\n", b"\r\r\n"])
line_lists = st.lists(st.tuples(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")), endings), max_size=25)


@settings(max_examples=300, deadline=None)
@given(lines=line_lists, read=st.integers(1, 40))
def test_line_endings_turn_each_lone_cr_into_a_newline_whatever_the_read_size(lines, read):
    data = b"".join(text + ending for text, ending in lines)
    assert io.BufferedReader(LineEndings(io.BytesIO(data)), buffer_size=read).read() == universal(data)
    raw, out = LineEndings(io.BytesIO(data)), b""
    while chunk := raw.read(read):  # the raw reader on its own too: never more than asked for
        assert len(chunk) <= read
        out += chunk
    assert out == universal(data)


@settings(max_examples=300, deadline=None)
@given(lines=line_lists, cuts=st.lists(st.integers(0, 600), max_size=6), read=st.integers(1, 64))
def test_ranges_of_a_cr_file_partition_its_lines_and_account_for_every_byte(lines, cuts, read):
    data = b"".join(text + ending for text, ending in lines)
    bounds = sorted({c for c in cuts if c < len(data)} | {0})
    ranges = [(bounds[i], (bounds[i + 1] - 1) if i + 1 < len(bounds) else max(len(data) - 1, 0)) for i in range(len(bounds))]
    parts = []
    for start, end in ranges:
        ranged = RangeLines(LineEndings(io.BytesIO(data[max(start - 1, 0):])), start, end)
        parts.append(io.BufferedReader(ranged, buffer_size=read).read())
        assert ranged.accounted(len(parts[-1])) == (ranged.size if data else 0)
    assert b"".join(parts) == universal(data)


def test_a_range_the_object_does_not_reach_accounts_for_less_than_its_size():
    data = b'{"a": 1}\n{"b": 2}\n'
    ranged = RangeLines(io.BytesIO(data[9:]), 10, 99)  # planned on a bigger object
    read = len(io.BufferedReader(ranged).read())
    assert ranged.accounted(read) == len(data) - 10 < ranged.size


def test_a_cr_only_file_is_its_lines_not_one_truncated_line(tmp_path):
    records = [{"input": f"question {i} about my order", "output": "answer"} for i in range(3)]
    (tmp_path / "mac.jsonl").write_bytes(b"\r".join(orjson.dumps(r) for r in records) + b"\r")
    assert main([str(tmp_path / "mac.jsonl"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "clean" / "mac.jsonl").read_bytes().splitlines() == [orjson.dumps(r) for r in records]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["total"]["lines_in"] == 3 and stats["total"]["clean"] == 3  # was: 1 line, truncated_last_line
    assert stats["sources"][str(tmp_path / "mac.jsonl")]["bytes"]["balanced"]


def test_crlf_is_still_one_line_each_and_the_fast_path_keeps_the_bytes():
    lines = [orjson.dumps({"input": f"plain question {i}", "output": "ok"}) for i in range(5)]
    stats, sink = sanitise(universal_read(b"\r\n".join(lines) + b"\r\n"))
    assert stats.lines_in == 5 and sink.clean_lines == lines


def universal_read(data: bytes) -> bytes:
    return io.BufferedReader(LineEndings(io.BytesIO(data))).read()


def clean_lines(out: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in (out / "clean").rglob("*.jsonl"))


def test_inputs_with_the_same_file_name_keep_their_own_outputs(tmp_path, capsys):
    for folder, texts in (("a", ["first question", "second question"]), ("b", ["third question"])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "data.jsonl").write_bytes(b"".join(orjson.dumps({"input": t, "output": "x"}) + b"\n" for t in texts))
    out = tmp_path / "out"
    assert main([str(tmp_path / "a" / "data.jsonl"), str(tmp_path / "b" / "data.jsonl"), "--out", str(out), "--quiet"]) == 0
    stats = json.loads((out / "stats.json").read_text())["total"]
    assert stats["clean"] == 3 == clean_lines(out)  # was: the report said 3, clean/data.jsonl held 1
    assert sorted(p.relative_to(out / "clean").as_posix() for p in (out / "clean").rglob("*.jsonl")) == ["a/data.jsonl", "b/data.jsonl"]
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out2"), "--quiet"]) == 0  # folders alike
    assert clean_lines(tmp_path / "out2") == 3


def test_a_file_given_twice_is_refused_and_an_earlier_runs_outputs_are_not_inputs(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.jsonl").write_bytes(orjson.dumps({"input": "one question", "output": "x"}) + b"\n")
    assert main([str(data), str(data / "part.jsonl"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "part.jsonl is given twice" in capsys.readouterr().err
    for _ in range(2):  # the output folder inside the input folder: the second run does not read the first's outputs
        assert main([str(data), "--out", str(data / "out"), "--quiet"]) == 0
        assert json.loads((data / "out" / "stats.json").read_text())["total"]["lines_in"] == 1


def test_the_local_command_refuses_a_bad_setting_by_name(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_bytes(b"{}\n")
    assert main([str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out"), "--quiet", "--max-line-bytes", "0"]) == 2
    assert "'max_line_bytes' must be int (>= 1" in capsys.readouterr().err


def test_an_input_inside_the_output_folder_is_refused_not_silently_skipped(tmp_path, capsys):
    data = tmp_path / "proj" / "data"
    data.mkdir(parents=True)
    (data / "x.jsonl").write_bytes(orjson.dumps({"input": "one question", "output": "x"}) + b"\n")
    assert main([str(data / "x.jsonl"), "--out", str(data), "--quiet"]) == 2
    assert "x.jsonl lies under --out" in capsys.readouterr().err
    assert main([str(data), "--out", str(tmp_path / "proj"), "--quiet"]) == 2
    assert "every input file lies under --out" in capsys.readouterr().err


def test_a_line_limit_below_the_kept_prefix_still_quarantines_longer_lines():
    from tests.sanitiser.conftest import sanitise

    long, short = orjson.dumps({"input": "x" * 120, "output": "y"}), orjson.dumps({"input": "short", "output": "z"})
    stats, sink = sanitise(long + b"\n" + short + b"\n", Settings(max_line_bytes=100))
    assert stats.reasons == {"line_too_long": 1} and len(sink.clean_lines) == 1 and stats.balanced


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_threshold_that_is_not_a_number_is_refused_by_name(value):
    from sanitiser.settings import SettingsError, user_settings

    with pytest.raises(SettingsError, match="near_threshold"):
        user_settings({"near_threshold": value})
