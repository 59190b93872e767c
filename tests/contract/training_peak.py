"""Peak resident memory of real training, for the capacity plan's memory test: run as a
subprocess with a JSON spec; prints {"baseline_bytes": n, "peak_bytes": n}. The baseline is
what the process holds after the same training of a model too small to matter (every library
loaded and warm), so the difference is what the spec's model's training added at its peak.

Both count anonymous memory only (RssAnon: tensors, the heap), sampled while training: on a
busy machine the kernel drops clean file-backed pages (the libraries' code) from a process's
resident set at any time, which would move a total-RSS baseline by a hundred MiB."""
import gc
import json
import sys
import threading

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM, Trainer, TrainingArguments

NEGLIGIBLE = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}


def anonymous_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("RssAnon:"))  # kB


class PeakSampler(threading.Thread):
    """The largest RssAnon seen, read every millisecond (torch releases the GIL while it computes)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = anonymous_bytes(), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, anonymous_bytes())
            threading.Event().wait(0.001)

    def stop(self) -> int:
        self.running = False
        self.join()
        return max(self.peak, anonymous_bytes())


def train(spec: dict) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**spec["config"]), dtype=torch.float32)
    model.config.use_cache = False  # as the training container does
    if spec["method"] == "lora":
        model = get_peft_model(model, LoraConfig(r=spec["lora_rank"], lora_alpha=2 * spec["lora_rank"], lora_dropout=spec["lora_dropout"],
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    rows, length, vocab = spec["rows"], spec["max_length"], spec["config"]["vocab_size"]
    positions = torch.cat([torch.arange(length // 2), torch.arange(length - length // 2)])  # two packed records a row

    def micro_batch(index: int) -> dict:
        ids = torch.randint(0, vocab, (rows, length), generator=torch.Generator().manual_seed(index))
        return {"input_ids": ids, "labels": ids.clone(), "position_ids": positions.repeat(rows, 1)}

    # Two steps of two micro-batches: the optimiser's states exist and the gradients are held through a forward pass.
    arguments = TrainingArguments(output_dir=spec["output_dir"], per_device_train_batch_size=1, gradient_accumulation_steps=2, max_steps=2,
                                  activation_checkpointing=spec["gradient_checkpointing"], report_to="none", save_strategy="no", use_cpu=True,
                                  disable_tqdm=True, remove_unused_columns=False, logging_steps=1000)
    Trainer(model=model, args=arguments, train_dataset=[micro_batch(i) for i in range(4)], data_collator=lambda items: items[0]).train()


if __name__ == "__main__":
    torch.set_num_threads(1)
    spec = json.loads(sys.argv[1])
    train({**spec, "config": {**spec["config"], **NEGLIGIBLE}})
    gc.collect()
    baseline = anonymous_bytes()
    sampler = PeakSampler()
    sampler.start()
    train(spec)
    print(json.dumps({"baseline_bytes": baseline, "peak_bytes": sampler.stop()}))
