"""CDK apps the tests synthesise as `python -m tests.apps.<name>` from the repository root."""
