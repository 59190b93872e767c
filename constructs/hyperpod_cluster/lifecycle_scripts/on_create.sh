#!/bin/bash
# HyperPod runs this once per node at creation. Everything it needs is in this folder or
# already on the HyperPod AMI: the nodes have no internet route, so nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")"
python3 configure_slurm.py \
  --resource-config /opt/ml/config/resource_config.json \
  --provisioning-parameters provisioning_parameters.json \
  --slurm-config-dir /opt/slurm/etc
# The jobs' user and work folder on every node; the job submitter where slurmctld runs.
exec python3 -m hyperpod_jobs.install --provisioning-parameters provisioning_parameters.json
