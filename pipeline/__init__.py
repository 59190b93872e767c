"""The fine-tuning pipeline outside CDK: the local runner behind `make demo`, and the
command-line client."""
