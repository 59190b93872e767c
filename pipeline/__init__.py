"""The fine-tuning pipeline outside CDK: its state names, the local runner behind `make
demo`, and the command-line client."""
