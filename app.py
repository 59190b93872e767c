#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c env=dev` builds every stack of one environment from
cdk.json, with the security review attached."""

from __future__ import annotations

import sys

from aws_cdk import App

from platform_config.environments import ConfigError, load_environment
from security.nag_packs import add_security_review
from stacks.platform import Platform, build_platform


def build_app(**app_options) -> tuple[App, Platform]:
    """The app for the environment named by the `env` context; raises ConfigError."""
    app = App(**app_options)
    config = load_environment({"environments": app.node.try_get_context("environments")}, app.node.try_get_context("env"))
    platform = build_platform(app, config)
    add_security_review(app)
    return app, platform


def main() -> None:
    try:
        app, _ = build_app()
    except ConfigError as error:
        sys.exit(f"OpenForge configuration error: {error}")
    app.synth()


if __name__ == "__main__":
    main()
