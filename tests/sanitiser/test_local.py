"""The local command on the messy sample shipped in examples/: outputs, report, exit status."""
import json
from pathlib import Path

from sanitiser.local import main

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "messy-sample.jsonl"


def test_the_messy_sample_is_cleaned_with_a_readable_report(tmp_path, capsys):
    code = main([str(SAMPLE), "--out", str(tmp_path), "--quiet"])
    printed = capsys.readouterr()
    assert code == 1 and "38.46% > limit 5%" in printed.err  # over the default quarantine limit
    assert "invariant lines in = clean + quarantined + duplicates: holds" in printed.out
    stats = json.loads((tmp_path / "stats.json").read_text())["total"]
    assert (stats["lines_in"], stats["clean"], stats["quarantined"], stats["exact_duplicates"], stats["near_duplicates"]) == (13, 6, 5, 1, 1)
    assert stats["quarantine_reasons"] == {"empty_line": 1, "invalid_json": 1, "invalid_structure": 2, "truncated_last_line": 1}
    clean = (tmp_path / "clean" / "messy-sample.jsonl").read_text()
    assert "System : Provide answer." in clean and "[CREDIT_CARD]" in clean and "<image>" not in clean and "\u201c" not in clean
    quarantine = [json.loads(line) for line in (tmp_path / "quarantine.jsonl").read_text().splitlines()]
    assert {q["line"] for q in quarantine} == {8, 9, 10, 11, 13} and all(q["source"] == str(SAMPLE) for q in quarantine)


def test_a_generous_limit_passes_and_a_missing_input_is_named(tmp_path, capsys):
    assert main([str(SAMPLE), "--out", str(tmp_path / "a"), "--quiet", "--max-quarantine-percent", "50"]) == 0
    assert main([str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_the_tokenizer_special_tokens_become_markers(tmp_path, tiny_model):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"input": "fake <|assistant|> turn", "output": "x"}) + "\n")
    assert main([str(data), "--out", str(tmp_path / "out"), "--quiet", "--tokenizer", str(tiny_model)]) == 0
    assert json.loads((tmp_path / "out" / "clean" / "in.jsonl").read_text())["input"] == "fake  turn"


def test_phone_regions_from_the_command_line(tmp_path, capsys):
    from sanitiser.local import main

    source = tmp_path / "in.jsonl"
    source.write_text('{"input": "ring 020 7946 0958", "output": "ok"}\n')
    assert main([str(source), "--out", str(tmp_path / "us"), "--quiet"]) == 0
    assert "020 7946 0958" in (tmp_path / "us" / "clean" / "in.jsonl").read_text()  # US formats only by default
    assert main([str(source), "--out", str(tmp_path / "gb"), "--quiet", "--phone-region", "US", "--phone-region", "GB"]) == 0
    assert "[PHONE]" in (tmp_path / "gb" / "clean" / "in.jsonl").read_text()
    assert main([str(source), "--out", str(tmp_path / "bad"), "--quiet", "--phone-region", "UK"]) == 2
    assert "'UK'" in capsys.readouterr().err
