"""sharding=full (FSDP2 through the Trainer, CPU and gloo here) trains on exactly the global
batches of one process with accumulation, resumes from its sharded checkpoints (on the same
or another number of processes) with the batches and losses of an uninterrupted run, and
exports the same portable model."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from openforge_training import train
from openforge_training.config import load
from openforge_training.errors import InputError
from openforge_training.sharding import SHARDED_STATE_DICT, effective_sharding, fsdp_arguments, resolve_sharding
from openforge_training.trainer import read_mixing_state

from tests.training.conftest import Job

CONTAINER = Path(__file__).resolve().parents[2] / "training_container"
INTERRUPTED = Path(__file__).with_name("interrupted_train.py")
# 12 records a step: 6 micro-batches of 2 on one process, 3 on each of 2, 2 on each of 3.
FLAGS = {"max_steps": 4, "save_steps": 2, "global_batch_size": 12, "per_device_batch_size": 2, "max_length": 96, "logging_steps": 1,
         "customer_data_percent": 60, "lora_dropout": 0, "learning_rate": 1e-3, "sharding": "full", "gradient_checkpointing": "true"}
PER_STEP = ("loss", "mix/customer_data_percent", "data/tokens_trained")


def torchrun(job: Job, processes: int, name: str, *, method: str = "lora", interrupt_at: int | None = None, checkpoints: str | None = None,
             **flags) -> dict:
    output, checkpoint_dir = job.root / f"model-{name}", job.root / f"checkpoints-{checkpoints or name}"
    argv = ["--input_dir", str(job.input), "--output_dir", str(output), "--checkpoint_dir", str(checkpoint_dir)]
    argv += [item for key, value in {**FLAGS, "method": method, **flags}.items() for item in (f"--{key}", str(value))]
    program = [str(INTERRUPTED), str(interrupt_at)] if interrupt_at else ["-m", "openforge_training.train"]
    command = [str(Path(sys.executable).with_name("torchrun")), "--standalone", f"--nproc_per_node={processes}", *program, *argv]
    result = subprocess.run(command, check=False, cwd=CONTAINER, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if interrupt_at:
        assert result.returncode != 0 and "simulated interruption" in result.stderr, result.stderr[-3000:]
        return {"checkpoints": checkpoint_dir}
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    history = json.loads((checkpoint_dir / f"checkpoint-{FLAGS['max_steps']}" / "trainer_state.json").read_text())["log_history"]
    return {
        "output": output,
        "checkpoints": checkpoint_dir,
        "log": result.stdout + result.stderr,
        "record": json.loads((output / "openforge-run.json").read_text()),
        "steps": {entry["step"]: {key: entry[key] for key in PER_STEP} for entry in history if "loss" in entry},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    job = Job(tmp_path_factory.mktemp("sharded"), tiny_model).write_data(customer=64, per_category=24)
    runs = {
        "lora-1": torchrun(job, 1, "lora-1"),
        "lora-2": torchrun(job, 2, "lora-2"),
        "full-1": torchrun(job, 1, "full-1", method="full"),
        "full-2": torchrun(job, 2, "full-2", method="full"),
        "full-2-stored": torchrun(job, 2, "full-2-stored", method="full", gradient_checkpointing="false"),
    }
    interrupted = torchrun(job, 2, "interrupted", interrupt_at=3)["checkpoints"]
    assert sorted(p.name for p in interrupted.glob("checkpoint-*")) == ["checkpoint-2"]
    for copy in ("resumed-3", "refused"):
        shutil.copytree(interrupted, job.root / f"checkpoints-{copy}")
    runs["resumed-2"] = torchrun(job, 2, "resumed-2", checkpoints="interrupted")
    runs["resumed-3"] = torchrun(job, 3, "resumed-3")
    runs["job"] = job
    return runs


def assert_same_steps(steps: dict, expected: dict, rel: float) -> None:
    assert list(steps) == list(expected)
    for step, values in steps.items():
        assert values["mix/customer_data_percent"] == expected[step]["mix/customer_data_percent"], step
        assert values["data/tokens_trained"] == expected[step]["data/tokens_trained"], step
        assert values["loss"] == pytest.approx(expected[step]["loss"], rel=rel), step


@pytest.mark.parametrize("method", ["lora", "full"])
def test_two_sharded_processes_train_the_batches_and_losses_of_one(runs, method):
    single, sharded = runs[f"{method}-1"], runs[f"{method}-2"]
    assert "sharding=full on a single process is the same as none" in single["log"]
    state = read_mixing_state(sharded["checkpoints"] / "checkpoint-4")
    assert (state["sharding"], state["processes"]) == ("full", 2)
    assert (sharded["checkpoints"] / "checkpoint-4" / "pytorch_model_fsdp_0").is_dir()  # each process's shard, not whole weights
    assert sharded["record"]["hyperparameters"]["gradient_accumulation"] == 3
    assert single["record"]["hyperparameters"]["gradient_accumulation"] == 6
    assert sharded["record"]["records_trained"] == single["record"]["records_trained"]
    assert sharded["record"]["records_trained"]["customer"] in (28, 29)  # 60 % of 4 x 12, within one record
    assert_same_steps(sharded["steps"], single["steps"], rel=1e-4)
    assert len({round(step["loss"], 6) for step in sharded["steps"].values()}) == 4  # it learnt: every step's loss differs


def test_activation_checkpointing_under_fsdp_recomputes_the_same_training(runs):
    """gradient_checkpointing (on in every other run here) recomputes exactly what storing the activations trains."""
    assert_same_steps(runs["full-2-stored"]["steps"], runs["full-2"]["steps"], rel=1e-5)


def test_a_sharded_lora_checkpoint_holds_the_adapter(runs):
    """FSDP's own activation checkpointing renamed every decoder layer, and peft's LoRA checkpoint
    came out empty: a resume then silently restarted from the base weights."""
    import torch.distributed.checkpoint as dcp

    checkpoint = runs["resumed-2"]["checkpoints"] / "checkpoint-2" / "pytorch_model_fsdp_0"
    saved = list(dcp.FileSystemReader(str(checkpoint)).read_metadata().state_dict_metadata)
    layers = json.loads((runs["job"].data / "model" / "config.json").read_text())["num_hidden_layers"]
    assert len(saved) == layers * 7 * 2 and all("lora_A" in key or "lora_B" in key for key in saved), saved[:4]


def test_a_sharded_run_resumed_on_the_same_processes_continues_as_if_never_stopped(runs):
    resumed, uninterrupted = runs["resumed-2"], runs["lora-2"]
    assert "resuming from" in resumed["log"] and "at global batch 2" in resumed["log"]
    assert_same_steps(resumed["steps"], uninterrupted["steps"], rel=1e-6)
    assert resumed["record"]["tokens_trained"] == uninterrupted["record"]["tokens_trained"]


def test_a_sharded_checkpoint_resumes_on_another_number_of_processes(runs):
    """torch.distributed.checkpoint reshards weights and optimiser states from 2 shards onto 3."""
    resumed, uninterrupted = runs["resumed-3"], runs["lora-2"]
    assert "written on 2 processes, this job has 3: FSDP reshards it on load" in resumed["log"]
    assert_same_steps(resumed["steps"], uninterrupted["steps"], rel=1e-4)
    assert read_mixing_state(resumed["checkpoints"] / "checkpoint-4")["processes"] == 3


def test_a_sharded_checkpoint_on_one_process_is_refused_naming_both_counts(runs):
    job = runs["job"]
    argv = ["--input_dir", str(job.input), "--output_dir", str(job.root / "never"), "--checkpoint_dir", str(job.root / "checkpoints-refused")]
    argv += [item for key, value in FLAGS.items() for item in (f"--{key}", str(value))]
    with pytest.raises(InputError, match=r"sharding=full on 2 processes, but this job trains with sharding=none on 1 process.*"
                                         r"resume with sharding=full on at least 2 processes, or clear checkpoint_dir"):
        train.prepare(load(argv))


@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_sharded_export_loads_with_plain_transformers_and_matches_the_unsharded_one(runs, method):
    from transformers import AutoModelForCausalLM

    sharded = AutoModelForCausalLM.from_pretrained(runs[f"{method}-2"]["output"]).state_dict()
    single = AutoModelForCausalLM.from_pretrained(runs[f"{method}-1"]["output"]).state_dict()
    base = AutoModelForCausalLM.from_pretrained(runs["job"].data / "model").state_dict()
    assert sharded.keys() == single.keys()
    for name in sharded:
        assert torch.allclose(sharded[name], single[name], atol=1e-5), name
    assert any(not torch.equal(sharded[name], base[name]) for name in sharded)  # the export holds the trained weights


def test_the_sharded_lora_export_has_an_adapter_peft_loads_onto_the_base(runs):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    output = runs["lora-2"]["output"]
    base = AutoModelForCausalLM.from_pretrained(runs["job"].data / "model")
    merged = PeftModel.from_pretrained(base, output / "adapter").merge_and_unload().state_dict()
    exported = AutoModelForCausalLM.from_pretrained(output).state_dict()
    for name in exported:
        assert torch.allclose(merged[name], exported[name], atol=1e-6), name


def test_auto_shards_only_where_a_replica_does_not_fit():
    assert resolve_sharding("auto", replica_fits=True) == "none"
    assert resolve_sharding("auto", replica_fits=False) == "full"
    assert resolve_sharding("full", replica_fits=True) == "full"
    assert resolve_sharding("none", replica_fits=False) == "none"
    assert effective_sharding("full", world_size=1) == "none"
    assert effective_sharding("full", world_size=8) == "full"


def test_fsdp_wraps_each_decoder_layer_and_checkpoints_shards(tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    arguments = fsdp_arguments(model, activation_checkpointing=True)
    config = arguments["fsdp_config"]
    assert config["transformer_layer_cls_to_wrap"] == [type(model.model.layers[0]).__name__]
    assert config["state_dict_type"] == SHARDED_STATE_DICT and config["version"] == 2
    # transformers' own activation checkpointing, not FSDP's (whose wrapper empties peft's checkpoints)
    assert arguments["activation_checkpointing"] is True and "activation_checkpointing" not in config
