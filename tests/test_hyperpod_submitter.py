"""Given job specs in the cluster's prefix of the bucket, when the submitter on the controller
makes a pass, then a good spec becomes exactly one sbatch call of a script the submitter
wrote (every value quoted), its status follows Slurm into S3, a cancel request is
scancel-ed, and a spec that breaks a rule never reaches Slurm: its status is REFUSED,
naming the field.

The submitter runs as a real process here, as the lifecycle scripts install it: the
package alone on the path and no site-packages (``python3 -S``: standard library only, as
on the HyperPod AMI). Slurm (sbatch, squeue, sacct, scancel) and the AWS CLI are small
stand-ins on PATH: Slurm's keep their jobs in a JSON file, the CLI's s3api keeps objects in
a folder and refuses any option it does not know. The batch script itself then runs under
bash with stand-ins for srun, aws and scontrol.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hyperpod_jobs.batch_script import sbatch_script
from hyperpod_jobs.spec import cancel_key, parse, spec_key, status_key

from tests.lambdas.test_hyperpod import CLUSTER, ENVIRONMENT
from tests.lambdas.training_runs import ARTIFACTS, DATASETS, MLFLOW, run_and_plan, step_job

from openforge_lambda.hyperpod import job_spec  # isort: skip

ROOT = Path(__file__).resolve().parent.parent
FAKES = r'''
import json, os, sys
from pathlib import Path

tool, args = sys.argv[1], sys.argv[2:]
state_dir = Path(os.environ["FAKE_STATE"])
with (state_dir / "calls.jsonl").open("a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
jobs_file = state_dir / "jobs.json"
jobs = json.loads(jobs_file.read_text()) if jobs_file.exists() else {}


def option(name):
    return args[args.index(name) + 1]


if tool == "aws":
    root = Path(os.environ["FAKE_S3"])
    service, operation, rest = args[0], args[1], args[2:]
    known = {"list-objects-v2": {"--bucket", "--prefix", "--region", "--output"},
             "get-object": {"--bucket", "--key", "--region", "--output"},
             "put-object": {"--bucket", "--key", "--body", "--content-type", "--region", "--output"}}
    if service != "s3api" or operation not in known:
        sys.exit(f"aws: unknown command {service} {operation}")
    options, positional, i = {}, [], 0
    while i < len(rest):
        if rest[i].startswith("--"):
            if rest[i] not in known[operation]:
                sys.exit(f"aws: Unknown options: {rest[i]}")
            options[rest[i]], i = rest[i + 1], i + 2
        else:
            positional.append(rest[i]); i += 1
    bucket = root / options["--bucket"]
    if operation == "list-objects-v2":
        keys = sorted(str(p.relative_to(bucket)) for p in bucket.rglob("*") if p.is_file()) if bucket.exists() else []
        keys = [k for k in keys if k.startswith(options["--prefix"])]
        print(json.dumps({"Contents": [{"Key": k, "Size": (bucket / k).stat().st_size} for k in keys]} if keys else {}))
    elif operation == "get-object":
        source = bucket / options["--key"]
        if not source.is_file():
            sys.exit("An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.")
        Path(positional[0]).write_bytes(source.read_bytes()); print("{}")
    else:
        target = bucket / options["--key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(options["--body"]).read_bytes()); print("{}")
elif tool == "sbatch":
    if os.environ.get("FAKE_SBATCH_ERROR"):
        sys.exit(os.environ["FAKE_SBATCH_ERROR"])
    script = Path(args[-1]).read_text()
    name = next(line.split("=", 1)[1] for line in script.split("\n") if line.startswith("#SBATCH --job-name="))
    job_id = str(42 + len(jobs))
    jobs[job_id] = {"name": name, "state": "PENDING"}
    print(job_id)
elif tool == "squeue":
    queued = {i: job for i, job in jobs.items() if job["state"] != "GONE"}
    users = [arg.split("=", 1)[1] for arg in args if arg.startswith("--user=")]
    if users:  # a job names its submitter's uid; the submitter's own when it names none
        queued = {i: job for i, job in queued.items() if str(job.get("uid", os.getuid())) == users[0]}
    if "-n" in args:
        print("\n".join(i for i, job in queued.items() if job["name"] == option("-n")))
    elif option("-j") in queued:
        print(queued[option("-j")]["state"])
    else:
        sys.exit("slurm_load_jobs error: Invalid job id specified")
elif tool == "sacct":
    pass  # this cluster keeps no accounting
elif tool == "scancel":
    jobs[args[0]]["state"] = "GONE"
jobs_file.write_text(json.dumps(jobs))
'''


class Controller:
    """The controller as the submitter sees it: its bucket (a folder), Slurm and its config."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.s3 = tmp_path / "s3"
        self.state = tmp_path / "fake-state"
        self.bin = tmp_path / "bin"
        for folder in (self.s3, self.state, self.bin):
            folder.mkdir()
        (tmp_path / "fakes.py").write_text(FAKES)
        for tool in ("aws", "sbatch", "squeue", "sacct", "scancel"):
            wrapper = self.bin / tool
            wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -S {tmp_path / "fakes.py"} {tool} "$@"\n')
            wrapper.chmod(stat.S_IRWXU)
        # As the lifecycle scripts install it: the package alone, its config beside.
        self.lib = tmp_path / "lib"
        shutil.copytree(ROOT / "hyperpod_jobs", self.lib / "hyperpod_jobs", ignore=shutil.ignore_patterns("__pycache__"))
        self.work_root = "/opt/openforge/work"
        self.config = tmp_path / "submitter.json"
        self.config.write_text(json.dumps({
            "bucket": ARTIFACTS, "cluster_name": CLUSTER, "region": "us-east-1", "buckets": [DATASETS, ARTIFACTS],
            "images": [ENVIRONMENT.gpu_image_uri, ENVIRONMENT.neuron_image_uri], "partitions": ["gpu-workers", "trainium-workers"],
            "state_dir": str(tmp_path / "submitter-state"), "work_root": self.work_root}))

    def put(self, key: str, body: str, bucket: str = ARTIFACTS) -> None:
        path = self.s3 / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)

    def status(self, name: str) -> dict | None:
        path = self.s3 / ARTIFACTS / status_key(CLUSTER, name)
        return json.loads(path.read_text()) if path.exists() else None

    def calls(self, tool: str | None = None) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return [line for line in lines if tool is None or line[0] == tool]

    def set_job(self, job_id: str, state: str) -> None:
        jobs = json.loads((self.state / "jobs.json").read_text())
        jobs[job_id]["state"] = state
        (self.state / "jobs.json").write_text(json.dumps(jobs))

    def run_pass(self, **environ) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "FAKE_S3": str(self.s3), "FAKE_STATE": str(self.state), **environ}
        return subprocess.run([sys.executable, "-S", "-m", "hyperpod_jobs.submitter", "--config", str(self.config)],
                              cwd=self.lib, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def controller(tmp_path) -> Controller:
    return Controller(tmp_path)


def training_spec(step: str = "training") -> dict:
    run, plan = run_and_plan(compute={"target": "hyperpod", "instance_count": 2})
    return job_spec(step_job(step, run, plan, plan["mixes"][0], MLFLOW), ENVIRONMENT).to_document()


def test_a_spec_becomes_one_sbatch_of_the_submitters_own_script_and_its_status_follows_slurm(controller):
    document = training_spec()
    name = document["job_name"]
    controller.put(spec_key(CLUSTER, name), json.dumps(document))

    done = controller.run_pass()
    assert done.returncode == 0, done.stderr
    script_path = controller.tmp / "submitter-state" / "scripts" / f"{name}.sbatch"
    assert controller.calls("sbatch") == [["sbatch", "--parsable", "--chdir=/tmp", str(script_path)]]
    assert script_path.read_text() == sbatch_script(parse(document, ENVIRONMENT.allowed), work_root=controller.work_root)
    assert stat.S_IMODE(script_path.stat().st_mode) == 0o600
    subprocess.run(["bash", "-n", str(script_path)], check=True)
    output = f"{document['output_s3_uri']}{name}/output/"
    assert controller.status(name) == {
        "job_name": name, "state": "SUBMITTED", "slurm_job_id": "42", "exit_code": None, "reason": None, "source": "sbatch",
        "log_s3_uri": f"{output}slurm-42.out", "state_s3_uri": f"{output}slurm-state"}

    controller.set_job("42", "RUNNING")
    controller.run_pass()
    assert (controller.status(name)["state"], controller.status(name)["source"]) == ("RUNNING", "squeue")

    controller.set_job("42", "GONE")  # squeue forgets; no accounting; the script left its state
    controller.put(f"training/tickets/exec-1/{name}/output/slurm-state", "COMPLETED 0\n")
    controller.run_pass()
    assert {key: controller.status(name)[key] for key in ("state", "exit_code", "source")} == {
        "state": "COMPLETED", "exit_code": 0, "source": "job state file"}

    writes = len(controller.calls("aws"))
    controller.run_pass()
    assert controller.calls("sbatch") == [["sbatch", "--parsable", "--chdir=/tmp", str(script_path)]], "submitted once"
    assert [call[2] for call in controller.calls("aws")[writes:]] == ["list-objects-v2", "list-objects-v2"], "a finished job is not read again"


def test_a_job_slurm_already_knows_is_adopted_not_submitted_again(controller):
    document = training_spec()
    controller.put(spec_key(CLUSTER, document["job_name"]), json.dumps(document))
    (controller.state / "jobs.json").write_text(json.dumps({"7": {"name": document["job_name"], "state": "RUNNING"}}))
    controller.run_pass()
    assert controller.calls("sbatch") == []
    assert (controller.status(document["job_name"])["slurm_job_id"], controller.status(document["job_name"])["source"]) == ("7", "squeue")


def test_a_job_of_that_name_from_another_cluster_user_is_not_adopted(controller):
    document = training_spec()
    controller.put(spec_key(CLUSTER, document["job_name"]), json.dumps(document))
    (controller.state / "jobs.json").write_text(json.dumps({"7": {"name": document["job_name"], "state": "RUNNING",
                                                                   "uid": os.getuid() + 1}}))
    controller.run_pass()
    assert len(controller.calls("sbatch")) == 1
    assert controller.status(document["job_name"])["slurm_job_id"] != "7"


def test_a_slurm_job_id_from_the_status_file_is_never_an_option_to_slurm(controller):
    """Every node may write status files (the node role): one naming "--user=openforge" as
    the job id must not reach scancel, which would cancel every job of the jobs' user."""
    document = training_spec()
    name = document["job_name"]
    controller.put(spec_key(CLUSTER, name), json.dumps(document))
    controller.run_pass()
    forged = {**controller.status(name), "state": "RUNNING", "slurm_job_id": "--user=openforge"}
    controller.put(status_key(CLUSTER, name), json.dumps(forged))
    controller.put(cancel_key(CLUSTER, name), '{"cancel": true}')
    assert controller.run_pass().returncode == 0
    assert not any("--user=openforge" in call for call in controller.calls()), controller.calls()
    status = controller.status(name)
    assert status["state"] == "FAILED" and "'--user=openforge', which is not a job id" in status["reason"], status


def test_a_spec_too_large_to_be_one_is_refused_without_being_fetched(controller):
    document = training_spec()
    name = document["job_name"]
    controller.put(spec_key(CLUSTER, name), json.dumps(document) + " " * (1024 * 1024))
    assert controller.run_pass().returncode == 0
    assert not any(call[2] == "get-object" and spec_key(CLUSTER, name) in call for call in controller.calls("aws"))
    status = controller.status(name)
    assert status["state"] == "REFUSED" and "bytes, more than the 1048576 read here" in status["reason"], status
    assert controller.calls("sbatch") == []


HOSTILE = [  # (what changes in a good spec, the field the refusal names)
    ({"job_name": "tickets-t75; touch pwned"}, "job_name"),
    ({"channels": {"customer": f"s3://{DATASETS}/raw/$(touch pwned)/"}}, "channels.customer"),
    ({"channels": {"customer": f"s3://{DATASETS}/raw/`touch pwned`/"}}, "channels.customer"),
    ({"channels": {"customer": f"s3://{DATASETS}/curated/../sanitised/quarantine/"}}, "channels.customer"),
    ({"channels": {"x;touch pwned": f"s3://{DATASETS}/curated/"}}, "channels.x;touch pwned"),
    ({"channels": {"customer": "s3://someone-elses-bucket/raw/"}}, "channels.customer"),
    ({"output_s3_uri": f"s3://{ARTIFACTS}/training/'$(touch pwned)'/"}, "output_s3_uri"),
    ({"command": ["bash", "-c", "touch pwned"]}, "command"),
    ({"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/someone-else:latest"}, "image_uri"),
    ({"partition": "debug"}, "partition"),
    ({"hyperparameters": {"x; touch pwned": "1"}}, "hyperparameters.x; touch pwned"),
    ({"hyperparameters": {"epochs": 3}}, "hyperparameters.epochs"),
    ({"instance_count": "2; touch pwned"}, "instance_count"),
    ({"max_runtime_seconds": 10**9}, "max_runtime_seconds"),
    ({"script": "#!/bin/bash\ntouch pwned"}, "script"),
    ({"channels": {"..": f"s3://{DATASETS}/curated/"}}, "channels..."),
    ({"hyperparameters": {f"h{i}": "1" for i in range(101)}}, "hyperparameters"),
    ({"hyperparameters": {f"h{i}": "\u00e9" * 2500 for i in range(20)}}, "hyperparameters"),  # 50 KB as text, 300 KB as escaped JSON
]


@pytest.mark.parametrize("change, field", HOSTILE, ids=[field for _, field in HOSTILE])
def test_a_spec_that_breaks_a_rule_never_reaches_slurm_and_its_status_names_the_field(controller, change, field):
    document = training_spec()
    name = document["job_name"]
    controller.put(spec_key(CLUSTER, name), json.dumps({**document, **change}))
    done = controller.run_pass()
    assert done.returncode == 0, done.stderr
    status = controller.status(name)
    assert status["state"] == "REFUSED" and status["reason"].startswith(f"job spec refused on the cluster: {field}: "), status
    assert controller.calls("sbatch") == [] and controller.calls("squeue") == []
    assert not list(controller.tmp.rglob("pwned")) and not (controller.lib / "pwned").exists()


def test_keys_that_are_not_job_names_are_left_alone(controller):
    controller.put(f"hyperpod/{CLUSTER}/jobs/a;touch pwned.json", json.dumps(training_spec()))
    controller.put(f"hyperpod/{CLUSTER}/jobs/../../escape.json", json.dumps(training_spec()))
    assert controller.run_pass().returncode == 0
    assert controller.calls("sbatch") == [] and not (controller.s3 / ARTIFACTS / f"hyperpod/{CLUSTER}/status").exists()


def test_a_cancel_request_is_scancelled_and_one_before_submission_keeps_the_job_out_of_slurm(controller):
    document = training_spec()
    name = document["job_name"]
    controller.put(spec_key(CLUSTER, name), json.dumps(document))
    controller.run_pass()
    controller.set_job("42", "RUNNING")
    controller.put(cancel_key(CLUSTER, name), '{"cancel": true}')
    controller.run_pass()
    assert controller.calls("scancel") == [["scancel", "42"]]
    assert (controller.status(name)["state"], controller.status(name)["reason"]) == ("CANCELLED", "cancelled")

    early = training_spec("evaluation")
    controller.put(cancel_key(CLUSTER, early["job_name"]), '{"cancel": true}')
    controller.put(spec_key(CLUSTER, early["job_name"]), json.dumps(early))
    controller.run_pass()
    assert len(controller.calls("sbatch")) == 1, "the cancelled spec was never submitted"
    assert controller.status(early["job_name"])["reason"] == "cancelled before it was submitted"


def test_sbatch_refusing_and_a_lost_node_are_failures_with_their_reason(controller):
    document = training_spec()
    controller.put(spec_key(CLUSTER, document["job_name"]), json.dumps(document))
    controller.run_pass(FAKE_SBATCH_ERROR="sbatch: error: invalid partition specified: gpu-workers")
    assert controller.status(document["job_name"])["state"] == "FAILED"
    assert "sbatch refused the job: sbatch: error: invalid partition specified" in controller.status(document["job_name"])["reason"]

    other = training_spec("evaluation")
    controller.put(spec_key(CLUSTER, other["job_name"]), json.dumps(other))
    controller.run_pass()
    controller.set_job("42", "GONE")  # gone from squeue, no accounting, no state file
    controller.run_pass()
    assert controller.status(other["job_name"])["state"] == "FAILED"
    assert "ended without finishing its script (node lost?)" in controller.status(other["job_name"])["reason"]


# --- the batch script the submitter writes, run under bash -------------------------------

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
  printf "%s" "${OPENFORGE_INSTANCE_TYPE:-}" > "$LOG.instance_type"
  ls "$WORK/input/data" | tr '\\n' ' ' >> "$LOG"; echo >> "$LOG"
  [ "${FAIL_CONTAINER:-0}" = 0 ] || exit "$FAIL_CONTAINER"
  echo '{}' > "$WORK/model/config.json"; exit 0
fi
"$@"
"""
FAKE_AWS_CP = """#!/bin/bash
# aws stand-in: s3 cp from S3 makes the folder, to S3 is recorded (with what is sent).
paths=(); for arg in "${@:3}"; do [[ "$arg" == --* ]] || paths+=("$arg"); done
source="${paths[0]}"; destination="${paths[1]}"
if [ "$source" = "-" ]; then echo "put $destination $(cat)" >> "$LOG"
elif [[ "$source" == s3://* ]]; then mkdir -p "$destination"; echo "get $source" >> "$LOG"
elif [ -d "$source" ]; then echo "put $destination $(ls "$source" | tr '\\n' ' ')" >> "$LOG"
else echo "put $destination (log)" >> "$LOG"; fi
"""


def run_batch_script(tmp_path: Path, script: str, job_name: str, **environ) -> tuple[int, list[str], dict]:
    bin_dir = tmp_path / "job-bin"
    bin_dir.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("aws", FAKE_AWS_CP), ("scontrol", "#!/bin/bash\necho node-1\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    log = tmp_path / "log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "OPENFORGE_WORK_ROOT": str(tmp_path / "work"),
           "SLURM_JOB_ID": "42", "SLURM_JOB_NAME": job_name, "SLURM_JOB_NODELIST": "node-1", **environ}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    hyperparameters = log.with_name("log.hyperparameters.json")
    return (done.returncode, log.read_text().splitlines(),
            json.loads(hyperparameters.read_text()) if hyperparameters.exists() else {})


def test_the_batch_script_stages_runs_and_uploads_like_a_training_job_and_hostile_values_stay_data(tmp_path):
    document = training_spec()
    hostile = {"note": "'; touch pwned; echo '", "other": "$(touch pwned) `touch pwned` \"\\\n; touch pwned"}
    # The spec refuses a line break (SageMaker would), so the script is shown one past the check too.
    spec = dataclasses.replace(parse(document, ENVIRONMENT.allowed), hyperparameters={**document["hyperparameters"], **hostile})
    script = sbatch_script(spec)
    assert [line for line in script.split("\n") if line.startswith("#SBATCH")] == [
        f"#SBATCH --job-name={spec.job_name}", "#SBATCH --partition=gpu-workers", "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=1", "#SBATCH --exclusive", "#SBATCH --time=1440", "#SBATCH --output=/tmp/%x-%j.out"]
    code, log, hyperparameters = run_batch_script(tmp_path, script, spec.job_name)
    assert code == 0
    assert log == [
        *(f"get {uri}" for uri in spec.channels.values()),
        f"mounts {tmp_path}/work/42:/opt/ml",
        "container 123456789012.dkr.ecr.us-east-1.amazonaws.com#cdk-assets:gpu python -m openforge_training.launch train",
        "curated customer model ",
        f"put {spec.model_s3_uri} config.json ",
        f"put {spec.job_output_s3_uri}slurm-42.out (log)",
        f"put {spec.job_output_s3_uri}slurm-state COMPLETED 0",
    ]
    assert hyperparameters == spec.hyperparameters, "every value reaches the container as written"
    assert (tmp_path / "log.instance_type").read_text() == spec.instance_type, "the container's capacity plan reads its instance type"
    assert not list(tmp_path.rglob("pwned")), "no value was run"
    assert not (tmp_path / "work" / "42").exists(), "the node's work folder is removed"


def test_a_failing_container_leaves_its_exit_status_and_no_model(tmp_path):
    spec = parse(training_spec(), ENVIRONMENT.allowed)
    code, log, _ = run_batch_script(tmp_path, sbatch_script(spec), spec.job_name, FAIL_CONTAINER="3")
    assert code == 3
    assert log[-1] == f"put {spec.job_output_s3_uri}slurm-state FAILED 3"
    assert not any(line.startswith(f"put {spec.model_s3_uri}") for line in log)
