"""Given a run with compute.target hyperpod, when the pipeline starts a step, then the same
container runs as a Slurm job submitted on the controller through SSM, its batch script
stages the same channels and hyperparameters a training job would get and leaves the model
where a training job would, and Slurm's states reach the Wait/Choice loop as training job
statuses.

moto 5.2.5 has DescribeCluster and ListClusterNodes (nothing is stubbed), but its Run
Command answers every invocation with Success and no output: the fixture gives each
invocation the output a controller would print, chosen by what the command runs. The batch
script itself runs here under bash with stand-ins for srun, aws and scontrol.
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import Command, ssm_backends

from tests.lambdas.conftest import LambdaContext, load_handler
from tests.lambdas.test_training_job import ENVIRONMENT_VARIABLES, MLFLOW, run_and_plan

from openforge_lambda import hyperpod  # isort: skip
from openforge_lambda.hyperpod import (  # isort: skip
    HyperPodCommandFailed, HyperPodEnvironment, cancel, pyxis_image, sbatch_script, slurm_status, start, status,
    submit_commands)
from openforge_lambda.training_job import job_plan  # isort: skip

GPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:gpu"
ENVIRONMENT = HyperPodEnvironment(cluster_name="openforge-dev", controller_group="controller", gpu_image_uri=GPU_IMAGE,
                                  neuron_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:neuron",
                                  mlflow_tracking_server_arn=MLFLOW, max_runtime_seconds=86400)
CONTROLLER = "sagemaker-cluster:openforge-dev_controller-controller-0"  # moto: cluster id = name, instance id = node id
NO_SLEEP = {"sleep": lambda seconds: None}


@pytest.mark.parametrize("state, expected", [
    ("PENDING", "InProgress"), ("RUNNING", "InProgress"), ("COMPLETING", "InProgress"), ("REQUEUED", "InProgress"),
    ("COMPLETED", "Completed"), ("FAILED", "Failed"), ("TIMEOUT", "Failed"), ("OUT_OF_MEMORY", "Failed"),
    ("NODE_FAIL", "Failed"), ("CANCELLED", "Stopped"), ("CANCELLED by 0", "Stopped"), ("COMPLETED+", "Completed"),
    (" running\n", "InProgress"), ("FAILED 3", "Failed"), ("SOMETHING_NEW", "Failed"), ("", "Failed"),
])
def test_slurm_states_map_to_training_job_statuses(state, expected):
    assert slurm_status(state) == expected


def test_images_are_written_for_pyxis_and_trainium_gets_its_partition():
    assert pyxis_image(GPU_IMAGE) == "123456789012.dkr.ecr.us-east-1.amazonaws.com#cdk-assets:gpu"
    assert pyxis_image("ubuntu:22.04") == "ubuntu:22.04"
    assert hyperpod.partition_for("ml.trn1.32xlarge") == "trainium-workers" and hyperpod.partition_for("ml.p5.48xlarge") == "gpu-workers"


def plan_of(step: str = "training", mix_index: int = 0, **change):
    run, plan = run_and_plan(compute={"target": "hyperpod", "instance_count": 2}, **change)
    return run, plan, job_plan(step, run, plan, plan["mixes"][mix_index], mlflow_tracking_uri=MLFLOW)


def test_the_batch_script_is_readable_and_says_what_runs_where():
    _, plan, job = plan_of()
    script = sbatch_script(job, image_uri=GPU_IMAGE, max_runtime_seconds=86400)
    assert script.startswith("#!/bin/bash\n")
    assert [line for line in script.split("\n") if line.startswith("#SBATCH")] == [
        f"#SBATCH --job-name={job.name}", "#SBATCH --partition=gpu-workers", "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=1", "#SBATCH --exclusive", "#SBATCH --time=1440", "#SBATCH --output=/tmp/%x-%j.out"]
    for name, uri in job.channels.items():
        assert f'srun aws s3 cp --recursive --only-show-errors {uri} "$WORK/input/data/{name}/"' in script
    assert 'srun --container-image="$IMAGE" --container-mounts="$WORK:/opt/ml" python -m openforge_training.launch train' in script
    assert f"MODEL_OUTPUT={job.model_s3_uri}" in script and job.model_s3_uri == (
        f"{plan['training_output_s3_uri']}{job.name}/output/model/"), "the same place a training job writes"
    exported = next(line for line in script.split("\n") if line.startswith("export OPENFORGE_HYPERPARAMETERS="))
    assert script.count("OPENFORGE_HYPERPARAMETERS=") == 1
    start_at = script.index(exported)
    value = shlex.split(script[start_at:].split("=", 1)[1].split("\n\n", 1)[0])[0]
    assert json.loads(value) == job.hyperparameters
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_an_evaluation_script_runs_the_evaluator_on_one_node_into_the_report_prefix():
    _, plan, job = plan_of("evaluation")
    script = sbatch_script(job, image_uri=GPU_IMAGE, max_runtime_seconds=90)
    assert "#SBATCH --nodes=1" in script and "#SBATCH --time=2" in script
    assert "python -m openforge_training.evaluate\n" in script
    assert f"MODEL_OUTPUT={plan['report_s3_uri']}{job.name}/output/model/" in script


FAKE_SRUN = """#!/bin/bash
# srun stand-in: one node, here; a container step is recorded and leaves a model.
image=""
while [[ "${1:-}" == --* ]]; do
  case "$1" in --container-image=*) image="${1#*=}";; --container-mounts=*) echo "mounts ${1#*=}" >> "$LOG";; esac
  shift
