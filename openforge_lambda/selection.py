"""Pick the model after the mixing grid, on S3 (the PickModel Lambda): read every mix's
evaluation.json and openforge-run.json, choose (``choice``), and write comparison.json,
comparison.md and comparison.svg (``comparison_report``) under the run's report prefix, under KMS.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from openforge_contract.environment_variables import OutputKey
from openforge_contract.run_record import EVALUATION_RESULTS, RUN_RECORD
from openforge_lambda.choice import choose, run_summary
from openforge_lambda.comparison_report import report_documents
from openforge_lambda.run import Run
from openforge_lambda.run_plan import RunPlan
from openforge_lambda.s3_streams import ObjectWriter, split_s3_uri

READ_LIMIT = 32 * 1024 * 1024  # an evaluation.json is KBs; anything near this is not one


def pick(s3, run: Run, plan: RunPlan, results: Iterable[Mapping], kms_key_id: str | None = None) -> dict:
    """Read every mix's evaluation.json and openforge-run.json (``results``: one outcome per mix,
    from the state machine's Map), choose, write the comparison under the plan's report prefix
    (SSE-KMS, OUTPUT_KMS_KEY_ID unless given), and return
    {"passed", "error", "cause", "chosen", "runs", "report_s3_uri"}: summaries only, small enough
    for a Step Functions state."""
    kms_key_id = kms_key_id or OutputKey.from_environment(os.environ).kms_key_id
    report_s3_uri = plan.report_s3_uri.rstrip("/") + "/"
    bucket, prefix = split_s3_uri(report_s3_uri)
    rows = [_outcome_row(s3, outcome) for outcome in results]
    choice = choose(rows)
    extra = {"execution_name": plan.execution_name, "run_id": plan.run_id, "job_name": run.job_name,
             "retention_limit": run.evaluation.limits.min_general_retention}
    for name, (body, content_type) in report_documents(rows, choice, **extra).items():
        with ObjectWriter(s3, bucket, prefix + name, kms_key_id, content_type=content_type) as out:
            out.write(body)
    return {"passed": choice["passed"], "error": choice["error"], "cause": choice["cause"], "chosen": choice["chosen"], "runs": rows,
            "report_s3_uri": report_s3_uri}


def _outcome_row(s3, outcome: Mapping) -> dict:
    mix = outcome.get("mix") or {}
    if outcome.get("failed"):
        return run_summary(mix, None, None, outcome["failed"], None)
    training, evaluation = outcome.get("training") or {}, outcome.get("evaluation") or {}
    for step, job in (("training", training), ("evaluation", evaluation)):
        if job.get("status") != "Completed" or not job.get("output_s3_uri"):
            cause = job.get("failure_reason") or f"the job ended {job.get('status') or 'without a status'}" + (
                "" if job.get("output_s3_uri") else " and left no output location")
            return run_summary(mix, None, None, {"step": step, "cause": cause}, None)
    try:
        results = read_json(s3, _join(evaluation["output_s3_uri"], EVALUATION_RESULTS))
        record = read_json(s3, _join(training["output_s3_uri"], RUN_RECORD))
    except ValueError as error:
        return run_summary(mix, None, None, {"step": "evaluation", "cause": str(error)}, None)
    return run_summary(mix, results, record, None, training["output_s3_uri"])


def read_json(s3, uri: str):
    """The object's JSON; ValueError naming the object and S3's (or the parser's) error."""
    try:
        bucket, key = split_s3_uri(uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(READ_LIMIT + 1)
        if len(body) > READ_LIMIT:
            raise ValueError(f"larger than {READ_LIMIT} bytes")
        return json.loads(body)
    except (ClientError, BotoCoreError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"cannot read {uri}: {error}") from None


def _join(prefix: str, name: str) -> str:
    return prefix.rstrip("/") + "/" + name
