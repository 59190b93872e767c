"""The capacity plan ``start`` prints before it sends anything: what each device will hold on
the instances the input asks for, from the base model's config.json (read with the caller's
own credentials; no weights). A run that cannot fit is refused here with the fixes, as
ValidateInput would refuse it in the cloud; where config.json cannot be read from here, the
client says so and leaves the check to ValidateInput."""
from __future__ import annotations

from collections.abc import Mapping

from openforge_contract import naming
from openforge_contract.s3_layout import DEFAULT_BASE_MODEL
from pipeline.cli.terminal import UsageError


def default_base_model(env: str | None, account: str | None, region: str) -> str | None:
    """The environment's default base model (DataStack's artifacts bucket), when the environment is known."""
    if not env or not account:
        return None
    return f"s3://{naming.bucket_name(env, 'artifacts', account, region)}/{DEFAULT_BASE_MODEL}"


def capacity_lines(s3, pipeline_input: Mapping, default_base_model_s3_uri: str | None) -> list[str]:
    """The plan as lines to print; UsageError with the fixes when the run cannot fit."""
    from botocore.exceptions import BotoCoreError, ClientError

    from openforge_contract.capacity import UnsupportedModel
    from openforge_lambda.capacity_check import plan_for, read_model_config
    from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, normalise
    from openforge_lambda.run import Run

    base_model = pipeline_input.get("base_model_s3_uri") or default_base_model_s3_uri
    if not base_model:
        return ["Capacity plan: not shown (the environment's default base model is not known here); ValidateInput checks it"]
    stand_in = "s3://environment-default/"  # only the base model matters to the plan
    run = Run.from_dict(normalise(dict(pipeline_input), EnvironmentPolicy(base_model_s3_uri=base_model, curated_data_s3_uri=stand_in,
                                                                          evaluation_data_s3_uri=stand_in)))
    try:
        plan = plan_for(run, read_model_config(s3, base_model))
    except PipelineInputError as error:
        if error.field == "base_model_s3_uri" and "AccessDenied" in error.problem:
            return [f"Capacity plan: not shown ({error.problem}); ValidateInput checks it"]
        raise UsageError(str(error)) from None
    except (ClientError, BotoCoreError) as error:
        return [f"Capacity plan: not shown (cannot read {base_model}config.json here: {error}); ValidateInput checks it"]
    except UnsupportedModel as error:
        return [f"Capacity plan: not checked ({error})"]
    if plan.problems:
        raise UsageError("this run cannot start: " + plan.refusal())
    return ["Capacity plan:", *(f"  {line}" for line in plan.lines())]
