"""One status check of a started step for the Wait/Choice loop: a training job's
DescribeTrainingJob, or the Slurm job's status the HyperPod submitter wrote to S3.

Event: {"job": the record StartTrainingJob returned, "poll": {"poll_seconds", "age_divisor",
"execution_started"} (openforge_lambda.polling)}
Environment: none (hyperpod: the bucket and cluster are in the job record).
Returns {"job_name", "step", "target", "status": InProgress|Completed|Failed|Stopped, "done",
"failure_reason", "output_s3_uri": the model's S3 prefix once Completed, "wait_seconds": how
long the loop waits before the next check}.
"""
from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.pipeline_steps import check_training_step

logger = Logger(service="openforge-check-training-job")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    result = check_training_step(boto3.client, event["job"], event.get("poll"))
    (logger.warning if result["status"] in ("Failed", "Stopped") else logger.info)("training step status", extra=result)
    return result
