"""The local stand-in for the private endpoint: the chosen model, loaded with transformers on
this machine, answering one held-out prompt."""
from __future__ import annotations

import time
from pathlib import Path

from pipeline.local.console import quiet_hub

SMOKE_TEST_TOKENS = 24


def smoke_test(model_dir: Path, eval_dir: Path, threads: int) -> dict:
    """What the endpoint would be asked: one held-out prompt, answered greedily by the
    chosen model's merged weights with its own chat template."""
    began = time.monotonic()
    import torch
    from openforge_training.evaluation.byod import load
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    held_out = load(eval_dir, limit=1)
    messages, reference = held_out.prompts[0], held_out.references[0]
    with quiet_hub():
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=SMOKE_TEST_TOKENS, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    generated = output[0][inputs["input_ids"].shape[1]:]
    answer = tokenizer.decode(generated, skip_special_tokens=True).strip()
    prompt = messages[-1]["content"] if messages else ""
    return {"model": str(model_dir), "prompt": prompt, "answer": answer, "reference": reference, "new_tokens": len(generated),
            "raw": tokenizer.decode(generated), "seconds": round(time.monotonic() - began, 2)}
