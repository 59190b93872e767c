"""Container entrypoint: one training process per accelerator on every host.

SageMaker runs ``<image> train``; the word ``train`` is dropped. With one device on one
host the entrypoint runs in this process; otherwise ``torchrun`` starts
``openforge_training.train`` once per device, with the job's hosts (SageMaker's
``resourceconfig.json``) as the rendezvous. On HyperPod, Slurm's ``srun`` runs this module
on every node and the same logic applies, reading the node list from Slurm. Across
SageMaker hosts with an Elastic Fabric Adapter, NCCL is pointed at it before torchrun starts.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from openforge_contract.environment_variables import TRAINING_INSTANCE_TYPE_VARIABLE
from openforge_contract.instance_catalogue import DEFAULT_TRAINIUM_TRAINING_TYPE, UnknownInstanceType, lookup

from .config import hyperparameters_file

log = logging.getLogger("openforge.launch")

# EFA for NCCL between hosts, as SageMaker's own torchrun launcher sets it (AWS's
# sagemaker-training-toolkit, src/sagemaker_training/torch_distributed.py; the container's side
# of https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-efa.html):
# libfabric's EFA provider on every EFA type, NCCL's bootstrap on the job's network interface
# (resourceconfig.json's network_interface_name), and EFA's RDMA for transfers on the types
# that toolkit lists as RDMA-capable (p4d, p4de, trn1; on p5 libfabric uses RDMA unasked).
EFA_RDMA_TYPES = ("ml.p4d.24xlarge", "ml.p4de.24xlarge", "ml.trn1.32xlarge")


def devices_per_host(instance: str | None = None) -> int:
    """Training processes on this host: one per GPU; on Trainium one per logical NeuronCore,
    as the instance catalogue counts them (the capacity plan counts the same), or
    NEURON_CORES_PER_HOST where the instance type is not known."""
    if os.environ.get("OPENFORGE_DEVICE") == "neuron":
        if "NEURON_CORES_PER_HOST" in os.environ or instance is None:
            return int(os.environ.get("NEURON_CORES_PER_HOST", lookup(DEFAULT_TRAINIUM_TRAINING_TYPE).training_processes))
        try:
            return lookup(instance).training_processes
        except UnknownInstanceType:
            raise SystemExit(f"unknown Trainium instance type {instance!r}: set NEURON_CORES_PER_HOST") from None
    import torch

    return max(torch.cuda.device_count(), 1)


def resource_config(input_dir: Path) -> dict | None:
    """SageMaker's description of the job's hosts (``resourceconfig.json``); None elsewhere."""
    path = input_dir / "config" / "resourceconfig.json"
    return json.loads(path.read_text()) if path.is_file() else None


def hosts(input_dir: Path) -> tuple[list[str], int]:
    """All hosts of the job and this host's rank among them."""
    resources = resource_config(input_dir)
    if resources:
        return resources["hosts"], resources["hosts"].index(resources["current_host"])
    if "SLURM_JOB_NODELIST" in os.environ:
        nodes = int(os.environ.get("SLURM_JOB_NUM_NODES", "1"))
        return [os.environ.get("MASTER_ADDR", "localhost")] * nodes, int(os.environ.get("SLURM_NODEID", "0"))
    return ["localhost"], 0


def instance_type(input_dir: Path) -> str | None:
    """The instance type this job runs on: a SageMaker training job's resourceconfig.json
    says it, HyperPod's batch script exports it; None locally."""
    resources = resource_config(input_dir)
    if resources:
        return resources.get("current_instance_type") or None
    return os.environ.get(TRAINING_INSTANCE_TYPE_VARIABLE) or None


def efa_environment(resources: dict | None) -> dict[str, str]:
    """The variables NCCL needs to use EFA between the hosts of a SageMaker job (none on a
    single host, whose devices talk over NVLink, nor off SageMaker)."""
    if not resources or len(resources["hosts"]) < 2:
        return {}
    instance_type = resources.get("current_instance_type")
    environment = {"NCCL_SOCKET_IFNAME": resources["network_interface_name"]} if resources.get("network_interface_name") else {}
    try:
        efa = lookup(instance_type).efa
    except UnknownInstanceType:
        log.warning("instance type %r is not in the catalogue: EFA is not configured, NCCL finds its own transport", instance_type)
        return environment
    if efa:
        environment["FI_PROVIDER"] = "efa"
        if instance_type in EFA_RDMA_TYPES:
            environment["FI_EFA_USE_DEVICE_RDMA"] = "1"
    return environment


def torchrun_argv(argv: list[str], all_hosts: list[str], rank: int, per_host: int) -> list[str]:
    return [
        "torchrun", f"--nnodes={len(all_hosts)}", f"--node_rank={rank}", f"--nproc_per_node={per_host}",
        f"--master_addr={all_hosts[0]}", "--master_port=29500", "-m", "openforge_training.train", *argv,
    ]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        argv = argv[1:]
    input_dir = hyperparameters_file(argv).parent.parent
    all_hosts, rank = hosts(input_dir)
    per_host = devices_per_host(instance_type(input_dir))
    if len(all_hosts) == 1 and per_host == 1:
        from .train import main as train_main

        return train_main(argv)
    for name, value in efa_environment(resource_config(input_dir)).items():
        os.environ.setdefault(name, value)  # a value the job's Environment sets wins
    command = torchrun_argv(argv, all_hosts, rank, per_host)
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
