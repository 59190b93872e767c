"""Start the training container as a SageMaker training job for one step of a run
(validation, training or evaluation), and report its status.

What a step runs is worked out once (``job_plan``: name, channels, hyperparameters, output
place, instance) so the HyperPod path (``openforge_lambda.hyperpod``) runs the very same
thing as a Slurm job. A training job's model lands at
``<S3OutputPath><job name>/output/model/`` (CompressionType NONE: files stay files), which is
where check, pick and deploy look.

Private and encrypted is not optional: a request without subnets, security groups or a KMS
key is refused, naming the field. Names come from the plan, so a Step Functions retry finds
the job an earlier attempt started instead of failing on "already exists".
Plain boto3 (no sagemaker SDK in a Lambda).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from hyperpod_jobs.spec import EVALUATE_COMMAND, STEPS, TRAIN_COMMAND

from openforge_contract.environment_variables import TrainingEnvironment
from openforge_contract.instance_catalogue import (UnknownInstanceType, training_volume_size_gb, uses_neuron, volume_kms_key_allowed,
                                                 volume_size_problem)
from openforge_contract.naming import TAG_EXECUTION, TAG_JOB, TAG_STEP
from openforge_lambda.pipeline_input import curated_weights_hyperparameter
from openforge_lambda.run import Run
from openforge_lambda.run_plan import Mix, RunPlan
from openforge_lambda.sagemaker_calls import is_missing
from openforge_lambda.settings import FieldError

TARGET = "training-job"
FINISHED_STATES = ("Completed", "Failed", "Stopped")
LORA_HYPERPARAMETERS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules")
# A validation run proves the data, the model and the container work together; a few
# steps do that, and checkpointing or logging at the end only keeps it short.
VALIDATION_SETTINGS = {"max_steps": 5, "save_steps": 5, "logging_steps": 1}
# A five-step smoke run still loads the model; past two hours it is stuck, not slow.
VALIDATION_MAX_RUNTIME_SECONDS = 2 * 60 * 60
# Room for a large base model, its merged copy and a checkpoint on the instance's volume; a type
# with less local NVMe gets all of it (openforge_contract.instance_catalogue.max_volume_size_gb).
VOLUME_SIZE_GB = 512
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
# The image's ENTRYPOINT is the launcher (SageMaker appends "train"); evaluation is another
# module. Both (and STEPS) are said in hyperpod_jobs.spec, which the HyperPod submitter checks too.


class TrainingRequestRefused(FieldError):
    """A request that cannot be started as asked (or not privately); names the field."""


class TrainingJobConflict(RuntimeError):
    """A training job with this step's derived name exists but was made from other inputs."""


@dataclass(frozen=True)
class JobPlan:
    """One step of a run, wherever it runs: a SageMaker training job or a Slurm job."""

    step: str
    name: str
    channels: dict[str, str]  # channel name -> S3 prefix, copied to /opt/ml/input/data/<name>
    hyperparameters: dict[str, str]  # SageMaker's strings, as the container reads them
    command: tuple[str, ...]
    output_s3_uri: str  # the S3OutputPath; the model goes under <this><name>/output/model/
    checkpoint_s3_uri: str | None
    instance_type: str
    instance_count: int
    tags: dict[str, str] = field(default_factory=dict)
    mix: Mix | None = None

    @property
    def model_s3_uri(self) -> str:
        return model_s3_uri(self.output_s3_uri, self.name)


def model_s3_uri(output_s3_uri: str, job_name: str) -> str:
    """Where a job's /opt/ml/model ends up (CompressionType NONE)."""
    return f"{_prefix(output_s3_uri)}{job_name}/output/model/"


def max_runtime_for(step: str, max_runtime_seconds: int) -> int:
    return min(max_runtime_seconds, VALIDATION_MAX_RUNTIME_SECONDS) if step == "validation" else max_runtime_seconds


def image_for(instance_type: str, gpu_image_uri: str, neuron_image_uri: str) -> str:
    """Trainium needs the Neuron build of the container; everything else runs the CUDA one."""
    return neuron_image_uri if uses_neuron(instance_type) else gpu_image_uri


