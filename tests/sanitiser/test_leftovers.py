"""Nothing silently lost, clear errors (issue 15's leftovers): fields left out are in the
report, a byte order mark does not cost the first record, CR CR LF is one line break, files
in an input folder are read or named, and a bad tokenizer.json is refused by name."""
import io
import json

import orjson
import pytest

from sanitiser.core import Stats
from sanitiser.local import inputs, main
from sanitiser.ranges import RangeLines
from sanitiser.reader import BOM, LeadingBom, LineEndings
from sanitiser.report import markdown
from sanitiser.special_tokens import TokenizerError, special_tokens
from tests.sanitiser.conftest import sanitise

RECORDS = [{"input": f"where is my parcel number {i}", "output": "on its way"} for i in range(4)]


def jsonl(records, ending=b"\n") -> bytes:
    return b"".join(orjson.dumps(r) + ending for r in records)


def run_local(tmp_path, *inputs_, extra=()):
    code = main([*map(str, inputs_), "--out", str(tmp_path / "out"), "--quiet", *extra])
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    return code, stats, (tmp_path / "out" / "report.md").read_text()


# 1. report.md shows the fields left out of clean records


def test_the_report_names_the_fields_left_out_with_counts(tmp_path):
    records = [{"input": "hi", "output": "yo", "meta": {"email": "a@b.example"}},
               {"messages": [{"role": "user", "content": "hello there", "name": "ann"}, {"role": "assistant", "content": "hi ann", "name": "bot"}]}]
    (tmp_path / "in.jsonl").write_bytes(jsonl(records))
    code, stats, report = run_local(tmp_path, tmp_path / "in.jsonl")
    assert code == 0 and stats["total"]["dropped_fields"] == {"meta": 1, "messages[].name": 2}
    assert "Fields left out of the clean records: training does not read them" in report  # was: not in the report at all
    assert "| `messages[].name` | 2 |" in report and "| `meta` | 1 |" in report


def test_field_names_that_may_be_private_are_explained_not_shown():
    stats = Stats()
    stats.dropped_fields.update({"(other field names)": 3})
    report = markdown(stats)
    assert "| `(other field names)` | 3 |" in report and "a name can itself be private data" in report
    assert "Fields left out" not in markdown(Stats())


# 2. a UTF-8 byte order mark at the start of a source


