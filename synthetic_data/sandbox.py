"""A tiny base model and generated data laid out like a SageMaker job's input, so the
entrypoint runs anywhere with no downloads:

    python -m openforge_training.sandbox --out work/sandbox
    python -m openforge_training.train --input_dir work/sandbox/input \\
        --output_dir work/sandbox/model --checkpoint_dir work/sandbox/checkpoints ...

The model is a Llama-architecture network built from a config (random weights) with a
byte-level BPE tokenizer trained here on the generated text, plus a chat template.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SPECIAL_TOKENS = ["<|pad|>", "<|begin|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ '<|begin|>' }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TICKET_LABELS = ["billing", "login", "shipping", "refund", "bug", "feature", "account", "privacy"]
TICKET_PHRASES = {
    "billing": ["I was charged twice", "my invoice total is wrong", "the card payment failed"],
    "login": ["I cannot sign in", "password reset link expired", "two factor code never arrives"],
    "shipping": ["my parcel is late", "tracking shows no movement", "delivered to the wrong address"],
    "refund": ["I want my money back", "refund still not received", "return was approved but no refund"],
    "bug": ["the app crashes on start", "export button does nothing", "page shows an error"],
    "feature": ["please add dark mode", "can you support CSV import", "I would like a calendar view"],
    "account": ["change my email address", "merge two accounts", "close my account"],
    "privacy": ["delete my personal data", "who can see my profile", "download a copy of my data"],
}
WORDS = "apple river stone cloud green quick seven table light music north paper glass tiger ocean".split()


def customer_record(rng: random.Random) -> dict:
    label = rng.choice(TICKET_LABELS)
    text = f"Ticket: {rng.choice(TICKET_PHRASES[label])}, order {rng.randint(100, 999)}."
    return {"input": f"Classify this support ticket.\n{text}", "output": label}


def reasoning_record(rng: random.Random) -> dict:
    a, b = rng.randint(2, 60), rng.randint(2, 60)
    return {"messages": [{"role": "user", "content": f"What is {a} + {b}?"}, {"role": "assistant", "content": str(a + b)}]}


def instruction_record(rng: random.Random) -> dict:
    words = rng.sample(WORDS, 3)
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Follow the instruction exactly."}],
        "messages": [
            {"role": "user", "content": [{"text": f"Write these words in upper case: {' '.join(words)}"}]},
            {"role": "assistant", "content": [{"text": " ".join(w.upper() for w in words)}]},
        ],
    }


def factual_record(rng: random.Random) -> dict:
    word = rng.choice(WORDS)
    return {"messages": [{"role": "user", "content": f"How many letters are in the word {word}?"}, {"role": "assistant", "content": str(len(word))}]}


CURATED_GENERATORS = {"reasoning": reasoning_record, "instruction_following": instruction_record, "factuality": factual_record}


def write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def write_data(data_dir: Path, *, customer: int = 400, per_category: int = 200, validation: int = 40, seed: int = 0) -> None:
    """``data_dir/{customer,curated/<category>,validation}`` as JSONL in all three formats."""
    rng = random.Random(seed)
    write_jsonl(data_dir / "customer" / "tickets-000.jsonl", (customer_record(rng) for _ in range(customer // 2)))
    write_jsonl(data_dir / "customer" / "tickets-001.jsonl", (customer_record(rng) for _ in range(customer - customer // 2)))
    for category, generate in CURATED_GENERATORS.items():
        write_jsonl(data_dir / "curated" / category / "part-000.jsonl", (generate(rng) for _ in range(per_category)))
    write_jsonl(data_dir / "validation" / "held-out.jsonl", (customer_record(rng) for _ in range(validation)))


def corpus(seed: int = 0, size: int = 2000) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(size):
        for record in (customer_record(rng), reasoning_record(rng), instruction_record(rng), factual_record(rng)):
            texts.append(json.dumps(record))
    return texts


def build_tokenizer(texts: list[str], vocab_size: int = 1000):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|begin|>", eos_token="<|end|>", pad_token="<|pad|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(model_dir: Path, *, hidden_size: int = 64, layers: int = 2, heads: int = 4, vocab_size: int = 1000, seed: int = 0,
                texts: list[str] | None = None) -> Path:
    """A randomly initialised Llama-architecture model and its tokenizer (trained on
    ``texts``, default the sandbox's own corpus), in HF format."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(texts if texts is not None else corpus(seed), vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def build(out: Path, *, seed: int = 0, customer: int = 400, per_category: int = 200) -> Path:
    """``out/input/data/{model,customer,curated,validation}``; returns ``out/input``."""
    data = out / "input" / "data"
    build_model(data / "model", seed=seed)
    write_data(data, customer=customer, per_category=per_category, seed=seed)
    return out / "input"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to create the sandbox in")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build(args.out, seed=args.seed))


if __name__ == "__main__":
    main()
