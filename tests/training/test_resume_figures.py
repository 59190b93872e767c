"""After a resume the run record reports the whole run (realised mix, records, tokens,
truncation), as the uninterrupted run does: the checkpoint carries the measured totals."""
import json

import pytest
from transformers import TrainerCallback

from openforge_training import train
from openforge_training.config import load
from openforge_training.trainer import read_mixing_state

FLAGS = {"max_steps": 4, "global_batch_size": 8, "per_device_batch_size": 4, "max_length": 40, "logging_steps": 1, "save_steps": 2,
         "customer_data_percent": 60, "lora_dropout": 0}
WHOLE_RUN = ("records_trained", "tokens_trained", "truncated_records", "skipped_records", "padding_fraction")


class CrashAt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise RuntimeError("simulated spot interruption")


def test_a_resumed_run_reports_whole_run_figures(job, tmp_path, tiny_model):
    from tests.training.conftest import Job

    job.write_data(customer=32, per_category=16)
    uninterrupted = train.run(train.prepare(load(job.argv(**FLAGS))))
    assert uninterrupted["truncated_records"] > 0  # max_length 40 cuts a record, so truncation is carried too

    other = Job(tmp_path / "killed", tiny_model).write_data(customer=32, per_category=16)
    with pytest.raises(RuntimeError, match="simulated"):
        train.run(train.prepare(load(other.argv(**FLAGS))), extra_callbacks=(CrashAt(),))
    saved = read_mixing_state(other.checkpoints / "checkpoint-2")["measured"]
    assert sum(saved["records"].values()) + saved["skipped"] == 2 * 8
    resumed = train.run(train.prepare(load(other.argv(**FLAGS))))

    # 4 batches of 8 at 60 %: 4+5+5+5 customer records (59.4 %); the resumed half alone held 5+5 (62.5 %)
    assert resumed["mix"]["realised"] == pytest.approx(uninterrupted["mix"]["realised"])
    for key in WHOLE_RUN:
        assert resumed[key] == pytest.approx(uninterrupted[key]), key
    assert resumed["warnings"] == []
    assert json.loads((other.output / "openforge-run.json").read_text())["tokens_trained"] == uninterrupted["tokens_trained"]
