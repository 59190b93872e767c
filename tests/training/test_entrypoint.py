"""The entrypoint end to end on a tiny model: trains (LoRA and full), logs to a real
MLflow server, exports weights that plain transformers loads, resumes exactly."""
import json

import mlflow
import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from openforge_training import train
from openforge_training.config import load
from openforge_training.errors import InputError

FAST = {"max_steps": 12, "global_batch_size": 8, "per_device_batch_size": 4, "max_length": 128, "logging_steps": 1, "save_steps": 6}


def losses(record_dir):
    history = json.loads((record_dir / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def test_lora_run_learns_logs_to_mlflow_and_exports_portable_weights(job, mlflow_server):
    job.write_data(customer=64, per_category=32)
    argv = job.argv(**FAST, learning_rate=5e-3, customer_data_percent=75, curated_weights='{"reasoning": 50, "instruction_following": 25, "factuality": 25}',
                    mlflow_tracking_uri=mlflow_server, experiment="entrypoint-test", dataset_version="v-test", commit_hash="abc123")
    record = train.run(train.prepare(load(argv)))

    history = losses(job.checkpoints / "checkpoint-12")
    assert len(history) == 12 and sum(list(history.values())[-3:]) < sum(list(history.values())[:3])
    assert record["mix"]["realised"] == pytest.approx(record["mix"]["target"])  # 12 batches of 8: 6 customer, 1/0.5/0.5 curated

    model = AutoModelForCausalLM.from_pretrained(job.output)  # plain transformers, no peft
    tokenizer = AutoTokenizer.from_pretrained(job.output)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Classify this support ticket."}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]

    base = AutoModelForCausalLM.from_pretrained(job.data / "model")
    adapted = PeftModel.from_pretrained(base, job.output / "adapter").merge_and_unload()
    merged = load_file(job.output / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    torch.testing.assert_close(adapted.state_dict()[name], merged[name])
    assert not torch.equal(merged[name], load_file(job.data / "model" / "model.safetensors")[name])
    card = (job.output / "README.md").read_text()
    assert "LoRA" in card and "curated/reasoning" in card and "v-test" in card

    mlflow.set_tracking_uri(mlflow_server)
    run = mlflow.get_run(record["mlflow_run_id"])
    for tag in ("project", "experiment", "mix_ratio", "lora_rank", "lr", "seed", "compute", "dataset_version", "commit_hash"):
        assert tag in run.data.tags, tag
    assert run.data.tags["mix_ratio"] == "0.75" and run.data.tags["lora_rank"] == "16" and run.data.tags["commit_hash"] == "abc123"
    assert run.data.tags["dataset_version"] == "v-test" and run.data.tags["compute"] == "local-cpu"
    for metric in ("loss", "learning_rate", "tokens_per_second", "mix/customer_data_percent", "mix/curated/reasoning_percent"):
        assert metric in run.data.metrics, metric
    assert run.data.metrics["mix/customer_data_percent"] == pytest.approx(75.0)
    assert len(mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "loss")) == 12


def test_full_sft_through_sagemaker_hyperparameters_of_strings(job):
    job.write_data(customer=48, per_category=16)
    (job.input / "config").mkdir()
    hyperparameters = {"method": "full", "max_steps": "6", "learning_rate": "0.001", "global_batch_size": "8", "per_device_batch_size": "8",
                       "max_length": "128", "customer_data_percent": "50", "curated_weights": '{"reasoning": 100}', "logging_steps": "1"}
    (job.input / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    record = train.run(train.prepare(load(job.argv())))
    assert record["hyperparameters"]["method"] == "full" and record["steps"] == 6
    assert not (job.output / "adapter").exists()
    tuned, base = load_file(job.output / "model.safetensors"), load_file(job.data / "model" / "model.safetensors")
    changed = [name for name in base if not torch.equal(base[name], tuned[name])]
    assert "model.layers.1.mlp.down_proj.weight" in changed and "model.embed_tokens.weight" in changed
    assert AutoModelForCausalLM.from_pretrained(job.output).config.num_hidden_layers == 2


class CrashAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated spot interruption")


def test_a_killed_run_resumes_with_exactly_the_uninterrupted_steps(job, tmp_path, tiny_model):
    from tests.training.conftest import Job

    job.write_data(customer=64, per_category=24)
    flags = dict(FAST, learning_rate=5e-3, customer_data_percent=60, save_steps=4)
    uninterrupted = train.run(train.prepare(load(job.argv(**flags))))

    other = Job(tmp_path / "killed", tiny_model).write_data(customer=64, per_category=24)
    with pytest.raises(RuntimeError, match="simulated"):
        train.run(train.prepare(load(other.argv(**flags))), extra_callbacks=(CrashAt(6),))
    prepared = train.prepare(load(other.argv(**flags)))
    assert prepared.start_batch == 4 and prepared.resume_from.name == "checkpoint-4"
    resumed = train.run(prepared)

    expected, got = losses(job.checkpoints / "checkpoint-12"), losses(other.checkpoints / "checkpoint-12")
    assert got == pytest.approx(expected, rel=1e-5)
    assert resumed["steps"] == uninterrupted["steps"] == 12
    torch.testing.assert_close(load_file(other.output / "model.safetensors"), load_file(job.output / "model.safetensors"))


def test_resuming_on_different_data_is_refused(job):
    job.write_data(customer=32, per_category=16)
    train.run(train.prepare(load(job.argv(**dict(FAST, max_steps=4, save_steps=2)))))
    with open(job.data / "customer" / "tickets-000.jsonl", "a") as f:
        f.write('{"input": "new ticket", "output": "billing"}\n')
    with pytest.raises(InputError, match="written for different data"):
        train.prepare(load(job.argv(**dict(FAST, max_steps=8))))
