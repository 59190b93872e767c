"""A run's settings have one set of defaults: the pipeline input's published schema and the
training and evaluation containers' arguments start from openforge_contract.hyperparameters."""
from __future__ import annotations

from dataclasses import fields

from openforge_contract.hyperparameters import GATE, METHOD, MIXING, TRAINING
from openforge_training.config import MixArguments, TuningArguments
from openforge_training.evaluate import GateArguments

from openforge_lambda.pipeline_input import SCHEMA  # isort: skip


def _defaults(*dataclasses) -> dict:
    return {item.name: item.default for cls in dataclasses for item in fields(cls)}


def test_the_containers_start_from_the_contracts_defaults():
    container = _defaults(MixArguments, TuningArguments, GateArguments)
    for name, value in {**TRAINING, **MIXING, **GATE, "method": METHOD}.items():
        assert container[name] == value, name


def test_the_published_schema_fills_in_the_contracts_defaults():
    properties = SCHEMA["properties"]
    assert {name: spec["default"] for name, spec in properties["hyperparameters"]["properties"].items()} == TRAINING
    assert properties["mixing"]["properties"]["customer_data_percent"]["default"] == MIXING["customer_data_percent"]
    assert properties["method"]["default"] == METHOD
    assert {name: spec["default"] for name, spec in properties["evaluation"]["properties"]["limits"]["properties"].items()} == GATE
