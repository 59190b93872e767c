"""Given the pipeline's input as a console user writes it, when ValidateInput runs, then
every example passes with its defaults filled, and a bad input fails with a message that
names the field, before anything is created."""
import json
from pathlib import Path

import pytest

from tests.lambdas.conftest import LambdaContext, load_handler

from openforge_contract.reference_models import CONFIGS  # isort: skip

from openforge_lambda.pipeline_input import SCHEMA, EnvironmentPolicy, PipelineInputError, normalise  # isort: skip

ROOT = Path(__file__).resolve().parents[2]
DATASETS = "s3://openforge-dev-datasets-111111111111-us-east-1"
ARTIFACTS = "s3://openforge-dev-artifacts-111111111111-us-east-1"
POLICY = EnvironmentPolicy(base_model_s3_uri=f"{ARTIFACTS}/base-models/default/", curated_data_s3_uri=f"{DATASETS}/curated/",
                           evaluation_data_s3_uri=f"{DATASETS}/evaluation/default/")
MINIMAL = {"job_name": "support-tickets", "customer_data_s3_uri": f"{DATASETS}/raw/support-tickets/"}


def example(name: str) -> dict:
    return json.loads((ROOT / "examples" / name).read_text())


def test_the_minimal_example_gets_every_default():
    assert example("pipeline-input.json") == MINIMAL
    assert normalise(MINIMAL, POLICY) == {
        "job_name": "support-tickets",
        "base_model_s3_uri": POLICY.base_model_s3_uri,
        "customer_data_s3_uri": MINIMAL["customer_data_s3_uri"],
        "curated_data_s3_uri": POLICY.curated_data_s3_uri,
        "mixing": {"customer_data_percent": 50, "curated_weights": None},
        "method": "lora",
        "hyperparameters": {"lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.05, "lora_target_modules": "all-linear",
                            "learning_rate": 1e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.03, "weight_decay": 0.0,
                            "num_epochs": 1.0, "max_steps": -1, "global_batch_size": 32, "per_device_batch_size": 4,
                            "max_length": 2048, "seed": 42, "precision": "auto", "gradient_checkpointing": True,
                            "sharding": "auto"},
        "compute": {"target": "training-job", "instance_type": "ml.p5.48xlarge", "instance_count": 1},
        "evaluation": {"benchmarks": ["mmlu", "ifeval", "byod"], "limits": {"min_general_retention": 0.97, "min_domain_gain": 0.02, "waive_general_check": False},
                       "data_s3_uri": POLICY.evaluation_data_s3_uri},
        "deploy": {"enabled": False, "instance_type": "ml.g5.2xlarge"},
        "grid": None,
    }


def test_the_full_example_is_kept_as_written():
    full = example("pipeline-input-full.json")
    assert set(full) == set(SCHEMA["properties"]), "the full example shows every block"
    assert normalise(full, POLICY) == full


def test_the_grid_example_keeps_its_grid_and_fills_the_rest():
    run = normalise(example("pipeline-input-grid.json"), POLICY)
    assert run["grid"] == {"customer_data_percent": [50, 70, 90, 100]}
    assert run["mixing"] == {"customer_data_percent": 50, "curated_weights": {"reasoning": 40, "instruction_following": 30, "factuality": 30}}
    assert run["hyperparameters"]["global_batch_size"] == 32 and run["curated_data_s3_uri"] == POLICY.curated_data_s3_uri


def test_a_partly_given_block_gets_the_rest_of_its_defaults_and_the_input_is_not_changed():
    given = {**MINIMAL, "hyperparameters": {"learning_rate": 1e-4}, "compute": {"instance_type": "ml.trn1.32xlarge"}}
    run = normalise(given, POLICY)
    assert run["hyperparameters"]["learning_rate"] == 1e-4 and run["hyperparameters"]["lora_rank"] == 16
    assert run["compute"] == {"target": "training-job", "instance_type": "ml.trn1.32xlarge", "instance_count": 1}
    assert given["hyperparameters"] == {"learning_rate": 1e-4}, "the caller's input is left as it was"


