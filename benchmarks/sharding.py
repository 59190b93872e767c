"""`make bench`, the cost of sharding here: trained tokens per second of the training
container on 2 processes (torchrun, gloo, one thread each) with sharding=full (FSDP2) against
sharding=none (data parallel, the anchor), on the same tiny model, data and steps. The arms
alternate, each repeated; the figure is the median of the per-repeat ratios full / none.

On CPU with gloo this prices FSDP's per-layer gathers and reduce-scatters against one
all-reduce of the gradients; on GPUs with NVLink and EFA the cost differs, so read it as an
upper bound of the bookkeeping, not a GPU forecast.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from openforge_contract.run_record import RUN_RECORD
from synthetic_data import sandbox

CONTAINER = Path(__file__).resolve().parents[1] / "training_container"
PROCESSES = 2
METHODS = ("full",)  # `make bench`'s; each torchrun spends ~10 s starting, so both methods would take 4 minutes
FLAGS = {"max_steps": 32, "save_steps": 1000, "global_batch_size": 16, "per_device_batch_size": 4, "max_length": 256, "logging_steps": 32,
         "customer_data_percent": 75, "learning_rate": 1e-3, "seed": 1}


def tokens_per_second(input_dir: Path, out: Path, *, sharding: str, method: str) -> float:
    """One torchrun of the training entrypoint; its run record's trained tokens per second (all processes)."""
    argv = ["--input_dir", str(input_dir), "--output_dir", str(out / "model"), "--checkpoint_dir", str(out / "checkpoints")]
    argv += [item for key, value in {**FLAGS, "sharding": sharding, "method": method}.items() for item in (f"--{key}", str(value))]
    command = [str(Path(sys.executable).with_name("torchrun")), "--standalone", f"--nproc_per_node={PROCESSES}", "-m", "openforge_training.train", *argv]
    result = subprocess.run(command, check=False, cwd=CONTAINER, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    if result.returncode:
        raise RuntimeError(f"torchrun (sharding={sharding}, method={method}) failed:\n{result.stderr[-3000:]}")
    return json.loads((out / "model" / RUN_RECORD).read_text())["tokens_per_second"]


def sharding_cost(method: str, repeats: int, root: Path, input_dir: Path) -> tuple[float, float, list[float]]:
    """Median tokens/s of sharding=full and of sharding=none, and each repeat's ratio full / none."""
    rates: dict[str, list[float]] = {"full": [], "none": []}
    for repeat in range(repeats):
        for sharding in ("none", "full") if repeat % 2 == 0 else ("full", "none"):  # alternate which arm goes first
            rates[sharding].append(tokens_per_second(input_dir, root / f"{method}-{sharding}-{repeat}", sharding=sharding, method=method))
    return statistics.median(rates["full"]), statistics.median(rates["none"]), [f / n for f, n in zip(rates["full"], rates["none"])]


def main(methods: tuple[str, ...] = METHODS, repeats: int = 3) -> None:
    """Other methods on the command line: ``python -m benchmarks.sharding full lora``."""
    with tempfile.TemporaryDirectory(prefix="openforge-sharding-") as folder:
        root = Path(folder)
        input_dir = sandbox.build(root, customer=200, per_category=100)
        print(f"Cost of sharding on CPU ({os.cpu_count()} cores; {PROCESSES} processes, gloo, 1 thread each; tiny Llama of the sandbox, "
              f"{FLAGS['max_steps']} steps of {FLAGS['global_batch_size']} records, median of {repeats} alternating runs):")
        for method in methods:
            full, none, ratios = sharding_cost(method, repeats, root, input_dir)
            print(f"  {method:5} sharding=full {full:,.0f} tok/s, sharding=none {none:,.0f} tok/s -> full / none: median {statistics.median(ratios):.2f} "
                  f"(each repeat: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or METHODS)
