"""Shared, session-scoped synthesis: each environment is built once per test run."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from app import build_app
from stacks.platform import Platform
from tests import aws_strict

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
ENVIRONMENTS = sorted(CONTEXT["environments"])

aws_strict.install()  # every botocore request in this process is checked the way AWS checks it


def pytest_configure(config):
    config.addinivalue_line("markers", "aws_refuses(reason): the test sends a request AWS refuses on purpose, to show the "
                                       "refusal (a ValidationException); it must send at least one")


@pytest.fixture(autouse=True)
def aws_requests_as_strict_as_aws(request):
    """Fails a test any of whose AWS requests (its own, a Lambda handler's, the CLI's, moto's
    Step Functions interpreter's) breaks the service model or a documented AWS rule, even
    when the code under test swallowed the ValidationException. Costs nothing without requests."""
    refuses_on_purpose = request.node.get_closest_marker("aws_refuses")
    with aws_strict.recording() as recorded:
        yield
    if refuses_on_purpose is None and recorded.refused:
        pytest.fail(aws_strict.report(recorded.refused), pytrace=False)
    if refuses_on_purpose is not None and not recorded.refused:
        pytest.fail("marked aws_refuses, but AWS would accept every request this test made", pytrace=False)


@dataclass
class Synthesised:
    app: App
    platform: Platform
    templates: dict[str, Template]

    def resources(self, resource_type: str) -> dict[str, tuple[str, dict]]:
        """{logical id: (stack name, resource)} across every stack of the environment."""
        found = {}
        for stack_name, template in self.templates.items():
            for logical_id, resource in template.find_resources(resource_type).items():
                found[logical_id] = (stack_name, resource)
        return found


def synthesise(tmp_dir: Path, env_name: str, environments: dict | None = None) -> Synthesised:
    context = copy.deepcopy(CONTEXT)
    if environments is not None:
        context["environments"] = environments
    app, platform = build_app(context={**context, "env": env_name}, outdir=str(tmp_dir))
    stacks = (platform.data, platform.network, platform.tracking, platform.compute, platform.sanitisation, platform.pipeline)
    return Synthesised(app, platform, {stack.stack_name.rsplit("-", 1)[-1]: Template.from_stack(stack) for stack in stacks})


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def env(request, tmp_path_factory) -> Synthesised:
    return synthesise(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="session")
def dev(tmp_path_factory) -> Synthesised:
    """The dev environment, for tests that run its state machines (one synth per session)."""
    return synthesise(tmp_path_factory.mktemp("dev"), "dev")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny Llama-architecture model and tokenizer built here (never downloaded)."""
    from synthetic_data.tiny_model import build_model

    return build_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on loopback with a SQLite store (the local runner's), shared by the whole session."""
    from pipeline.local.tracking import mlflow_server as local_mlflow_server

    with local_mlflow_server(tmp_path_factory.mktemp("mlflow")) as server:
        yield server.ready()
