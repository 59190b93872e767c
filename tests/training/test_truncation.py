"""Records cut at max_length are counted, and one the cut leaves with no trained token
is skipped (it would train on nothing); both reach the log, MLflow and the run record."""
import json

from openforge_training import train
from openforge_training.chat import IGNORE_INDEX, Tokenised
from openforge_training.config import load
from openforge_training.packing import PackStats, collate


def record(prompt: int, answer: int) -> Tokenised:
    ids = list(range(1, prompt + answer + 1))
    return Tokenised(ids, [IGNORE_INDEX] * prompt + ids[prompt:])


def test_a_record_cut_before_its_answer_is_skipped_and_counted():
    stats = PackStats()
    batch = collate([record(4, 4), record(20, 4), record(12, 8)], max_length=16, pad_token_id=0, stats=stats)
    assert (stats.truncated, stats.skipped, stats.records) == (2, 1, 2)
    assert batch["input_ids"].shape == (2, 16)  # the 12+8 record cut to 16 | the 8 one
    assert (batch["labels"] != IGNORE_INDEX).sum() == 4 + 4


def test_a_micro_batch_of_skipped_records_is_one_row_of_padding():
    stats = PackStats()
    batch = collate([record(20, 4)], max_length=16, pad_token_id=0, stats=stats)
    assert stats.skipped == 1 and batch["input_ids"].shape == (1, 8)
    assert (batch["labels"] == IGNORE_INDEX).all()


def test_truncation_is_logged_and_recorded(job):
    job.write_data(customer=24, per_category=8)
    with open(job.data / "customer" / "tickets-000.jsonl", "a") as f:
        for i in range(8):  # the prompt alone is longer than max_length: the answer is cut off
            f.write(json.dumps({"input": f"ticket {i}: " + "the printer will not print again " * 20, "output": "hardware"}) + "\n")
    flags = {"max_steps": 4, "global_batch_size": 8, "per_device_batch_size": 4, "max_length": 64, "logging_steps": 1, "save_steps": 4, "customer_data_percent": 100}
    record = train.run(train.prepare(load(job.argv(**flags))))  # 4 x 8 = one pass over the 32 customer records
    assert record["skipped_records"] == 8 and record["truncated_records"] >= 8
    assert record["records_trained"] == {"customer": 24}
    history = json.loads((job.checkpoints / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    assert [entry["data/skipped_records"] for entry in history if "loss" in entry][-1] == 8
    assert "skipped (no trained token left): 8" in (job.output / "README.md").read_text()
