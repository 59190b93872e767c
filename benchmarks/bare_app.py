"""The platform without the security review: the synth-time benchmark's baseline."""
from aws_cdk import App

from platform_config.environments import load_environment
from stacks.platform import build_platform

app = App()
build_platform(app, load_environment({"environments": app.node.try_get_context("environments")}, app.node.try_get_context("env")))
app.synth()