def job_plan(step: str, run: Run, plan: RunPlan, mix: Mix | None, *, mlflow_tracking_uri: str) -> JobPlan:
    """What the step runs: name, channels, hyperparameters, output and instance.
    TrainingRequestRefused names a step or mix that is not one of the run's."""
    if step not in STEPS:
        raise TrainingRequestRefused("step", f"must be one of {', '.join(STEPS)}, got {step!r}")
    if mix is None and step == "validation":
        mix = plan.mixes[0] if plan.mixes else None  # a validation run uses the first mix
    if mix is None:
        raise TrainingRequestRefused("mix", "required: one entry of plan.mixes")
    tags = {TAG_EXECUTION: plan.execution_name, TAG_JOB: run.job_name, TAG_STEP: step}
    base_model = _prefix(run.base_model_s3_uri)

    if step == "evaluation":
        limits = run.evaluation.limits
        hyperparameters = {
            "benchmarks": ",".join(run.evaluation.benchmarks),
            "min_general_retention": limits.min_general_retention,
            "min_domain_gain": limits.min_domain_gain,
            "waive_general_check": limits.waive_general_check,
            "mlflow_tracking_uri": mlflow_tracking_uri,
            "run_name": mix.evaluation_job_name,
        }
        return JobPlan(
            step=step, name=mix.evaluation_job_name,
            channels={"model": base_model, "tuned": model_s3_uri(plan.training_output_s3_uri, mix.training_job_name),
                      "eval": _prefix(plan.evaluation_data_s3_uri)},
            hyperparameters=_as_strings(hyperparameters), command=EVALUATE_COMMAND,
            output_s3_uri=_prefix(plan.report_s3_uri), checkpoint_s3_uri=None,
            instance_type=run.compute.instance_type, instance_count=1, tags=tags, mix=mix,
        )

    name = plan.validation_job_name if step == "validation" else mix.training_job_name
    channels = {"model": base_model, "customer": _prefix(plan.customer_data_s3_uri)}
    tuning = {key: value for key, value in run.hyperparameters.items() if run.method == "lora" or key not in LORA_HYPERPARAMETERS}
    hyperparameters = {**tuning, "method": run.method, "customer_data_percent": mix.customer_data_percent,
                       "mlflow_tracking_uri": mlflow_tracking_uri, "run_name": name, "base_model": run.base_model_s3_uri}
    if mix.needs_curated_data:
        if not run.curated_data_s3_uri:
            raise TrainingRequestRefused("run.curated_data_s3_uri", f"required: mix {mix.customer_data_percent}% leaves a curated share")
        channels["curated"] = _prefix(run.curated_data_s3_uri)
        if run.mixing.curated_weights is not None:
            hyperparameters["curated_weights"] = curated_weights_hyperparameter(run.mixing.curated_weights)
    if step == "validation":
        hyperparameters.update(VALIDATION_SETTINGS)
    return JobPlan(
        step=step, name=name, channels=channels, hyperparameters=_as_strings(hyperparameters), command=TRAIN_COMMAND,
        output_s3_uri=_prefix(plan.training_output_s3_uri), checkpoint_s3_uri=f"{_prefix(plan.checkpoint_s3_uri)}{name}/",
        instance_type=run.compute.instance_type, instance_count=run.compute.instance_count, tags=tags, mix=mix,
    )


def training_job_request(job: JobPlan, environment: TrainingEnvironment) -> dict:
    """The CreateTrainingJob arguments for one step of a run (``job_plan``)."""
    for field_name, problem in (("subnet_ids", "required: training runs only inside the VPC"),
                                ("security_group_ids", "required: training runs only inside the VPC"),
                                ("kms_key_id", "required: the output (and EBS volumes) are encrypted with the customer's key")):
        if not getattr(environment, field_name):
            raise TrainingRequestRefused(field_name, problem)
    resources = _resource_config(job, environment.kms_key_id)
    algorithm = {"TrainingImage": image_for(job.instance_type, environment.gpu_image_uri, environment.neuron_image_uri),
                 "TrainingInputMode": "File"}
    if job.command != TRAIN_COMMAND:
        algorithm["ContainerEntrypoint"] = list(job.command)
    runtime = max_runtime_for(job.step, environment.max_runtime_seconds)
    request = {
        "TrainingJobName": job.name,
        "RoleArn": environment.role_arn,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": job.hyperparameters,
        "InputDataConfig": [_channel(name, uri) for name, uri in job.channels.items()],
        "OutputDataConfig": {"S3OutputPath": job.output_s3_uri, "KmsKeyId": environment.kms_key_id, "CompressionType": "NONE"},
        "ResourceConfig": resources,
        "VpcConfig": {"Subnets": list(environment.subnet_ids), "SecurityGroupIds": list(environment.security_group_ids)},
        "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
        "EnableInterContainerTrafficEncryption": True,
        # Not network-isolated on purpose: the container logs to the MLflow tracking server
        # through the VPC's SageMaker Experiments endpoint; isolation would cut that too. The
        # VPC has no route out (no NAT, no internet gateway), so nothing else is reachable.
        "EnableNetworkIsolation": False,
        "Tags": [{"Key": key, "Value": value} for key, value in job.tags.items()],
    }
    if job.checkpoint_s3_uri:
        request["CheckpointConfig"] = {"S3Uri": job.checkpoint_s3_uri, "LocalPath": CHECKPOINT_LOCAL_PATH}
    return request