BAD_INPUTS = {
    "unknown key": ({"mixing": {"customer_percent": 60}},
                    "mixing.customer_percent: unknown field; expected one of: customer_data_percent, curated_weights"),
    "unknown top-level key": ({"epochs": 3}, "epochs: unknown field; expected one of: job_name, base_model_s3_uri, customer_data_s3_uri, "
                              "curated_data_s3_uri, mixing, method, hyperparameters, compute, evaluation, deploy, grid"),
    "wrong type": ({"compute": {"instance_count": "2"}}, 'compute.instance_count: must be a whole number, got "2"'),
    "a bool for a number": ({"mixing": {"customer_data_percent": True}}, "mixing.customer_data_percent: must be a number, got true"),
    "percent out of range": ({"mixing": {"customer_data_percent": 120}}, "mixing.customer_data_percent: 120 is greater than the maximum of 100"),
    "weights not summing to 100": ({"mixing": {"curated_weights": {"reasoning": 40, "factuality": 50}}},
                                   "mixing.curated_weights: weights must sum to 100, got 90 (reasoning 40 + factuality 50)"),
    "bad category name": ({"mixing": {"curated_weights": {"../etc": 100}}},
                          "mixing.curated_weights: \"../etc\" is not a category name of letters, digits, '_', '-' or '.'"),
    "bad S3 URI": ({"customer_data_s3_uri": "https://example.com/data.jsonl"},
                   'customer_data_s3_uri: must be an S3 URI like s3://bucket/prefix, got "https://example.com/data.jsonl"'),
    "bucket name too short": ({"base_model_s3_uri": "s3://ab/model/"}, 'base_model_s3_uri: must be an S3 URI like s3://bucket/prefix, got "s3://ab/model/"'),
    "bad method": ({"method": "qlora"}, 'method: must be one of lora, full, got "qlora"'),
    "bad compute target": ({"compute": {"target": "ec2"}}, 'compute.target: must be one of training-job, hyperpod, got "ec2"'),
    "bad job name": ({"job_name": "support_tickets"},
                     'job_name: must be 1-41 letters, digits or hyphens, starting and ending with a letter or digit, got "support_tickets"'),
    "job name too long": ({"job_name": "a" * 42}, "job_name: must be 1-41 letters, digits or hyphens"),
    "grid value out of range": ({"grid": {"customer_data_percent": [50, 101]}}, "grid.customer_data_percent[1]: 101 is greater than the maximum of 100"),
    "grid values repeated": ({"grid": {"customer_data_percent": [50, 70, 50]}}, "grid.customer_data_percent: values must be distinct, got [50, 70, 50]"),
    "empty grid": ({"grid": {}}, "grid.customer_data_percent: required"),
    "batch size mismatch": ({"hyperparameters": {"per_device_batch_size": 5}},
                            "hyperparameters.per_device_batch_size: 5 does not divide hyperparameters.global_batch_size 32"),
    "no epochs and no steps": ({"hyperparameters": {"num_epochs": 0}},
                               "hyperparameters.num_epochs: must be greater than 0 unless hyperparameters.max_steps is set"),
    "learning rate of zero": ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate: 0 must be greater than 0"),
    "unknown benchmark": ({"evaluation": {"benchmarks": ["mmlu", "arc"]}}, 'evaluation.benchmarks[1]: must be one of mmlu, ifeval, byod, got "arc"'),
    # What the forgetting gate would refuse whatever the model does, after the whole grid trained.
    "no held-out set": ({"evaluation": {"benchmarks": ["mmlu", "ifeval"]}}, "evaluation.benchmarks: must include byod (your held-out set)"),
    "no general benchmark, no waiver": ({"evaluation": {"benchmarks": ["byod"]}},
                                        "evaluation.benchmarks: has no general benchmark (mmlu, ifeval): nothing would show whether the model "
                                        "forgot, so the gate refuses every model; add one, or set evaluation.limits.waive_general_check to true"),
    "retention of zero": ({"evaluation": {"limits": {"min_general_retention": 0}}},
                          "evaluation.limits.min_general_retention: 0 must be greater than 0"),
    "retention above 1": ({"evaluation": {"limits": {"min_general_retention": 1.5}}},
                          "evaluation.limits.min_general_retention: 1.5 is greater than the maximum of 1"),
    "unknown instance type": ({"compute": {"instance_type": "ml.p5.48xlarg"}}, "compute.instance_type: must be one of "),
    "hyperpod on a training-job type": ({"compute": {"target": "hyperpod", "instance_type": "ml.g5.12xlarge"}},
                                        "compute.instance_type: ml.g5.12xlarge is not a HyperPod worker type; hyperpod runs on one of "),
    "data location missing": ({"customer_data_s3_uri": None}, "customer_data_s3_uri: must be a string, got null"),
    # What SageMaker would refuse later, or what would make two mixes one job.
    "grid points sharing a job name": ({"grid": {"customer_data_percent": [50, 50.0000001]}},
                                       "grid.customer_data_percent: 50 and 50.0000001 would give their jobs the same name (...-t50-...)"),
    "grid points equal in six digits": ({"grid": {"customer_data_percent": [12.34567, 70, 12.34568]}},
                                        "grid.customer_data_percent: 12.34567 and 12.34568 would give their jobs the same name (...-t12p3457-...)"),
    "a hyperparameter longer than SageMaker takes": ({"hyperparameters": {"lora_target_modules": "q_proj," * 400 + "v_proj"}},
                                                     "hyperparameters.lora_target_modules: is 2806 characters long; at most 2500 are allowed"),
    # SageMaker's HyperParameterValue pattern is '.*' in Java, whose '.' takes no line terminator.
    "a hyperparameter with a line break": ({"hyperparameters": {"lora_target_modules": "q_proj\rv_proj"}},
                                          "hyperparameters.lora_target_modules: must be one line of text"),
    "a hyperparameter with a Unicode line separator": ({"hyperparameters": {"lora_target_modules": "q_proj\u2028v_proj"}},
                                                      "hyperparameters.lora_target_modules: must be one line of text"),
    "curated weights longer than a hyperparameter": ({"mixing": {"curated_weights": {f"category-{n:02d}-" + "x" * 52: 2 for n in range(50)}}},
                                                     # 50 x len('"<64 characters>": 2') + 49 x len(", ") + len("{}")
                                                     "mixing.curated_weights: 50 categories make a 3550-character hyperparameter; "
                                                     "SageMaker takes at most 2500"),
    "an S3 URI longer than SageMaker takes": ({"customer_data_s3_uri": f"{DATASETS}/raw/" + "a" * 1000 + "/"},
                                              "customer_data_s3_uri: is 1056 characters long; at most 1023 are allowed"),
}


