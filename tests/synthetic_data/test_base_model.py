"""The shipped base model (examples/base-model): its files are the ones its provenance.json
hashed, made by the settings ``make base-model`` uses, shaped as those settings say, long
enough for the evaluation's context, ending its answers, and above chance where it says so.
No training here: the weights are checked, not remade."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
from openforge_training.evaluate import BenchmarkArguments

from synthetic_data.base_model import PROVENANCE, SHIPPED, BaseSettings, check
from synthetic_data.curriculum import build_experiment_data

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / SHIPPED


@pytest.fixture(scope="module")
def provenance() -> dict:
    return json.loads((FOLDER / PROVENANCE).read_text())


def test_the_shipped_files_are_the_ones_the_provenance_hashed():
    assert check(FOLDER) == []


def test_a_changed_missing_or_extra_file_is_named(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(FOLDER, folder)
    (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text() + " ")
    (folder / "generation_config.json").unlink()
    (folder / "notes.txt").write_text("x")
    (folder / "extra").mkdir()
    (folder / "extra" / "model.safetensors").write_bytes(b"x")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": config["num_hidden_layers"] + 1}))
    problems = "\n".join(check(folder))
    for expected in ("tokenizer.json differs", "generation_config.json is missing", "notes.txt is not in", "config.json differs",
                     "num_hidden_layers is", "extra is not a file"):
        assert expected in problems


def test_the_weights_come_from_the_settings_make_base_model_uses(provenance):
    assert provenance["settings"] == asdict(BaseSettings())
    assert (FOLDER / "model.safetensors").stat().st_size < 10_000_000


def test_the_context_holds_the_evaluations_longest_sequence():
    config = json.loads((FOLDER / "config.json").read_text())
    assert config["max_position_embeddings"] >= BenchmarkArguments.max_length


def test_the_model_ends_its_answer_with_its_eos_token():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(FOLDER), AutoModelForCausalLM.from_pretrained(FOLDER).eval()
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    prompt = build_experiment_data(seed=0, scale=0.05).ifeval_items()[0]["prompt"]
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**ids, max_new_tokens=128, do_sample=False)[0, ids["input_ids"].shape[1]:]
    assert tokenizer.eos_token_id in output.tolist()


def test_the_recorded_scores_are_above_chance(provenance):
    scores = provenance["evaluation"]["scores"]
    assert scores["ifeval"]["score"] > 0.5 and scores["ifeval"]["count"] == 84
    assert scores["mmlu_0shot"]["count"] == 300
    assert max(scores["mmlu_0shot"]["details"]["per_subject"].values()) >= 0.4