done
if [ -n "$image" ]; then
  echo "container $image $*" >> "$LOG"
  cp "$WORK/input/config/hyperparameters.json" "$LOG.hyperparameters.json"
  ls "$WORK/input/data" | tr '\\n' ' ' >> "$LOG"; echo >> "$LOG"
  [ "${FAIL_CONTAINER:-0}" = 0 ] || exit "$FAIL_CONTAINER"
  echo '{}' > "$WORK/model/config.json"; exit 0
fi
"$@"
"""
FAKE_AWS = """#!/bin/bash
# aws stand-in: s3 cp from S3 makes the folder, to S3 is recorded (with what is sent).
paths=(); for arg in "${@:3}"; do [[ "$arg" == --* ]] || paths+=("$arg"); done
source="${paths[0]}"; destination="${paths[1]}"
if [ "$source" = "-" ]; then echo "put $destination $(cat)" >> "$LOG"
elif [[ "$source" == s3://* ]]; then mkdir -p "$destination"; echo "get $source" >> "$LOG"
elif [ -d "$source" ]; then echo "put $destination $(ls "$source" | tr '\\n' ' ')" >> "$LOG"
else echo "put $destination (log)" >> "$LOG"; fi
"""


def run_batch_script(tmp_path: Path, script: str, job_name: str, **environ) -> tuple[int, list[str], dict]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("aws", FAKE_AWS), ("scontrol", "#!/bin/bash\necho node-1\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    log = tmp_path / "log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "OPENFORGE_WORK_ROOT": str(tmp_path / "work"),
           "SLURM_JOB_ID": "42", "SLURM_JOB_NAME": job_name, "SLURM_JOB_NODELIST": "node-1", **environ}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    hyperparameters = log.with_name("log.hyperparameters.json")
    return (done.returncode, log.read_text().splitlines(),
            json.loads(hyperparameters.read_text()) if hyperparameters.exists() else {})


def test_the_batch_script_stages_runs_and_uploads_like_a_training_job(tmp_path):
    _, _, job = plan_of()
    code, log, hyperparameters = run_batch_script(tmp_path, sbatch_script(job, image_uri=GPU_IMAGE, max_runtime_seconds=600), job.name)
    output = f"{job.output_s3_uri}{job.name}/output/"
    assert code == 0
    assert log == [
        *(f"get {uri}" for uri in job.channels.values()),
        f"mounts {tmp_path}/work/42:/opt/ml",
        "container 123456789012.dkr.ecr.us-east-1.amazonaws.com#cdk-assets:gpu python -m openforge_training.launch train",
        "curated customer model ",
        f"put {job.model_s3_uri} config.json ",
        f"put {output}slurm-42.out (log)",
        f"put {output}slurm-state COMPLETED 0",
    ]
    assert hyperparameters == job.hyperparameters
    assert not (tmp_path / "work" / "42").exists(), "the node's work folder is removed"


def test_a_failing_container_leaves_its_exit_status_and_no_model(tmp_path):
    _, _, job = plan_of()
    code, log, _ = run_batch_script(tmp_path, sbatch_script(job, image_uri=GPU_IMAGE, max_runtime_seconds=600), job.name,
                                    FAIL_CONTAINER="3")
    assert code == 3
    assert log[-1] == f"put {job.output_s3_uri}{job.name}/output/slurm-state FAILED 3"
    assert not any(line.startswith(f"put {job.model_s3_uri}") for line in log)


class Controller:
    """The controller's answers: what squeue/sacct/sbatch print, by what the command runs."""

    def __init__(self):
        self.replies: dict[str, dict] = {}
        self.sent: list[list[str]] = []

    def reply(self, kind: str, stdout: str = "", status: str = "Success", stderr: str = "") -> None:
        self.replies[kind] = {"Status": status, "StatusDetails": status, "StandardOutputContent": stdout,
                              "StandardErrorContent": stderr, "ResponseCode": 0 if status == "Success" else 1}

    def answer(self, commands: list[str]) -> dict:
        self.sent.append(commands)
        text = "\n".join(commands)
        kind = "submit" if "sbatch --parsable" in text else "cancel" if "scancel" in text else "status"
        return self.replies.get(kind, {})


@pytest.fixture
def controller(aws, monkeypatch) -> Controller:
    boto3.client("sagemaker").create_cluster(
        ClusterName="openforge-dev",
        InstanceGroups=[{"InstanceGroupName": name, "InstanceType": instance_type, "InstanceCount": count,
                         "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lifecycle/", "OnCreate": "on_create.sh"},
                         "ExecutionRole": "arn:aws:iam::123456789012:role/openforge-nodes", "ThreadsPerCore": 1}
                        for name, instance_type, count in (("controller", "ml.m5.xlarge", 1), ("gpu-workers", "ml.p5.48xlarge", 2))],
        VpcConfig={"SecurityGroupIds": ["sg-cluster"], "Subnets": ["subnet-a"]})
    answers = Controller()
    original = Command.invocation_response

    def invocation_response(self, instance_id, plugin_name):
        return {**original(self, instance_id, plugin_name), **answers.answer(self.parameters.get("commands", []))}

    monkeypatch.setattr(Command, "invocation_response", invocation_response)
    return answers


def start_training(controller: Controller, **settings) -> tuple[dict, dict]:
    run, plan = run_and_plan(compute={"target": "hyperpod", "instance_count": 2})
    started = start(boto3.client("sagemaker"), boto3.client("ssm"), "training", run, plan, plan["mixes"][0], ENVIRONMENT,
                    **NO_SLEEP, **settings)
    return started, plan


def test_start_submits_the_script_on_the_controller(controller):
    controller.reply("submit", "submitted 42\n")
    started, plan = start_training(controller)
    name = plan["mixes"][0]["training_job_name"]
    assert started == {
        "step": "training", "target": "hyperpod", "job_name": name, "mix": plan["mixes"][0], "cluster_name": "openforge-dev",
        "instance": CONTROLLER, "command_id": started["command_id"], "slurm_job_id": "42",
        "output_s3_uri": f"{plan['training_output_s3_uri']}{name}/output/model/",
        "state_s3_uri": f"{plan['training_output_s3_uri']}{name}/output/slurm-state"}
    command = boto3.client("ssm").list_commands(CommandId=started["command_id"])["Commands"][0]
    assert command["InstanceIds"] == [CONTROLLER] and command["DocumentName"] == "AWS-RunShellScript"
    sent = "\n".join(command["Parameters"]["commands"])
    assert f"#SBATCH --job-name={name}" in sent and 'squeue -h -n "$NAME" -o %i' in sent, "a retry finds the queued job"
    subprocess.run(["bash", "-n"], input=sent, text=True, check=True)

    controller.reply("submit", "found 41\n")  # a retried start: the job is already queued
    assert start_training(controller)[0]["slurm_job_id"] == "41"
    controller.reply("submit", status="Failed", stderr="sbatch: error: invalid partition specified: gpu-workers")
    with pytest.raises(HyperPodCommandFailed, match=r"sbatch of .* Failed: sbatch: error: invalid partition specified"):
        start_training(controller)


def test_a_cluster_without_a_running_controller_is_said_plainly(controller):
    run, plan = run_and_plan(compute={"target": "hyperpod"})
    with pytest.raises(HyperPodCommandFailed, match=r"cluster openforge-dev has no running node in group head \(found: none\)"):
        start(boto3.client("sagemaker"), boto3.client("ssm"), "training", run, plan, plan["mixes"][0],
              replace(ENVIRONMENT, controller_group="head"), **NO_SLEEP)


STATUS_ANSWERS = [  # what the controller prints -> status, and the failure reason's telling part
    ("squeue PENDING", "InProgress", None),
    ("squeue RUNNING", "InProgress", None),
    ("sacct COMPLETED", "Completed", None),
    ("file COMPLETED 0", "Completed", None),
    ("file FAILED 3", "Failed", "ended FAILED 3 (file); its log: s3://openforge-test-artifacts/training/tickets/exec-1/"),
    ("sacct CANCELLED by 0", "Stopped", "ended CANCELLED by 0 (sacct)"),
    ("squeue TIMEOUT", "Failed", "ended TIMEOUT (squeue)"),
    ("unknown", "Failed", "is not queued, has no accounting record and left no state"),
]


def test_status_reads_slurm_through_the_controller(controller):
    controller.reply("submit", "submitted 42\n")
    started, _ = start_training(controller)
    ssm = boto3.client("ssm")
    for answer, expected_status, reason in STATUS_ANSWERS:
        controller.reply("status", answer + "\n")
        checked = status(ssm, started, **NO_SLEEP)
        assert (checked["status"], checked["done"]) == (expected_status, expected_status != "InProgress"), answer
        assert checked["output_s3_uri"] == (started["output_s3_uri"] if expected_status == "Completed" else None), answer
        if reason:
            assert reason in checked["failure_reason"], answer
        else:
            assert checked["failure_reason"] is None, answer
        assert f"NAME={started['job_name']}" in controller.sent[-1]

    controller.reply("status", status="Failed", stderr="squeue: error: Unable to contact slurm controller")
    with pytest.raises(HyperPodCommandFailed, match="Unable to contact slurm controller"):
        status(ssm, started, **NO_SLEEP)  # an error to retry, not a verdict on the job


def test_a_job_nobody_knows_is_in_progress_while_its_sbatch_has_not_run(controller):
    controller.reply("submit", status="InProgress")
    started, _ = start_training(controller, wait_seconds=0)
    assert started["slurm_job_id"] is None, "not answered yet: status will look"
    controller.reply("status", "unknown\n")
    assert status(boto3.client("ssm"), started, **NO_SLEEP)["status"] == "InProgress"
    # sbatch answers later, refusing the job: that is the job's failure.
    invocation = ssm_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_command_by_id(started["command_id"]).invocations[0]
    invocation.update(Status="Failed", StandardErrorContent="sbatch: error: Batch job submission failed: Invalid account")
    checked = status(boto3.client("ssm"), started, **NO_SLEEP)
    assert (checked["status"], checked["done"]) == ("Failed", True)
    assert checked["failure_reason"] == f"sbatch of {started['job_name']} Failed: sbatch: error: Batch job submission failed: Invalid account"


def test_cancel_scancels_by_name_and_reports_what_it_cancelled(controller):
    controller.reply("cancel", "cancelled tickets-t75\n")
    assert cancel(boto3.client("sagemaker"), boto3.client("ssm"), "openforge-dev", "controller",
                  ["tickets-val", "tickets-t75"], **NO_SLEEP) == ["tickets-t75"]
    assert "for NAME in tickets-val tickets-t75; do" in controller.sent[-1]


def test_the_handlers_dispatch_to_hyperpod(controller, monkeypatch):
    for name, value in {**ENVIRONMENT_VARIABLES, "HYPERPOD_CLUSTER_NAME": "openforge-dev"}.items():
        monkeypatch.setenv(name, value)
    controller.reply("submit", "submitted 7\n")
    run, plan = run_and_plan(compute={"target": "hyperpod"})
    started = load_handler("start_training_job")({"step": "validation", "run": run, "plan": plan, "mix": plan["mixes"][0]},
                                                 LambdaContext())
    assert (started["target"], started["job_name"], started["slurm_job_id"]) == ("hyperpod", plan["validation_job_name"], "7")
    assert "#SBATCH --time=120" in "\n".join(controller.sent[0]), "a validation run is capped at two hours"
    controller.reply("status", "squeue RUNNING\n")
    assert load_handler("check_training_job")({"job": started}, LambdaContext())["status"] == "InProgress"


def test_submit_commands_keep_the_script_whole():
    _, _, job = plan_of()
    script = sbatch_script(job, image_uri=GPU_IMAGE, max_runtime_seconds=600)
    commands = submit_commands(job.name, script)
    body = "\n".join(commands)
    assert body.split("<<'OPENFORGE_SBATCH'\n", 1)[1].split("\nOPENFORGE_SBATCH\n", 1)[0] + "\n" == script