def test_the_held_out_set_alone_runs_when_the_general_check_is_waived():
    run = normalise({**MINIMAL, "evaluation": {"benchmarks": ["byod"], "limits": {"waive_general_check": True}}}, POLICY)
    assert run["evaluation"]["benchmarks"] == ["byod"] and run["evaluation"]["limits"]["waive_general_check"] is True


@pytest.mark.parametrize("change, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_a_bad_input_fails_naming_the_field(change, message):
    with pytest.raises(PipelineInputError) as raised:
        normalise({**MINIMAL, **change}, POLICY)
    assert str(raised.value).startswith(message), str(raised.value)
    assert str(raised.value) == f"{raised.value.field}: {raised.value.problem}"


def test_required_fields_and_the_whole_input_are_named():
    with pytest.raises(PipelineInputError, match=r"^customer_data_s3_uri: required$"):
        normalise({"job_name": "support-tickets"}, POLICY)
    with pytest.raises(PipelineInputError, match=r"^job_name: required$"):
        normalise({"customer_data_s3_uri": MINIMAL["customer_data_s3_uri"]}, POLICY)
    with pytest.raises(PipelineInputError, match=r"^\(input\): must be a JSON object, got \[\]$"):
        normalise([], POLICY)


def test_without_environment_defaults_the_base_model_and_curated_data_must_be_given():
    with pytest.raises(PipelineInputError, match=r"^base_model_s3_uri: not given, and this environment has no default base model$"):
        normalise(MINIMAL)
    with_model = {**MINIMAL, "base_model_s3_uri": POLICY.base_model_s3_uri}
    with pytest.raises(PipelineInputError, match=r"^curated_data_s3_uri: not given.*\(mixing.customer_data_percent leaves a curated share\)$"):
        normalise(with_model)
    with pytest.raises(PipelineInputError, match=r"^evaluation.data_s3_uri: not given, and this environment has no default evaluation data$"):
        normalise({**with_model, "mixing": {"customer_data_percent": 100}})
    with_evaluation = {**with_model, "evaluation": {"data_s3_uri": POLICY.evaluation_data_s3_uri}}
    customer_only = normalise({**with_evaluation, "mixing": {"customer_data_percent": 100}})
    assert customer_only["curated_data_s3_uri"] is None, "a customer-only run needs no curated data"
    with pytest.raises(PipelineInputError, match=r"^curated_data_s3_uri: .*\(grid.customer_data_percent leaves a curated share\)$"):
        normalise({**with_evaluation, "mixing": {"customer_data_percent": 100}, "grid": {"customer_data_percent": [90, 100]}})


def test_the_environment_limits_are_enforced():
    policy = EnvironmentPolicy.from_environment({
        "DEFAULT_BASE_MODEL_S3_URI": POLICY.base_model_s3_uri, "DEFAULT_CURATED_DATA_S3_URI": POLICY.curated_data_s3_uri,
        "DEFAULT_EVALUATION_DATA_S3_URI": POLICY.evaluation_data_s3_uri, "TRAINING_INSTANCE_TYPES": "ml.p5.48xlarge, ml.g5.12xlarge", "MAX_INSTANCE_COUNT": "2", "ENDPOINT_INSTANCE_TYPES": "ml.g6e.12xlarge"})
    assert policy.training_instance_types == ("ml.p5.48xlarge", "ml.g5.12xlarge") and policy.max_instance_count == 2
    assert EnvironmentPolicy.from_environment({}) == EnvironmentPolicy(hyperpod_cluster=False), "unset: no limit, and no cluster"
    with pytest.raises(PipelineInputError, match=r"^compute\.instance_type: ml\.trn1\.32xlarge is not allowed in this environment "
                                                 r"\(allowed: ml\.p5\.48xlarge, ml\.g5\.12xlarge\)$"):
        normalise({**MINIMAL, "compute": {"instance_type": "ml.trn1.32xlarge"}}, policy)
    with pytest.raises(PipelineInputError, match=r"^compute\.instance_count: 3 is more than this environment's limit of 2$"):
        normalise({**MINIMAL, "compute": {"instance_count": 3}}, policy)
    with pytest.raises(PipelineInputError, match=r"^deploy\.instance_type: ml\.g5\.2xlarge is not allowed in this environment \(allowed: ml\.g6e\.12xlarge\)$"):
        normalise({**MINIMAL, "deploy": {"enabled": True}}, policy)
    assert not normalise(MINIMAL, policy)["deploy"]["enabled"], "an endpoint that is not deployed is not checked"


def test_hyperpod_is_refused_where_the_environment_has_no_cluster():
    hyperpod = {**MINIMAL, "compute": {"target": "hyperpod"}}
    without = EnvironmentPolicy.from_environment({"DEFAULT_BASE_MODEL_S3_URI": POLICY.base_model_s3_uri,
                                                  "DEFAULT_CURATED_DATA_S3_URI": POLICY.curated_data_s3_uri,
                                                  "DEFAULT_EVALUATION_DATA_S3_URI": POLICY.evaluation_data_s3_uri})
    with pytest.raises(PipelineInputError, match=r"^compute\.target: hyperpod: this environment has no HyperPod cluster .*; use training-job$"):
        normalise(hyperpod, without)
    with_cluster = EnvironmentPolicy.from_environment({"HYPERPOD_CLUSTER_NAME": "openforge-dev", "DEFAULT_BASE_MODEL_S3_URI": POLICY.base_model_s3_uri,
                                                       "DEFAULT_CURATED_DATA_S3_URI": POLICY.curated_data_s3_uri,
                                                       "DEFAULT_EVALUATION_DATA_S3_URI": POLICY.evaluation_data_s3_uri})
    assert normalise(hyperpod, with_cluster)["compute"]["target"] == "hyperpod"
    assert normalise(hyperpod, POLICY)["compute"]["target"] == "hyperpod", "not known (the CLI's check): left to ValidateInput"


ENVIRONMENT = {"DEFAULT_BASE_MODEL_S3_URI": POLICY.base_model_s3_uri, "DEFAULT_CURATED_DATA_S3_URI": POLICY.curated_data_s3_uri,
               "DEFAULT_EVALUATION_DATA_S3_URI": POLICY.evaluation_data_s3_uri, "DATASETS_BUCKET": DATASETS.removeprefix("s3://"),
               "ARTIFACTS_BUCKET": ARTIFACTS.removeprefix("s3://"), "POLL_SECONDS": "30"}


BASE_MODEL_CONFIG = "base-models/default/config.json"


def put_base_model_config(body) -> None:
    """The environment's default base model's config.json, in (moto's) artifacts bucket."""
    import boto3

    boto3.client("s3").put_object(Bucket=ARTIFACTS.removeprefix("s3://"), Key=BASE_MODEL_CONFIG,
                                  Body=body if isinstance(body, bytes) else json.dumps(body).encode())


@pytest.fixture
def handler(aws, monkeypatch):
    """The handler, with Llama-3.1-8B's config.json as the default base model's."""
    import boto3

    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS.removeprefix("s3://"))
    put_base_model_config(CONFIGS["Llama-3.1-8B"])
    return load_handler("validate_input")


