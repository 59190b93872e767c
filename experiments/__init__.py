"""Experiments run against the training container: small models on generated data (``synthetic_data``), measured results."""
