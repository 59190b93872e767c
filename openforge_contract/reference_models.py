"""The four models the capacity plan is checked and documented against: the fields of each
published ``config.json`` that decide its size (from the models' Hugging Face repositories,
meta-llama/Llama-3.1-8B, meta-llama/Llama-3.1-70B, Qwen/Qwen2.5-7B,
mistralai/Mistral-7B-v0.1), and the size each model card publishes; plus meta-llama/Llama-3.2-1B,
which only the data-path benchmark uses (the small end of what a GPU consumes)."""
from __future__ import annotations

CONFIGS: dict[str, dict] = {
    "Llama-3.1-8B": {"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False, "attention_bias": False},
    "Llama-3.1-70B": {"model_type": "llama", "vocab_size": 128256, "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
                      "num_attention_heads": 64, "num_key_value_heads": 8, "tie_word_embeddings": False, "attention_bias": False},
    "Qwen2.5-7B": {"model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                   "num_attention_heads": 28, "num_key_value_heads": 4, "tie_word_embeddings": False},
    "Mistral-7B-v0.1": {"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False},
}
# The data-path benchmark's models: the reference models and a small one.
BENCHMARK_CONFIGS: dict[str, dict] = {**CONFIGS, "Llama-3.2-1B": {
    "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "tie_word_embeddings": True, "attention_bias": False}}
PUBLISHED_PARAMETERS: dict[str, float] = {"Llama-3.1-8B": 8.03e9, "Llama-3.1-70B": 70.6e9, "Qwen2.5-7B": 7.61e9, "Mistral-7B-v0.1": 7.24e9,
                                         "Llama-3.2-1B": 1.23e9}