def test_a_leading_bom_does_not_cost_the_first_record_and_its_bytes_are_accounted_for(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(BOM + jsonl(RECORDS, b"\r\n"))
    code, stats, _ = run_local(tmp_path, tmp_path / "bom.jsonl")
    total = stats["total"]
    assert code == 0 and (total["lines_in"], total["clean"], total["quarantined"]) == (4, 4, 0)  # was: line 1 invalid_json
    accounting = stats["sources"][str(tmp_path / "bom.jsonl")]["bytes"]
    assert accounting["balanced"] and accounting["expected"] == len(BOM) + len(jsonl(RECORDS, b"\r\n"))
    assert (tmp_path / "out" / "clean" / "bom.jsonl").read_bytes() == jsonl(RECORDS)


def test_a_bom_is_stripped_only_at_the_very_start():
    data = BOM + b'{"a": 1}\n' + BOM + b'{"b": 2}\n'  # two files concatenated: the second one's BOM is data
    for read in (1, 2, 3, 4, 64):
        stream = LeadingBom(io.BytesIO(data))
        assert io.BufferedReader(stream, buffer_size=read).read() == data[3:] and stream.stripped == 3
    for short in (b"", b"\xef", b"\xef\xbb", b"\xef\xbb\xbe\n"):  # not a BOM, or cut short: kept as it is
        stream = LeadingBom(io.BytesIO(short))
        assert io.BufferedReader(stream).read() == short and stream.stripped == 0


def test_the_first_range_of_an_object_with_a_bom_balances_its_bytes():
    data = BOM + jsonl(RECORDS)
    end = len(data) // 2
    ranged = RangeLines(LineEndings(io.BytesIO(data)), 0, end)
    stream = LeadingBom(ranged)
    read = len(io.BufferedReader(stream).read())
    assert ranged.accounted(read + stream.stripped) == ranged.size


# 4. CR CR LF


def test_cr_cr_lf_is_a_record_and_one_line_break_not_an_empty_line_each(tmp_path):
    body = jsonl(RECORDS, b"\r\r\n")  # a CRLF written through a Windows text-mode file
    stats, sink = sanitise(io.BufferedReader(LineEndings(io.BytesIO(body))).read())
    assert (stats.lines_in, stats.clean, stats.quarantined) == (4, 4, 0)  # was: 8 lines, 4 empty_line
    assert [orjson.loads(line) for line in sink.clean_lines] == RECORDS
    (tmp_path / "win.jsonl").write_bytes(body)
    code, local, _ = run_local(tmp_path, tmp_path / "win.jsonl")
    assert code == 0 and local["total"]["clean"] == 4 and local["total"]["balanced"]
    assert local["sources"][str(tmp_path / "win.jsonl")]["bytes"]["balanced"]


def test_a_run_of_crs_is_settled_across_reads():
    data = b'{"a": 1}' + b"\r" * 5 + b'\n{"b": 2}\r\r'
    expected = b'{"a": 1}    \r\n{"b": 2}\n\n'
    for read in range(1, 20):
        assert io.BufferedReader(LineEndings(io.BytesIO(data)), buffer_size=read).read() == expected


# 3. files in an input folder


def test_jsonl_in_any_case_is_read_and_every_other_file_is_named(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "upper.JSONL").write_bytes(jsonl(RECORDS[:2]))
    (folder / "lines.jsonl").write_bytes(jsonl(RECORDS[2:]))
    (folder / "export.json").write_bytes(jsonl(RECORDS[:1]))
    (folder / "notes.txt").write_text("not data")
    code, stats, report = run_local(tmp_path, folder)
    assert code == 0 and stats["total"]["lines_in"] == 4  # was: 2 (upper.JSONL passed over)
    assert sorted(p.name for p in (tmp_path / "out" / "clean").iterdir()) == ["lines.jsonl", "upper.jsonl"]  # what the trainer reads
    assert set(stats["not_read"]) == {str(folder / "export.json"), str(folder / "notes.txt")}  # was: nothing said
    assert "rename it .jsonl" in stats["not_read"][str(folder / "export.json")]
    assert "Files not read (2)" in report and "export.json" in report and "notes.txt" in report
    assert f"not read: {folder / 'export.json'}" in capsys.readouterr().err


def test_a_file_named_as_an_input_is_read_whatever_its_name(tmp_path):
    (tmp_path / "export.json").write_bytes(jsonl(RECORDS))
    code, stats, _ = run_local(tmp_path, tmp_path / "export.json")
    assert code == 0 and stats["total"]["clean"] == 4 and stats["not_read"] == {}
    assert (tmp_path / "out" / "clean" / "export.jsonl").read_bytes() == jsonl(RECORDS)


def test_two_files_whose_clean_copies_would_share_a_name_are_refused(tmp_path):
    (tmp_path / "a.json").write_bytes(jsonl(RECORDS))
    (tmp_path / "a.jsonl").write_bytes(jsonl(RECORDS))
    with pytest.raises(ValueError, match="would both be written to clean/a.jsonl"):
        inputs([tmp_path / "a.json", tmp_path / "a.jsonl"])


def test_outputs_of_an_earlier_run_inside_the_folder_are_not_reported_as_skipped(tmp_path):
    (tmp_path / "in.jsonl").write_bytes(jsonl(RECORDS))
    found = inputs([tmp_path], tmp_path / "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.md").write_text("earlier")
    assert inputs([tmp_path], tmp_path / "out") == found and found.skipped == {}


# 5. a bad tokenizer.json


@pytest.mark.parametrize("content, named", [
    (b"not json {", "tokenizer.json:1:1: not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"[1, 2]", "the top level is a JSON list, not an object with 'added_tokens'"),
    (b'{"added_tokens": {"a": 1}}', "'added_tokens' is a JSON object, not a list of tokens"),
    (b'{"added_tokens": ["<s>"]}', r"added_tokens\[0\] is a JSON string, not an object"),
    (b'{"added_tokens": [{"content": 5, "special": true}]}', r"added_tokens\[0\]: 'content' is a JSON number, not a string"),
    (b'{"added_tokens": [{"content": "<s>", "special": "yes"}]}', r"'special' is a JSON string, not true or false"),
])
def test_a_bad_tokenizer_json_is_a_clear_error_naming_the_file(tmp_path, capsys, content, named):
    (tmp_path / "tokenizer.json").write_bytes(content)
    with pytest.raises(TokenizerError, match=named):
        special_tokens(tmp_path)
    (tmp_path / "in.jsonl").write_bytes(jsonl(RECORDS))
    assert main([str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out"), "--quiet", "--tokenizer", str(tmp_path)]) == 2  # was: a traceback
    err = capsys.readouterr().err
    assert str(tmp_path / "tokenizer.json") in err and "Traceback" not in err


def test_the_tokenizer_file_itself_may_be_given_and_a_missing_one_is_named(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"content": "<|end|>", "special": True},
                                                                          {"content": "word", "special": False}]}))
    assert special_tokens(tmp_path / "tokenizer.json") == special_tokens(tmp_path) == ["<|end|>"]
    (tmp_path / "model").mkdir()
    with pytest.raises(FileNotFoundError, match="no tokenizer.json in"):
        special_tokens(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="no such tokenizer file or model folder"):
        special_tokens(tmp_path / "nope")


def test_an_earlier_runs_clean_files_in_out_are_replaced_not_left_beside_this_runs(tmp_path, capsys):
    from sanitiser.local import main

    (tmp_path / "a.jsonl").write_text('{"input": "mail john@example.com", "output": "ok"}\n')
    assert main([str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "out"), "--quiet", "--no-pii"]) == 0
    (tmp_path / "b.jsonl").write_text('{"input": "hello", "output": "ok"}\n')
    assert main([str(tmp_path / "b.jsonl"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "clean").iterdir()) == ["b.jsonl"]  # a.jsonl's unscrubbed copy is gone
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "clean").mkdir()
    (tmp_path / "foreign" / "clean" / "mine.txt").write_text("not the sanitiser's")
    assert main([str(tmp_path / "b.jsonl"), "--out", str(tmp_path / "foreign"), "--quiet"]) == 2
    assert "did not write" in capsys.readouterr().err and (tmp_path / "foreign" / "clean" / "mine.txt").exists()


@pytest.mark.parametrize("names", [("foo.JSONL", "foo.jsonl/a.jsonl"), ("a" * 251 + ".txt",)])
def test_clean_names_the_file_system_refuses_are_an_error_before_anything_is_written(tmp_path, capsys, names):
    from sanitiser.local import main

    folder = tmp_path / "in"
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text('{"input": "hello", "output": "ok"}\n')
    argv = [str(folder)] if len(names) > 1 else [str(folder / names[0])]
    assert main([*argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "rename" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
