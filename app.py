#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c env=dev` builds every stack of one environment from
cdk.json, with the security review attached."""

import sys

from aws_cdk import App

from security.nag_packs import add_security_review
from stacks.environment_config import ConfigError, load_environment
from stacks.platform import build_platform


def main() -> None:
    app = App()
    try:
        config = load_environment({"environments": app.node.try_get_context("environments")}, app.node.try_get_context("env"))
    except ConfigError as error:
        sys.exit(f"OpenForge configuration error: {error}")
    build_platform(app, config)
    add_security_review(app)
    app.synth()


if __name__ == "__main__":
    main()