def test_the_handler_returns_the_normalised_input_and_the_run_plan(handler):
    result = handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())
    assert result["valid"] is True and result["error"] is None
    assert result["run"] == normalise(MINIMAL, POLICY)
    plan = result["plan"]
    assert plan["execution_name"] == "run-1" and plan["poll_seconds"] == 30
    assert plan["sanitisation"] == {"input_prefix": "raw/support-tickets/", "output_prefix": "sanitised/support-tickets/run-1/",
                                    "settings": {}, "max_quarantine_percent": 5.0, "shard_bytes": 512 * 1024 * 1024}
    assert plan["customer_data_s3_uri"] == f"{DATASETS}/sanitised/support-tickets/run-1/clean/"
    [mix] = plan["mixes"]
    assert mix["customer_data_percent"] == 50 and mix["training_job_name"].startswith("support-tickets-t50-")


def test_a_bad_input_is_a_verdict_naming_the_field(handler):
    result = handler({"input": {**MINIMAL, "mixing": {"customer_data_percent": 120}}, "execution_name": "run-1"}, LambdaContext())
    assert result == {"valid": False, "error": {"field": "mixing.customer_data_percent",
                                                "cause": "mixing.customer_data_percent: 120 is greater than the maximum of 100"}}
    assert handler({"input": "not an object", "execution_name": "run-1"}, LambdaContext())["error"]["cause"].startswith("(input): must be a JSON object")


