"""Experiments run against the training container: generated data, small models, measured results."""
