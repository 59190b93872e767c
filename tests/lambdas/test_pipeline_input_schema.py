"""The pipeline input's schema stays in step with what it describes: the training
container's hyperparameter and gate names and defaults, and the published copy in schemas/."""
import json
from dataclasses import fields
from pathlib import Path

from openforge_training import config as training_config
from openforge_training import evaluate
from transformers import SchedulerType

from openforge_lambda.pipeline_input import SCHEMA  # isort: skip

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "schemas" / "pipeline-input.schema.json"


def defaults(*classes) -> dict:
    return {f.name: f.default for cls in classes for f in fields(cls)}


def block(*path: str) -> dict:
    schema = SCHEMA
    for name in path:
        schema = schema["properties"][name]
    return schema


def test_hyperparameters_are_the_training_containers_with_its_defaults():
    container = defaults(training_config.MixArguments, training_config.TuningArguments)
    ours = {name: field["default"] for name, field in block("hyperparameters")["properties"].items()}
    assert set(ours) <= set(container), f"not training-container hyperparameters: {sorted(set(ours) - set(container))}"
    assert ours == {name: container[name] for name in ours}
    assert block("mixing", "customer_data_percent")["default"] == container["customer_data_percent"]
    assert set(block("method")["enum"]) == {"lora", "full"} and block("method")["default"] == container["method"]
    assert set(block("hyperparameters", "precision")["enum"]) == {"auto", "bf16", "fp32"}
    assert set(block("hyperparameters", "lr_scheduler_type")["enum"]) <= {scheduler.value for scheduler in SchedulerType}


def test_evaluation_uses_the_gates_names_and_defaults():
    limits = {name: field["default"] for name, field in block("evaluation", "limits")["properties"].items()}
    assert limits == defaults(evaluate.GateArguments)
    assert block("evaluation", "benchmarks")["default"] == list(evaluate.BENCHMARKS) == block("evaluation", "benchmarks")["items"]["enum"]


def test_every_field_has_a_description_and_every_optional_field_a_default():
    def walk(schema: dict, path: str, required: bool):
        assert schema.get("description"), f"{path or '(input)'} has no description"
        assert required or "default" in schema, f"{path} has no default"
        for name, field in schema.get("properties", {}).items():
            walk(field, f"{path}.{name}".lstrip("."), name in schema.get("required", ()))
        if "properties" in schema:
            assert schema["additionalProperties"] is False, f"{path or '(input)'} accepts unknown fields"

    walk(SCHEMA, "", required=True)


def test_the_published_schema_is_the_code_s():
    assert PUBLISHED.read_text() == json.dumps(SCHEMA, indent=2) + "\n", (
        "schemas/pipeline-input.schema.json is out of date: "
        ".venv/bin/python -m openforge_lambda.pipeline_input > schemas/pipeline-input.schema.json")
