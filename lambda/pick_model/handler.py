"""Pick the model after the mixing grid (the forgetting gate): read each mix's
evaluation.json and openforge-run.json, choose among the mixes whose gate passed, and
write comparison.json, comparison.md and comparison.svg under the run's report prefix.

Event: {"run", "plan", "results": [outcome per mix]}; an outcome is {"mix", "training":
<CheckTrainingJob result>, "evaluation": <CheckTrainingJob result>} or {"mix", "failed":
{"step", "cause"}}.
Environment: OutputKey (openforge_contract.environment_variables): the artifacts bucket's key, for
the comparison files.
Returns {"passed", "cause", "chosen": row or null, "runs": [row per mix], "report_s3_uri"};
the chosen row's "model_s3_uri" is what DeployEndpoint takes. A mix whose files cannot be
read is a failed mix with the S3 error as its cause, not a failed Lambda.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_contract.environment_variables import OutputKey
from openforge_lambda.run import Run
from openforge_lambda.run_plan import RunPlan
from openforge_lambda.selection import pick

logger = Logger(service="openforge-pick-model")


@cache
def output_key() -> OutputKey:
    """Read once per cold start: the stack sets it when it deploys the function."""
    return OutputKey.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    result = pick(boto3.client("s3"), Run.from_dict(event["run"]), RunPlan.from_dict(event["plan"]), event["results"],
                  kms_key_id=output_key().kms_key_id)
    chosen = result["chosen"]
    logger.info("model picked" if result["passed"] else "no mix passed the forgetting gate",
                extra={"passed": result["passed"], "cause": result["cause"], "report_s3_uri": result["report_s3_uri"],
                       "chosen": chosen and {key: chosen[key] for key in ("label", "customer_data_percent", "model_s3_uri")},
                       "statuses": {row["label"]: row["status"] for row in result["runs"]}})
    return result
