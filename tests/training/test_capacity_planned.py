"""The container plans its own run: it counts the tokens every record trains, plans the run
on the instance type it runs on, resolves sharding=auto from that plan, refuses a plan with
problems before a model loads, and records planned against actual."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from openforge_training import train
from openforge_training.config import load
from openforge_training.errors import InputError
from openforge_training.planning import HOST_RSS

from openforge_contract import capacity_plan
from openforge_contract.capacity_plan import plan_training
from openforge_contract.environment_variables import TRAINING_INSTANCE_TYPE_VARIABLE

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon"]


def word_model(folder: Path) -> Path:
    """A model folder whose tokenizer makes one token of every word and special token, so a
    record's tokens can be counted by hand: <|begin|>, then per message its role token, its
    words and <|end|> (whitespace and newlines make no token). config.json only: prepare()
    loads no weights."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    from synthetic_data.tiny_model import CHAT_TEMPLATE, SPECIAL_TOKENS

    vocabulary = {token: index for index, token in enumerate([*SPECIAL_TOKENS, "<unk>", *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|begin|>", eos_token="<|end|>", pad_token="<|pad|>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    LlamaConfig(vocab_size=len(vocabulary), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4).save_pretrained(folder)
    return folder


def conversation(user: int, assistant: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": " ".join(WORDS[:user])}, {"role": "assistant", "content": " ".join(WORDS[:assistant])}]})


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def resource_config(input_dir: Path, instance_type: str, hosts: int = 1) -> None:
    """SageMaker's resourceconfig.json for a job on ``hosts`` x ``instance_type``."""
    write(input_dir / "config" / "resourceconfig.json",
          [json.dumps({"current_host": "algo-1", "hosts": [f"algo-{n + 1}" for n in range(hosts)], "current_instance_type": instance_type})])


@pytest.fixture
def words_job(tmp_path):
    """Channels around the word-level model: 4 customer records, 2 curated ones."""
    data = tmp_path / "input" / "data"
    word_model(data / "model")
    # By hand, at max_length 16: 1 + (1 + 3 + 1) + (1 + 2 + 1) = 10 tokens; 1 + 5 + (1 + 15 + 1) = 23, cut to 16;
    # 1 + (1 + 20 + 1) + 4 = 27, cut to 16 inside the prompt: no trained token, skipped (0); 1 + 6 + 5 = 12.
    write(data / "customer" / "tickets.jsonl", [conversation(3, 2), conversation(3, 15), conversation(20, 2), conversation(4, 3)])
    # 1 + 3 + 4 = 8; 1 + 4 + 3 = 8 + 0; by hand: 8 and 8.
    write(data / "curated" / "skills" / "part-000.jsonl", [conversation(1, 2), conversation(2, 1)])
    return tmp_path


def words_argv(root: Path, **flags) -> list[str]:
    argv = ["--input_dir", str(root / "input"), "--output_dir", str(root / "model"), "--checkpoint_dir", str(root / "checkpoints"), "--max_length", "16"]
    return argv + [item for key, value in flags.items() for item in (f"--{key}", str(value))]


def test_the_planned_tokens_are_the_hand_counted_tokens_of_what_the_mix_draws(words_job, monkeypatch):
    monkeypatch.setenv(TRAINING_INSTANCE_TYPE_VARIABLE, "ml.p5.48xlarge")  # as HyperPod's batch script exports it
    customer_only = train.prepare(load(words_argv(words_job, customer_data_percent=100, max_steps=1, global_batch_size=8, per_device_batch_size=1)))
    assert customer_only.capacity.tokens == 8 * (10 + 16 + 0 + 12) / 4  # one batch of 8 records at the pool's mean
    mixed = train.prepare(load(words_argv(words_job, customer_data_percent=25, max_steps=3, global_batch_size=8, per_device_batch_size=1)))
    assert mixed.capacity.tokens == 3 * 8 * (0.25 * 38 / 4 + 0.75 * 16 / 2)  # 57 + 144


def test_without_an_instance_type_there_is_no_plan_and_the_log_says_why(words_job, monkeypatch, caplog):
    monkeypatch.delenv(TRAINING_INSTANCE_TYPE_VARIABLE, raising=False)
    with caplog.at_level("INFO", logger="openforge.train"):
        prepared = train.prepare(load(words_argv(words_job, customer_data_percent=100, max_steps=1, global_batch_size=4, per_device_batch_size=4)))
    assert prepared.capacity is None and "instance type is not known" in prepared.not_planned
    assert f"no capacity plan: {prepared.not_planned}" in caplog.text


def test_a_model_the_plan_cannot_size_trains_without_a_plan(words_job, monkeypatch):
    config = words_job / "input" / "data" / "model" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "gpt_neox"}))
    monkeypatch.setenv(TRAINING_INSTANCE_TYPE_VARIABLE, "ml.p5.48xlarge")
    prepared = train.prepare(load(words_argv(words_job, customer_data_percent=100, max_steps=1, global_batch_size=8, per_device_batch_size=1)))
    assert prepared.capacity is None and "gpt_neox" in prepared.not_planned


def test_a_plan_with_problems_fails_in_prepare_naming_them_before_any_record_is_read(words_job):
    resource_config(words_job / "input", "ml.p5.48xlarge")  # 8 GPUs: 4 records per device do not divide a batch of 8
    with open(words_job / "input" / "data" / "customer" / "tickets.jsonl", "a") as handle:
        handle.write("not a record\n")  # would fail the check pass, which the plan comes before
    flags = {"customer_data_percent": 100, "max_steps": 1, "global_batch_size": 8, "per_device_batch_size": 4}
    config = load(words_argv(words_job, **flags))
    expected = plan_training(json.loads((words_job / "input" / "data" / "model" / "config.json").read_text()), global_batch_size=8,
                             per_device_batch_size=4, max_length=16, instance_type="ml.p5.48xlarge").problems
    assert expected and "global_batch_size 8 is not a multiple" in expected[0]
    with pytest.raises(InputError) as refused:
        train.prepare(config)
    assert "1 x ml.p5.48xlarge" in str(refused.value) and all(problem in str(refused.value) for problem in expected)


def test_lora_targets_or_a_config_the_plan_refuses_stop_prepare_naming_them(words_job, monkeypatch):
    """Without ValidateInput (a direct start) the container refuses them itself, rather than
    training unplanned: auto would otherwise take a whole replica per device."""
    monkeypatch.setenv(TRAINING_INSTANCE_TYPE_VARIABLE, "ml.p5.48xlarge")
    flags = {"customer_data_percent": 100, "max_steps": 1, "global_batch_size": 8, "per_device_batch_size": 1}
    with pytest.raises(InputError, match=r"^lora_target_modules: .*q_proj"):
        train.prepare(load(words_argv(words_job, **flags, lora_target_modules="self_attention.query")))
    config = words_job / "input" / "data" / "model" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_key_value_heads": 3}))  # 4 heads: not divisible
    with pytest.raises(InputError, match=r"^channel .model.: config.json: .*num_key_value_heads"):
        train.prepare(load(words_argv(words_job, **flags)))


def test_auto_sharding_follows_the_plan(words_job, monkeypatch):
    """2 hosts of one GPU each, 2 processes, full-rank SFT: with a device too small for a
    replica but large enough for a half-sharded one, auto shards; with the real one, it does not."""
    resource_config(words_job / "input", "ml.g5.2xlarge", hosts=2)
    monkeypatch.setenv("WORLD_SIZE", "2")
    flags = {"customer_data_percent": 100, "max_steps": 1, "global_batch_size": 8, "per_device_batch_size": 4, "method": "full", "sharding": "auto"}
    assert train.prepare(load(words_argv(words_job, **flags))).sharding == "none"

    model_config = json.loads((words_job / "input" / "data" / "model" / "config.json").read_text())
    need = {sharding: plan_training(model_config, method="full", max_length=16, per_device_batch_size=4, global_batch_size=8, sharding=sharding,
                                    instance_type="ml.g5.2xlarge", instance_count=2).memory["total"] for sharding in ("none", "full")}
    assert need["full"] < need["none"]
    between = (need["full"] + need["none"]) // 2
    monkeypatch.setattr(capacity_plan, "_device_memory", lambda instance_type: int(between / (1 - capacity_plan.MEMORY_HEADROOM)))
    prepared = train.prepare(load(words_argv(words_job, **flags)))
    assert prepared.sharding == "full" and prepared.capacity.settings["sharding"] == "full" and prepared.capacity.fits


def current_rss_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the resident memory from Linux's /proc")
def test_the_run_record_holds_the_plan_and_the_actual_figures(job, monkeypatch):
    """Every customer record trained exactly once (4 steps x 8 = 32 records): the tokens the plan
    counted in prepare are the tokens the trainer measured while packing."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    job.write_data(customer=32, per_category=8)
    resource_config(job.input, "ml.g6e.12xlarge")  # 4 GPUs: 2 records per device x 4 = a batch of 8
    flags = {"max_steps": 4, "global_batch_size": 8, "per_device_batch_size": 2, "max_length": 64, "customer_data_percent": 100, "save_steps": 4}
    config = load(job.argv(**flags))
    before = current_rss_bytes()
    record = train.run(train.prepare(config))

    planned, actual = record["capacity"]["planned"], record["capacity"]["actual"]
    assert actual["tokens"] == record["tokens_trained"] > 0 and planned["tokens"] == record["tokens_trained"]
    t = config.tuning
    again = plan_training(json.loads((job.data / "model" / "config.json").read_text()), method=t.method, lora_rank=t.lora_rank,
                          lora_target_modules=t.lora_target_modules, lora_dropout=t.lora_dropout, max_length=64, per_device_batch_size=2,
                          global_batch_size=8, gradient_checkpointing=t.gradient_checkpointing, sharding=t.sharding, precision=t.precision,
                          instance_type="ml.g6e.12xlarge", instance_count=1, tokens=record["tokens_trained"])
    assert planned == again.to_dict() and planned["hours"] > 0

    assert actual["memory"] == HOST_RSS  # on CPU: the process's peak resident memory, not a device's
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert before <= actual["peak_memory_bytes"] <= physical, "in bytes: at least what the process held before training"
    assert actual["hours"] == pytest.approx(record["metrics"]["train_runtime"] / 3600) and actual["hours"] > 0

    card = (job.output / "README.md").read_text()
    assert "## Capacity (planned against actual)" in card and f"({HOST_RSS})" in card
    assert f"| tokens trained | {record['tokens_trained']:,} | {record['tokens_trained']:,} |" in card
