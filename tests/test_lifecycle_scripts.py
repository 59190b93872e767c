"""HyperPod lifecycle scripts: the Slurm layout they write, and that they never reach out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lifecycle_scripts.configure_slurm import node_role, slurm_node_lines

SCRIPTS = Path(__file__).resolve().parent.parent / "lifecycle_scripts"
PARAMETERS = {
    "controller_group": "controller",
    "worker_groups": [{"instance_group_name": "gpu-workers", "partition_name": "gpu-workers"}, {"instance_group_name": "trainium-workers", "partition_name": "trainium-workers"}],
}
RESOURCES = {
    "InstanceGroups": [
        {"Name": "controller", "Instances": [{"CustomerIpAddress": "10.40.0.10"}]},
        {"Name": "gpu-workers", "Instances": [{"CustomerIpAddress": "10.40.16.5"}, {"CustomerIpAddress": "10.40.16.6"}]},
        {"Name": "trainium-workers", "Instances": []},
    ]
}


def test_slurm_lines_name_controller_nodes_and_partitions():
    lines = slurm_node_lines(RESOURCES, PARAMETERS)
    assert lines[0] == "SlurmctldHost=ip-10-40-0-10(10.40.0.10)"
    assert "NodeName=ip-10-40-16-5 NodeAddr=10.40.16.5 State=CLOUD" in lines
    assert "PartitionName=gpu-workers Nodes=ip-10-40-16-5,ip-10-40-16-6 State=UP MaxTime=INFINITE" in lines
    assert "PartitionName=trainium-workers State=INACTIVE MaxTime=INFINITE" in lines  # scaled to 0, still declared


def test_node_role_and_bad_layouts():
    assert node_role(RESOURCES, PARAMETERS, "10.40.0.10") == "controller"
    assert node_role(RESOURCES, PARAMETERS, "10.40.16.6") == "worker"
    with pytest.raises(ValueError, match="10.9.9.9"):
        node_role(RESOURCES, PARAMETERS, "10.9.9.9")
    with pytest.raises(ValueError, match="controller group 'head'"):
        slurm_node_lines(RESOURCES, {**PARAMETERS, "controller_group": "head"})


def test_scripts_download_nothing():
    fetchers = re.compile(r"\b(curl|wget|pip3? install|apt(-get)? install|yum install|git clone|urllib|requests)\b")
    for script in SCRIPTS.iterdir():
        if script.is_file():
            assert not fetchers.search(script.read_text()), script.name
