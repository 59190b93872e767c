"""Reading the synthesised fine-tuning pipeline stack: its template, policy statements and
state machine definition, the configuration it was built from, its functions' settings."""
from __future__ import annotations

import json

from platform_config.environments import load_environment
from tests.conftest import CONTEXT


def pipeline(env):
    return env.templates["Pipeline"]


def statements(template) -> list[dict]:
    return [s for policy in template.find_resources("AWS::IAM::ManagedPolicy").values() for s in policy["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def definition(template) -> dict:
    """The state machine's definition with every intrinsic function replaced by a placeholder."""
    [machine] = template.find_resources("AWS::StepFunctions::StateMachine").values()
    body = machine["Properties"]["DefinitionString"]
    if isinstance(body, dict):
        body = "".join(part if isinstance(part, str) else "X" for part in body["Fn::Join"][1])
    return json.loads(body)


def all_states(states: dict) -> dict:
    found = {}
    for name, state in states.items():
        found[name] = state
        if state["Type"] == "Map":
            found.update(all_states(state["ItemProcessor"]["States"]))
    return found


def environment_config(env):
    """The environment's configuration, as the app read it from cdk.json."""
    return load_environment(CONTEXT, env.platform.pipeline.stack_name.split("-")[1])


def function_environment(env, name: str) -> dict:
    """The environment variables of the pipeline's function ``name`` (ValidateInput, ...)."""
    function = env.platform.pipeline.pipeline.functions[name]
    logical_id = env.platform.pipeline.get_logical_id(function.node.default_child)
    return pipeline(env).find_resources("AWS::Lambda::Function")[logical_id]["Properties"]["Environment"]["Variables"]
