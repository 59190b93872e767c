"""Evaluation of a base and a tuned model on general benchmarks (MMLU-style multiple
choice, IFEval-style verifiable instructions) and the customer's own held-out set, and the
forgetting gate that reads the results."""
