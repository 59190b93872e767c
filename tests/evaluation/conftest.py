"""A tuned model trained here from the tiny base (a LoRA run on the sandbox's support
tickets), and small benchmark files written in the real layouts (synthetic_data.files)."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from openforge_training import train
from openforge_training.config import load
from synthetic_data import sandbox
from synthetic_data.files import write_byod, write_ifeval, write_mmlu
from synthetic_data.tickets import random_ticket

# Facts the tiny model cannot know: scored near chance by base and tuned alike.
MMLU_ROWS = {
    "geography": [["Capital of Zorland?", "Vex", "Mol", "Tarn", "Quil", "A"], ["Largest river of Pell?", "Ost", "Yar", "Bim", "Cas", "C"],
                  ["Highest peak of Dun?", "Rho", "Kel", "Fen", "Gar", "D"], ["Sea west of Ull?", "Nim", "Par", "Ves", "Hol", "B"]],
    "arithmetic": [["What is 2 + 3?", "4", "5", "6", "7", "B"], ["What is 9 - 4?", "5", "3", "6", "2", "A"],
                   ["What is 3 x 3?", "6", "12", "9", "8", "C"], ["What is 8 / 2?", "2", "3", "6", "4", "D"]],
}
IFEVAL_ITEMS = [
    {"key": 1, "prompt": "Name two colours. Do not use any commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 2, "prompt": "Greet me and finish with the exact phrase 'Any other questions?'", "instruction_id_list": ["startend:end_checker"],
     "kwargs": [{"end_phrase": "Any other questions?"}]},
    {"key": 3, "prompt": "Wrap your whole answer in double quotes.", "instruction_id_list": ["startend:quotation"], "kwargs": [{}]},
]


def write_eval_files(eval_dir: Path, *, held_out: int = 24, seed: int = 99) -> Path:
    write_mmlu(eval_dir, {subject: (rows[:2], rows) for subject, rows in MMLU_ROWS.items()})
    write_ifeval(eval_dir, IFEVAL_ITEMS)
    rng = random.Random(seed)  # the sandbox's ticket task, drawn apart from the training data
    write_byod(eval_dir, (random_ticket(rng) for _ in range(held_out)))
    return eval_dir


@pytest.fixture(scope="session")
def tuned_model(tmp_path_factory, tiny_model) -> Path:
    """The tiny base after a short, customer-only LoRA run on the ticket task: it learns
    the labels (the base cannot), which is what the held-out score must show."""
    root = tmp_path_factory.mktemp("tuned")
    data = root / "input" / "data"
    shutil.copytree(tiny_model, data / "model")
    sandbox.write_data(data, customer=256, per_category=32)
    argv = ["--input_dir", str(root / "input"), "--output_dir", str(root / "model"), "--checkpoint_dir", str(root / "checkpoints"),
            "--customer_data_percent", "100", "--max_steps", "100", "--global_batch_size", "16", "--per_device_batch_size", "16",
            "--max_length", "128", "--learning_rate", "5e-3", "--warmup_ratio", "0", "--save_steps", "1000", "--logging_steps", "50"]
    train.run(train.prepare(load(argv)))
    return root / "model"


@pytest.fixture
def eval_job(tmp_path, tiny_model, tuned_model):
    """input/data/{model, tuned, eval} as a SageMaker evaluation job sees them."""
    data = tmp_path / "input" / "data"
    shutil.copytree(tiny_model, data / "model")
    write_eval_files(data / "eval")
    return tmp_path
