"""Two processes under torchrun (CPU, gloo) train on exactly the global batches one process
does with gradient accumulation: the same mix, the same losses, step by step."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONTAINER = Path(__file__).resolve().parents[2] / "training_container"


def torchrun(job, processes: int, name: str) -> dict:
    output, checkpoints = job.root / f"model-{name}", job.root / f"checkpoints-{name}"
    flags = {"max_steps": 4, "global_batch_size": 16, "per_device_batch_size": 4, "max_length": 128, "logging_steps": 1,
             "customer_data_percent": 62.5, "lora_dropout": 0, "learning_rate": 1e-3, "save_steps": 4}
    argv = ["--input_dir", str(job.input), "--output_dir", str(output), "--checkpoint_dir", str(checkpoints)]
    argv += [item for key, value in flags.items() for item in (f"--{key}", str(value))]
    command = [str(Path(sys.executable).with_name("torchrun")), "--standalone", f"--nproc_per_node={processes}", "-m", "openforge_training.train", *argv]
    result = subprocess.run(command, cwd=CONTAINER, capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    history = json.loads((checkpoints / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    return {
        "record": json.loads((output / "openforge-run.json").read_text()),
        "losses": [entry["loss"] for entry in history if "loss" in entry],
        "customer_data_percent": [entry["mix/customer_data_percent"] for entry in history if "loss" in entry],
    }


def test_two_processes_equal_one_with_accumulation(job):
    job.write_data(customer=64, per_category=24)
    single, parallel = torchrun(job, 1, "single"), torchrun(job, 2, "parallel")
    assert parallel["record"]["hyperparameters"]["gradient_accumulation"] == 2
    assert single["record"]["hyperparameters"]["gradient_accumulation"] == 4
    assert parallel["customer_data_percent"] == [62.5] * 4  # summed over both processes, every step
    assert parallel["record"]["mix"]["realised"] == pytest.approx(parallel["record"]["mix"]["target"])
    assert parallel["losses"] == pytest.approx(single["losses"], rel=1e-4)
