"""Configure Slurm on a HyperPod node from the cluster's own description.

HyperPod writes resource_config.json (every group and its instances); the platform ships
provisioning_parameters.json (which group is the controller, which groups are partitions).
This writes the node and partition lines of slurm.conf and starts the right daemon.
Standard library only: it runs on the bare HyperPod AMI with no internet.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
from pathlib import Path


def slurm_node_lines(resource_config: dict, parameters: dict) -> list[str]:
    """slurm.conf lines naming the controller, every worker node and one partition per group."""
    groups = {group["Name"]: group for group in resource_config["InstanceGroups"]}
    controller_group = parameters["controller_group"]
    if controller_group not in groups:
        raise ValueError(f"controller group {controller_group!r} is not in the cluster (groups: {sorted(groups)})")
    controllers = groups[controller_group]["Instances"]
    if not controllers:
        raise ValueError(f"controller group {controller_group!r} has no instances")
    lines = [f"SlurmctldHost={_hostname(controllers[0])}({controllers[0]['CustomerIpAddress']})"]
    for worker in parameters["worker_groups"]:
        instances = groups.get(worker["instance_group_name"], {}).get("Instances", [])
        names = [_hostname(instance) for instance in instances]
        for instance, name in zip(instances, names, strict=True):
            lines.append(f"NodeName={name} NodeAddr={instance['CustomerIpAddress']} State=CLOUD")
        # A group scaled to 0 keeps an (inactive, node-less) partition so jobs can queue.
        nodes = f" Nodes={','.join(names)}" if names else ""
        lines.append(f"PartitionName={worker['partition_name']}{nodes} State={'UP' if names else 'INACTIVE'} MaxTime=INFINITE")
    return lines


def _hostname(instance: dict) -> str:
    return "ip-" + instance["CustomerIpAddress"].replace(".", "-")


def node_role(resource_config: dict, parameters: dict, my_address: str) -> str:
    for group in resource_config["InstanceGroups"]:
        if any(instance["CustomerIpAddress"] == my_address for instance in group["Instances"]):
            return "controller" if group["Name"] == parameters["controller_group"] else "worker"
    raise ValueError(f"this node ({my_address}) is not listed in resource_config.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resource-config", type=Path, required=True)
    parser.add_argument("--provisioning-parameters", type=Path, required=True)
    parser.add_argument("--slurm-config-dir", type=Path, required=True)
    args = parser.parse_args()
    resource_config = json.loads(args.resource_config.read_text())
    parameters = json.loads(args.provisioning_parameters.read_text())

    nodes_file = args.slurm_config_dir / "openforge_nodes.conf"
    nodes_file.write_text("\n".join(slurm_node_lines(resource_config, parameters)) + "\n")
    slurm_conf = args.slurm_config_dir / "slurm.conf"
    include = f"include {nodes_file}"
    if include not in slurm_conf.read_text():
        with slurm_conf.open("a") as handle:
            handle.write(f"\n{include}\n")

    role = node_role(resource_config, parameters, socket.gethostbyname(socket.gethostname()))
    subprocess.run(["systemctl", "enable", "--now", "slurmctld" if role == "controller" else "slurmd"], check=True)


if __name__ == "__main__":
    main()
