"""A validated run and its plan, and a SageMaker for the training-step tests: moto, with what
moto 5.2.5 lacks filled in.

moto 5.2.5 lacks StopTrainingJob, lets a second CreateTrainingJob replace a job of the same
name, and finishes every job at once: the fixture adds StopTrainingJob, refuses a taken name
as SageMaker does (ResourceInUse), and the tests set a job's status on moto's backend.
"""
from __future__ import annotations

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from openforge_lambda.pipeline_input import EnvironmentPolicy, parse_run  # isort: skip
from openforge_lambda.run import Run  # isort: skip
from openforge_lambda.run_plan import Mix, PlatformLocations, RunPlan, plan_run  # isort: skip
from openforge_contract.environment_variables import TrainingEnvironment
from openforge_lambda.training_job import job_plan, training_job_request  # isort: skip

DATASETS, ARTIFACTS = "openforge-test-datasets", "openforge-test-artifacts"
BASE_MODEL = f"s3://{ARTIFACTS}/base-models/llama-3.1-8b/"
CURATED = f"s3://{DATASETS}/curated/"
EVALUATION = f"s3://{DATASETS}/evaluation/tickets/"
MLFLOW = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/openforge"
ENVIRONMENT = TrainingEnvironment(
    gpu_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:gpu",
    neuron_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:neuron",
    role_arn="arn:aws:iam::123456789012:role/openforge-training",
    subnet_ids=("subnet-a", "subnet-b"), security_group_ids=("sg-training",),
    kms_key_id="arn:aws:kms:us-east-1:123456789012:key/artifacts", mlflow_tracking_server_arn=MLFLOW,
    max_runtime_seconds=86400,
)
ENVIRONMENT_VARIABLES = {
    "TRAINING_IMAGE_URI_GPU": ENVIRONMENT.gpu_image_uri, "TRAINING_IMAGE_URI_NEURON": ENVIRONMENT.neuron_image_uri,
    "TRAINING_ROLE_ARN": ENVIRONMENT.role_arn, "TRAINING_SUBNET_IDS": "subnet-a, subnet-b",
    "TRAINING_SECURITY_GROUP_IDS": "sg-training", "TRAINING_KMS_KEY_ARN": ENVIRONMENT.kms_key_id,
    "MLFLOW_TRACKING_SERVER_ARN": MLFLOW, "MAX_RUNTIME_SECONDS": "86400",
    # What the start function checks a run and its plan against again (openforge_lambda.start_check).
    "DATASETS_BUCKET": DATASETS, "ARTIFACTS_BUCKET": ARTIFACTS,
}


def run_and_plan(**change) -> tuple[dict, dict]:
    """A run as ValidateInput returns it (normalised) and its plan (run_plan.plan_run), as the
    state machine carries them (JSON): two mixes."""
    run = parse_run({"job_name": "tickets", "customer_data_s3_uri": f"s3://{DATASETS}/raw/tickets/",
                     "mixing": {"customer_data_percent": 75, "curated_weights": {"reasoning": 40, "factuality": 60}},
                     "grid": {"customer_data_percent": [75, 100]}, **change},
                    EnvironmentPolicy(base_model_s3_uri=BASE_MODEL, curated_data_s3_uri=CURATED, evaluation_data_s3_uri=EVALUATION))
    return run.to_dict(), plan_run(run, "exec-1", PlatformLocations(DATASETS, ARTIFACTS)).to_dict()


def step_job(step: str, run: dict, plan: dict, mix: dict | None, mlflow_tracking_uri: str = MLFLOW):
    """The step's job plan from the state's JSON, read as each step's Lambda reads it."""
    return job_plan(step, Run.from_dict(run), RunPlan.from_dict(plan), Mix.from_dict(mix) if mix is not None else None,
                    mlflow_tracking_uri=mlflow_tracking_uri)


def request_for(step: str, run: dict, plan: dict, mix: dict | None, environment: TrainingEnvironment = ENVIRONMENT) -> dict:
    """The CreateTrainingJob arguments StartTrainingJob sends for the step."""
    return training_job_request(step_job(step, run, plan, mix, environment.mlflow_tracking_server_arn), environment)


def channels(request: dict) -> dict:
    return {channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"] for channel in request["InputDataConfig"]}


def _stop_training_job(self):
    """StopTrainingJob as SageMaker does it, short of the wait: the job is Stopping."""
    name = self._get_param("TrainingJobName")
    job = self.sagemaker_backend.training_jobs.get(name)
    if job is None:
        raise ValidationError(message=f"Could not find training job '{name}'.")
    job.training_job_status = "Stopping"
    return "{}"


class SageMaker:
    def __init__(self):
        self.client = boto3.client("sagemaker")

    @property
    def backend(self):
        return sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def set_job(self, name: str, state: str, reason: str | None = None) -> None:
        """What SageMaker does on its own over hours, which moto does at once."""
        job = self.backend.training_jobs[name]
        job.training_job_status = state
        if reason:
            job.failure_reason = reason


@pytest.fixture
def sagemaker(aws, monkeypatch) -> SageMaker:
    original_create = SageMakerResponse.create_training_job

    def create_training_job(self):
        name = self._get_param("TrainingJobName")
        if name in self.sagemaker_backend.training_jobs:
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a training job with this name "
                f"already exists (arn:aws:sagemaker:us-east-1:{DEFAULT_ACCOUNT_ID}:training-job/{name})")
        return original_create(self)

    monkeypatch.setattr(SageMakerResponse, "create_training_job", create_training_job)
    monkeypatch.setattr(SageMakerResponse, "stop_training_job", _stop_training_job, raising=False)
    return SageMaker()


@pytest.fixture
def created_in_progress(sagemaker, monkeypatch):
    """CreateTrainingJob as SageMaker answers it: the job is InProgress (moto finishes it at once)."""
    create = SageMakerResponse.create_training_job

    def create_in_progress(self):
        response = create(self)
        self.sagemaker_backend.training_jobs[self._get_param("TrainingJobName")].training_job_status = "InProgress"
        return response

    monkeypatch.setattr(SageMakerResponse, "create_training_job", create_in_progress)
    for name, value in ENVIRONMENT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    return sagemaker
