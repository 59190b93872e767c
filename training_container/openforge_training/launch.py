"""Container entrypoint: one training process per accelerator on every host.

SageMaker runs ``<image> train``; the word ``train`` is dropped. With one device on one
host the entrypoint runs in this process; otherwise ``torchrun`` starts
``openforge_training.train`` once per device, with the job's hosts (SageMaker's
``resourceconfig.json``) as the rendezvous. On HyperPod, Slurm's ``srun`` runs this module
on every node and the same logic applies, reading the node list from Slurm.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .config import hyperparameters_file


def devices_per_host() -> int:
    if os.environ.get("OPENFORGE_DEVICE") == "neuron":
        return int(os.environ.get("NEURON_CORES_PER_HOST", "32"))  # trn1.32xlarge: 16 chips x 2 cores
    import torch

    return max(torch.cuda.device_count(), 1)


def hosts(input_dir: Path) -> tuple[list[str], int]:
    """All hosts of the job and this host's rank among them."""
    resource_config = input_dir / "config" / "resourceconfig.json"
    if resource_config.is_file():
        resources = json.loads(resource_config.read_text())
        return resources["hosts"], resources["hosts"].index(resources["current_host"])
    if "SLURM_JOB_NODELIST" in os.environ:
        nodes = int(os.environ.get("SLURM_JOB_NUM_NODES", "1"))
        return [os.environ.get("MASTER_ADDR", "localhost")] * nodes, int(os.environ.get("SLURM_NODEID", "0"))
    return ["localhost"], 0


def torchrun_argv(argv: list[str], all_hosts: list[str], rank: int, per_host: int) -> list[str]:
    return [
        "torchrun", f"--nnodes={len(all_hosts)}", f"--node_rank={rank}", f"--nproc_per_node={per_host}",
        f"--master_addr={all_hosts[0]}", "--master_port=29500", "-m", "openforge_training.train", *argv,
    ]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        argv = argv[1:]
    all_hosts, rank = hosts(hyperparameters_file(argv).parent.parent)
    per_host = devices_per_host()
    if len(all_hosts) == 1 and per_host == 1:
        from .train import main as train_main

        return train_main(argv)
    command = torchrun_argv(argv, all_hosts, rank, per_host)
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