def _resource_config(job: JobPlan, kms_key_id: str) -> dict:
    """Instances and their storage volume. On types with local NVMe the volume is the instance
    store, hardware-encrypted, and AWS refuses a VolumeKmsKeyId there (the output stays under
    the key); elsewhere it is an EBS volume under the customer's key."""
    try:
        size = training_volume_size_gb(job.instance_type, VOLUME_SIZE_GB)
        problem = volume_size_problem(job.instance_type, size)
        keyed = volume_kms_key_allowed(job.instance_type)
    except UnknownInstanceType as error:
        raise TrainingRequestRefused("run.compute.instance_type", str(error)) from None
    if problem:
        raise TrainingRequestRefused("ResourceConfig.VolumeSizeInGB", problem)
    resources = {"InstanceType": job.instance_type, "InstanceCount": job.instance_count, "VolumeSizeInGB": size}
    if keyed:
        resources["VolumeKmsKeyId"] = kms_key_id
    return resources


def start(client, request: Mapping, *, mix: Mix | None = None) -> dict:
    """CreateTrainingJob; a job of that name already there (a retry) is described instead,
    and is the same job only if it was made from the same inputs."""
    name = request["TrainingJobName"]
    try:
        client.create_training_job(**request)
    except ClientError as error:
        if not _already_exists(error):
            raise
        _check_same_job(client.describe_training_job(TrainingJobName=name), request)
    step = next((tag["Value"] for tag in request.get("Tags", []) if tag["Key"] == TAG_STEP), None)
    return {"step": step, "target": TARGET, "job_name": name, "mix": mix.to_dict() if mix is not None else None,
            "output_s3_uri": model_s3_uri(request["OutputDataConfig"]["S3OutputPath"], name)}


def status(client, job: Mapping) -> dict:
    """For a Wait and Choice loop: the job's status, whether it is done, and why it failed."""
    name = job["job_name"]
    result = {"job_name": name, "step": job.get("step"), "target": TARGET, "status": "Failed", "done": True,
              "failure_reason": None, "output_s3_uri": None}
    try:
        described = client.describe_training_job(TrainingJobName=name)
    except ClientError as error:
        if not is_missing(error):
            raise
        return {**result, "failure_reason": f"training job {name} does not exist"}
    state = described["TrainingJobStatus"]
    reason = described.get("FailureReason")
    if state == "Completed":
        output = model_s3_uri(described["OutputDataConfig"]["S3OutputPath"], name)
        return {**result, "status": state, "failure_reason": None, "output_s3_uri": output}
    if state == "Failed":
        return {**result, "status": state, "failure_reason": reason or f"training job {name} failed without giving a reason"}
    if state == "Stopped":
        return {**result, "status": state, "failure_reason": reason or f"training job {name} was stopped before it finished"}
    # InProgress and Stopping: not settled yet.
    return {**result, "status": "InProgress", "done": False}


def _check_same_job(existing: Mapping, request: Mapping) -> None:
    """Compare what decides the outcome: image, data, output, instances, hyperparameters."""
    def key_fields(job: Mapping) -> dict:
        return {
            "image": job["AlgorithmSpecification"]["TrainingImage"],
            "channels": {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job.get("InputDataConfig", [])},
            "output": job["OutputDataConfig"]["S3OutputPath"],
            "instances": (job["ResourceConfig"]["InstanceType"], job["ResourceConfig"]["InstanceCount"]),
        }
    made_from, wanted = key_fields(existing), key_fields(request)
    # Only our own keys: SageMaker may list more hyperparameters than were sent.
    made_from["hyperparameters"] = {key: (existing.get("HyperParameters") or {}).get(key) for key in request["HyperParameters"]}
    wanted["hyperparameters"] = dict(request["HyperParameters"])
    different = sorted(key for key in wanted if made_from[key] != wanted[key])
    if different:
        raise TrainingJobConflict(f"training job {request['TrainingJobName']} exists but was made from other inputs "
                                  f"({', '.join(different)}): {json.dumps({key: made_from[key] for key in different}, default=str)}")


def _channel(name: str, s3_uri: str) -> dict:
    return {"ChannelName": name, "InputMode": "File", "CompressionType": "None",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": s3_uri, "S3DataDistributionType": "FullyReplicated"}}}


def _as_strings(values: Mapping) -> dict[str, str]:
    """SageMaker hyperparameters are strings; the container parses them back (true/false, numbers)."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def _prefix(s3_uri: str) -> str:
    """A prefix ends in '/', so s3://b/data does not also take s3://b/data-old/."""
    return s3_uri if s3_uri.endswith("/") else s3_uri + "/"


def _already_exists(error: ClientError) -> bool:
    """SageMaker says a name is taken as ResourceInUse ("... already exists")."""
    details = error.response.get("Error", {})
    return details.get("Code") == "ResourceInUse" or "already exists" in details.get("Message", "")
