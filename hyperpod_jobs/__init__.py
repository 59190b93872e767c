"""HyperPod job submission without shell text on the wire.

The pipeline's start function writes a job spec (JSON data, ``spec``) to the artifacts
bucket under the cluster's prefix; the submitter (``submitter``), installed on the
controller node by the lifecycle scripts (``install``), checks each spec against the same
schema, writes the Slurm batch script itself (``batch_script``), submits it as an
unprivileged user and writes the job's status back next to the spec.

Standard library only: this package runs on the bare HyperPod AMI (Python 3, the AWS CLI)
as well as in the Lambda layer.
"""
