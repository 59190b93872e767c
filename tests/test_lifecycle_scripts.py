"""HyperPod lifecycle scripts: the Slurm layout they write, and that they never reach out."""

from __future__ import annotations

import ast
import json
import re
import sys
import pytest

from constructs.hyperpod_cluster.lifecycle import HYPERPOD_JOBS_PACKAGE, LIFECYCLE_SCRIPTS_DIR, REPO_ROOT
from constructs.hyperpod_cluster.lifecycle_scripts.configure_slurm import node_role, slurm_node_lines

SCRIPTS = LIFECYCLE_SCRIPTS_DIR
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


def test_the_submitter_package_downloads_nothing_and_needs_only_the_standard_library():
    commands = re.compile(r"\b(curl|wget|pip3? install|apt(-get)? install|yum install|git clone)\b")
    network = {"urllib", "http", "socket", "ftplib", "ssl"}
    files = sorted((REPO_ROOT / HYPERPOD_JOBS_PACKAGE).glob("*.py"))
    assert files, "the package on_create.sh installs"
    for script in files:
        text = script.read_text()
        assert not commands.search(text), script.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
                for name in ([alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]):
                    top = name.split(".")[0]
                    assert top in sys.stdlib_module_names and top not in network, f"{script.name} imports {name}"
    assert "python3 -m hyperpod_jobs.install" in (SCRIPTS / "on_create.sh").read_text()


SUBMITTER_PARAMETERS = {**PARAMETERS, "submitter": {
    "cluster_name": "openforge-dev", "bucket": "openforge-dev-artifacts", "region": "us-east-1",
    "buckets": ["openforge-dev-datasets", "openforge-dev-artifacts"],
    "images": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:gpu", "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:neuron"]}}


def test_the_install_runs_the_submitter_unprivileged_where_slurmctld_runs(tmp_path, monkeypatch):
    """install() against a folder standing in for /, with id, groupadd, useradd, chown and
    systemctl recorded by stand-ins (slurmctld active: this is the controller)."""
    from hyperpod_jobs.install import JOBS_USER, install

    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for tool, code in (("id", 1), ("groupadd", 0), ("useradd", 0), ("chown", 0), ("systemctl", 0)):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\nexit {code}\n')
        (bin_dir / tool).chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    root = tmp_path / "root"
    install(SUBMITTER_PARAMETERS, root=root)

    config = json.loads((root / "etc/openforge/submitter.json").read_text())
    assert config["partitions"] == ["gpu-workers", "trainium-workers"] and config["bucket"] == "openforge-dev-artifacts"
    assert config["images"] == sorted(SUBMITTER_PARAMETERS["submitter"]["images"])
    service = (root / "etc/systemd/system/openforge-submitter.service").read_text()
    assert f"User={JOBS_USER}\n" in service and "ExecStart=/usr/bin/python3 -m hyperpod_jobs.submitter --config /etc/openforge/submitter.json" in service
    assert "WantedBy=slurmctld.service" in (root / "etc/systemd/system/openforge-submitter.timer").read_text()
    assert (root / "opt/openforge/lib/hyperpod_jobs/submitter.py").exists()
    credentials = root / "home" / JOBS_USER / ".config/enroot/.credentials"
    assert credentials.read_text() == ("machine 123456789012.dkr.ecr.us-east-1.amazonaws.com login AWS password "
                                       "$(aws ecr get-login-password --region us-east-1)\n")
    assert oct(credentials.stat().st_mode)[-3:] == "600"
    recorded = calls.read_text().splitlines()
    assert f"useradd --uid 2901 --gid 2901 --create-home --shell /bin/bash {JOBS_USER}" in recorded
    assert recorded[-3:] == ["systemctl enable openforge-submitter.timer", "systemctl is-active --quiet slurmctld",
                             "systemctl start openforge-submitter.timer"]


@pytest.mark.parametrize("change", [{"bucket": "Bad Bucket"}, {"images": ["docker.io/evil:latest"]}, {"region": "us-east-1; reboot"},
                                    {"cluster_name": "a b"}])
def test_the_install_refuses_parameters_it_would_write_into_files_unchecked(change):
    from hyperpod_jobs.install import submitter_config

    with pytest.raises(ValueError, match="provisioning_parameters.json"):
        submitter_config({**SUBMITTER_PARAMETERS, "submitter": {**SUBMITTER_PARAMETERS["submitter"], **change}})