def test_data_outside_the_platform_prefixes_is_refused_before_anything_runs(handler):
    elsewhere = {**MINIMAL, "customer_data_s3_uri": "s3://someone-elses-bucket/raw/tickets/"}
    error = handler({"input": elsewhere, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == "customer_data_s3_uri"
    assert error["cause"].startswith(f"customer_data_s3_uri: s3://someone-elses-bucket/raw/tickets/ is not under {DATASETS}/raw/")
    model = {**MINIMAL, "base_model_s3_uri": f"{DATASETS}/raw/model/"}
    assert handler({"input": model, "execution_name": "run-1"}, LambdaContext())["error"]["field"] == "base_model_s3_uri"


@pytest.mark.parametrize("execution_name", ["run(1)", "tickets!", "o'brien-1", "..", "a" * 257, "../other-job"])
def test_an_execution_name_sagemaker_cannot_tag_with_is_refused_before_anything_runs(handler, execution_name):
    """Step Functions takes these names (it refuses only spaces, brackets, wildcards and " # % \\ ^ | ~ ` $ & , ; : /);
    SageMaker's tag values (openforge:execution) take letters, digits, spaces and _.:/=+-@ only."""
    error = handler({"input": MINIMAL, "execution_name": execution_name}, LambdaContext())["error"]
    assert error["field"] == "execution_name"
    assert error["cause"].startswith(f"execution_name: {execution_name!r} cannot tag the run's SageMaker jobs")
    assert "start the execution again with a name of letters, digits, '-' and '_'" in error["cause"]


def test_an_execution_name_of_any_script_is_taken(handler):
    assert handler({"input": MINIMAL, "execution_name": "tickets-übung_2"}, LambdaContext())["valid"] is True


@pytest.mark.parametrize("field, uri", [
    ("customer_data_s3_uri", DATASETS), ("customer_data_s3_uri", f"{DATASETS}/"), ("customer_data_s3_uri", f"{DATASETS}/raw"),
    ("customer_data_s3_uri", f"{DATASETS}/raw/"), ("customer_data_s3_uri", f"{DATASETS}/raw//tickets/"),
    ("customer_data_s3_uri", f"{DATASETS}/raw/../tickets/"), ("evaluation.data_s3_uri", f"{DATASETS}/evaluation/"),
])
def test_all_of_raw_or_the_bucket_root_is_not_a_runs_data(handler, field, uri):
    """raw/ holds every team's data; a run names its own folder (raw/<job>/)."""
    change = {"customer_data_s3_uri": uri} if field == "customer_data_s3_uri" else {"evaluation": {"data_s3_uri": uri}}
    error = handler({"input": {**MINIMAL, **change}, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == field, error
    folder = field.split(".")[0].replace("customer_data_s3_uri", "raw")
    assert error["cause"].endswith(f"e.g. {DATASETS}/{folder}/support-tickets/"), error["cause"]


def test_hyperpod_needs_the_environments_cluster(handler, monkeypatch):
    hyperpod = {**MINIMAL, "compute": {"target": "hyperpod"}}
    error = handler({"input": hyperpod, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == "compute.target" and "no HyperPod cluster" in error["cause"]
    monkeypatch.setenv("HYPERPOD_CLUSTER_NAME", "openforge-dev")
    with_cluster = load_handler("validate_input")  # the environment is read once per cold start: a new one
    assert with_cluster({"input": hyperpod, "execution_name": "run-1"}, LambdaContext())["valid"] is True


def test_the_run_plan_carries_the_capacity_plan_from_the_base_models_config(handler):
    plan = handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())["plan"]
    capacity = plan["capacity"]
    assert capacity["checked"] is True and capacity["fits"] is True
    assert capacity["settings"]["instance_type"] == "ml.p5.48xlarge" and capacity["settings"]["sharding"] == "none"
    assert 8.0e9 < capacity["model_parameters"] < 8.1e9 and capacity["memory"]["total"] < capacity["usable_memory_bytes"]


def test_a_run_that_cannot_fit_is_refused_naming_its_fixes(handler):
    put_base_model_config(CONFIGS["Llama-3.1-70B"])
    full = {**MINIMAL, "method": "full"}  # sharding auto: sharded over the instance's 8 GPUs, still too big
    error = handler({"input": full, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == "capacity"
    assert error["cause"].startswith("capacity: full-rank SFT of this 70.6B-parameter model needs"), error["cause"]
    assert "use method lora (needs" in error["cause"] and ", or 4 instances with global_batch_size 128 (needs " in error["cause"], error["cause"]


def test_a_refusal_proposes_no_more_instances_than_the_environment_allows(handler, monkeypatch):
    put_base_model_config(CONFIGS["Llama-3.1-70B"])
    monkeypatch.setenv("MAX_INSTANCE_COUNT", "2")
    limited = load_handler("validate_input")  # the environment is read once per cold start: a new one
    error = limited({"input": {**MINIMAL, "method": "full"}, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == "capacity" and "use method lora (needs" in error["cause"], error["cause"]
    assert " instances" not in error["cause"], "70B full-rank SFT needs 4 p5 instances: more than this environment's 2"


def test_lora_targets_that_adapt_nothing_are_refused_naming_the_field(handler):
    for targets in ("qproj", " , ", "all-linear,lm_head", "mlp"):
        error = handler({"input": {**MINIMAL, "hyperparameters": {"lora_target_modules": targets}}, "execution_name": "run-1"}, LambdaContext())["error"]
        assert error["field"] == "hyperparameters.lora_target_modules" and "q_proj, k_proj, v_proj" in error["cause"], error


def test_a_base_model_without_a_readable_config_is_refused_naming_where(handler):
    import boto3

    boto3.client("s3").delete_object(Bucket=ARTIFACTS.removeprefix("s3://"), Key=BASE_MODEL_CONFIG)
    error = handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == "base_model_s3_uri" and f"no config.json at {ARTIFACTS}/{BASE_MODEL_CONFIG}" in error["cause"]
    put_base_model_config(b"{not json")
    error = handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())["error"]
    assert error["field"] == "base_model_s3_uri" and "is not valid JSON" in error["cause"]
    put_base_model_config([1, 2])
    assert "must be a JSON object" in handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())["error"]["cause"]


def test_an_architecture_the_plan_does_not_size_trains_unchecked_and_says_so(handler):
    put_base_model_config({"model_type": "gemma2", "hidden_size": 2304})
    result = handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())
    assert result["valid"] is True
    assert result["plan"]["capacity"]["checked"] is False and "gemma2" in result["plan"]["capacity"]["reason"]


def test_the_fixes_stay_within_the_environments_limits():
    """ValidateInput hands the environment's limits to the plan: no fix asks for more instances
    than max_instance_count, nor a GPU type the environment does not allow."""
    from openforge_lambda.capacity_check import capacity_plan
    from openforge_lambda.run import Run

    full_70b = Run.from_dict(normalise({**MINIMAL, "method": "full"}, POLICY))
    with pytest.raises(PipelineInputError) as unlimited:
        capacity_plan(full_70b, CONFIGS["Llama-3.1-70B"])
    assert "4 instances with global_batch_size 128" in str(unlimited.value)
    limited = EnvironmentPolicy(**{**POLICY.__dict__, "max_instance_count": 2})
    with pytest.raises(PipelineInputError) as within:
        capacity_plan(full_70b, CONFIGS["Llama-3.1-70B"], limited)
    assert " instances " not in str(within.value) and "use method lora" in str(within.value)

    trainium = Run.from_dict(normalise({**MINIMAL, "compute": {"instance_type": "ml.trn1.32xlarge"}, "hyperparameters": {"per_device_batch_size": 1}},
                                       POLICY))
    trn_only = EnvironmentPolicy(**{**POLICY.__dict__, "training_instance_types": ("ml.trn1.32xlarge",)})
    with pytest.raises(PipelineInputError) as no_gpu:
        capacity_plan(trainium, CONFIGS["Llama-3.1-8B"], trn_only)
    assert "instance type" not in str(no_gpu.value)
