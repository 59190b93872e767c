"""What training may read and write, granted alike to every role training runs as: the
SageMaker training job's role (here) and the HyperPod nodes' role (constructs/hyperpod_cluster)."""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from constructs import Construct
from constructs.job_role import JobRole
from constructs.permissions import (
    BucketRef,
    log_to_mlflow,
    manage_network_interfaces,
    pull_images,
    put_metrics,
    read_clean_outputs,
    read_objects,
    read_write_objects,
    use_key,
    use_key_for_volumes,
    write_logs,
)

from openforge_contract.s3_layout import (CLEAN_OUTPUT, SANITISED_PREFIX, TRAINING_READS_ARTIFACTS, TRAINING_READS_DATASETS, TRAINING_WRITES_ARTIFACTS,
                                          WITHHELD_OUTPUTS)


@dataclass(frozen=True)
class TrainingAccess:
    """The buckets training reads and writes, and the tracking server it logs to."""

    datasets: BucketRef
    artifacts: BucketRef
    tracking_server_arn: str


def grant_training_access(role: JobRole, access: TrainingAccess) -> None:
    datasets, artifacts = access.datasets, access.artifacts
    # Of the sanitiser's output, training reads only the clean lines: quarantine files hold
    # the raw, unscrubbed lines the sanitiser refused.
    read_clean_outputs(role, datasets, SANITISED_PREFIX, clean=CLEAN_OUTPUT, withheld=WITHHELD_OUTPUTS)
    for prefix in TRAINING_READS_DATASETS:
        read_objects(role, datasets, prefix)
    for prefix in TRAINING_READS_ARTIFACTS:
        read_objects(role, artifacts, prefix)
    for prefix in TRAINING_WRITES_ARTIFACTS:
        read_write_objects(role, artifacts, prefix)
    use_key(role, datasets.key_arn, encrypt=False)
    use_key(role, artifacts.key_arn, encrypt=True)
    manage_network_interfaces(role)
    pull_images(role)
    log_to_mlflow(role, access.tracking_server_arn)


class TrainingJobRole(JobRole):
    """The role a SageMaker training or evaluation job started by the pipeline runs as."""

    def __init__(self, scope: Construct, id_: str, *, access: TrainingAccess) -> None:
        super().__init__(scope, id_, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                         description="SageMaker training and evaluation jobs started by the pipeline")
        grant_training_access(self, access)
        use_key_for_volumes(self, access.datasets.key_arn)
        write_logs(self, "/aws/sagemaker/TrainingJobs")
        put_metrics(self, "/aws/sagemaker/TrainingJobs")
