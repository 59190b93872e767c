"""Undo a deployment: roll an endpoint back to what it served before (or delete one the
deployment created), then delete the deployment's config and model once nothing uses them;
and find a deployment by its derived names when the failed state left no record of it.
"""
from __future__ import annotations

from collections.abc import Mapping

from openforge_lambda.endpoint import PREVIOUS_CONFIG_TAG, UPDATABLE_STATES, configs_in_use, deployment_name
from openforge_lambda.sagemaker_calls import delete, describe, tag_value


def find_deployment(client, endpoint_name: str, execution_name: str) -> dict | None:
    """The record deploy would have returned, rebuilt from what exists under this
    deployment's derived names (the clean-up's way when the failed state left none);
    None when neither its model nor its config exists."""
    name = deployment_name(endpoint_name, execution_name)
    config = describe(client.describe_endpoint_config, EndpointConfigName=name)
    if config is None and describe(client.describe_model, ModelName=name) is None:
        return None
    previous = tag_value(client, config["EndpointConfigArn"], PREVIOUS_CONFIG_TAG) if config else None
    return {"endpoint_name": endpoint_name, "model_name": name, "endpoint_config_name": name,
            "previous_endpoint_config_name": previous, "created_endpoint": previous is None, "action": "found"}


def roll_back(client, deployed: Mapping) -> dict:
    """Undo a deployment that failed: a new endpoint is deleted; an updated one is pointed
    back at its previous config. The new config and model are deleted once nothing uses
    them; ``done`` is False while that has to wait (call again after the endpoint settles)."""
    endpoint_name, config_name = deployed["endpoint_name"], deployed["endpoint_config_name"]
    previous = deployed.get("previous_endpoint_config_name")
    endpoint = describe(client.describe_endpoint, EndpointName=endpoint_name)
    result = {"endpoint_name": endpoint_name, "actions": [], "deleted": [], "problem": None}

    if endpoint is not None and config_name in configs_in_use(endpoint):
        state = endpoint["EndpointStatus"]
        if previous is None:
            client.delete_endpoint(EndpointName=endpoint_name)
            result["actions"].append(f"deleted endpoint {endpoint_name} (created by this deployment, {state})")
            endpoint = None
        elif state in UPDATABLE_STATES:
            client.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=previous)
            result["actions"].append(f"updated endpoint {endpoint_name} back to {previous}")
            endpoint = describe(client.describe_endpoint, EndpointName=endpoint_name)
        else:
            result["problem"] = (f"endpoint {endpoint_name} is {state} and cannot be updated back to {previous} now"
                                 + (f": {endpoint['FailureReason']}" if endpoint.get("FailureReason") else ""))

    if endpoint is None or config_name not in configs_in_use(endpoint):
        for deleted in (delete(client.delete_endpoint_config, EndpointConfigName=config_name),
                        delete(client.delete_model, ModelName=deployed["model_name"])):
            if deleted:
                result["deleted"].append(deleted)
    result["done"] = result["problem"] is None and (endpoint is None or config_name not in configs_in_use(endpoint))
    return result
