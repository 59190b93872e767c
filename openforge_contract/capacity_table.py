"""The docs' capacity table: the plan for the four reference models on ml.p5.48xlarge.

    python -m openforge_contract.capacity_table    # prints it as Markdown

LoRA r16 and full-rank SFT at max_length 2048, per-device batch 4, sharding auto, 10,000
records of 512 tokens on average, one epoch, on 1 and 4 instances. The global batch is 32 per
instance: the container needs it to be a multiple of per-device batch x devices (4 x 8 a host).
"""
from __future__ import annotations

from .capacity_plan import GIB, plan_training, tokens_for
from .reference_models import CONFIGS

INSTANCE_TYPE, INSTANCE_COUNTS, METHODS = "ml.p5.48xlarge", (1, 4), ("lora", "full")
RECORDS, MEAN_TOKENS, MAX_LENGTH, PER_DEVICE_BATCH, GLOBAL_BATCH_PER_INSTANCE = 10_000, 512, 2048, 4, 32


def rows() -> list[dict]:
    table = []
    for name, config in CONFIGS.items():
        for method in METHODS:
            for count in INSTANCE_COUNTS:
                plan = plan_training(config, method=method, lora_rank=16, max_length=MAX_LENGTH, per_device_batch_size=PER_DEVICE_BATCH,
                                     global_batch_size=GLOBAL_BATCH_PER_INSTANCE * count, sharding="auto", instance_type=INSTANCE_TYPE,
                                     instance_count=count, tokens=tokens_for(RECORDS, MEAN_TOKENS))
                table.append({"model": name, "method": "LoRA r16" if method == "lora" else "full", "instances": count, "fits": plan.fits,
                              "sharding": plan.settings["sharding"], "gib_per_device": plan.memory["total"] / GIB, "hours": plan.hours,
                              "dollars": plan.cost_usd, "fix": plan.problems[0].split(": use ", 1)[-1] if plan.problems else ""})
    return table


def markdown() -> str:
    lines = ["| model | method | p5 instances | fits as set | sharding | GiB per device | hours | instance-hours | dollars | fixes (first to try first) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows():
        dollars = f"{row['dollars']:,.0f}" if row["dollars"] is not None else "no verified price"
        hours = f"{row['hours']:.3f}" if row["hours"] is not None else "n/a"
        billed = f"{row['hours'] * row['instances']:.3f}" if row["hours"] is not None else "n/a"  # what on-demand pricing charges for
        lines.append(f"| {row['model']} | {row['method']} | {row['instances']} | {'yes' if row['fits'] else 'no'} | {row['sharding']} | "
                     f"{row['gib_per_device']:.0f} | {hours} | {billed} | {dollars} | {row['fix']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
