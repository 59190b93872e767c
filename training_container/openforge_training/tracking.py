"""MLflow: where runs go, the tag schema every run carries, and what the compute was."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import logging


from openforge_contract.environment_variables import TRAINING_JOB_NAME

from .config import RunConfig


# The sagemaker-mlflow plugin's header provider warns on every request to a non-SageMaker
# (http) server; the requests themselves succeed.
logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)


def compute_description(input_dir: str, device_kind: str) -> str:
    """``4x-ml.p5.48xlarge`` under SageMaker, ``2x-slurm`` on HyperPod, else ``local-cpu``."""
    resource_config = Path(input_dir) / "config" / "resourceconfig.json"
    if resource_config.is_file():
        resources = json.loads(resource_config.read_text())
        return f"{len(resources.get('hosts', [1]))}x-{resources.get('current_instance_type', 'unknown')}"
    if "SLURM_JOB_NUM_NODES" in os.environ:
        return f"{os.environ['SLURM_JOB_NUM_NODES']}x-slurm-{device_kind}"
    return f"local-{device_kind}"


def run_tags(config: RunConfig, *, dataset_version: str, compute: str) -> dict[str, str]:
    t = config.tuning
    return {
        "project": config.tracking.project,
        "experiment": config.tracking.experiment,
        "mix_ratio": f"{config.mix.customer_data_percent / 100:g}",  # the seed's MLflow tag: customer_data_percent as a share
        "method": t.method,
        "lora_rank": str(t.lora_rank) if t.method == "lora" else "none",
        "lr": f"{t.learning_rate:g}",
        "seed": str(t.seed),
        "compute": compute,
        "dataset_version": dataset_version,
        "commit_hash": config.tracking.commit_hash or "unknown",
    }


@contextmanager
def mlflow_run(config: RunConfig, tags: dict[str, str], params: dict):
    """An active MLflow run when a tracking URI is set (ARN via sagemaker-mlflow, or http);
    otherwise nothing is tracked and ``None`` is yielded."""
    uri = config.tracking.mlflow_tracking_uri
    if not uri:
        yield None
        return
    import mlflow  # only when tracking: it is a heavy import

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(config.tracking.experiment)
    run_name = config.tracking.run_name or os.environ.get(TRAINING_JOB_NAME)
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        mlflow.log_params({k: v for k, v in params.items() if v is not None})
        yield run


def log_metrics(metrics: dict, step: int) -> None:
    import sys

    mlflow = sys.modules.get("mlflow")  # imported by mlflow_run when tracking is on
    if mlflow is not None and mlflow.active_run() is not None:
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            mlflow.log_metrics(numeric, step=step)
