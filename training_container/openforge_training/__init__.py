"""OpenForge's training container: exact per-batch data mixing, LoRA or full SFT, MLflow, export."""
