"""Install the submitter on a HyperPod node (run by on_create.sh on every node, as root).

Every node gets the jobs' user (one fixed uid, so Slurm runs a job as the same user on
every node), its node-local work folder, enroot credentials for the training images' ECR
registries (enroot runs the command in the file to get a fresh token), the package, its
config and a systemd timer that runs one submitter pass every 30 seconds. The timer is
wanted by slurmctld.service, so it runs where the Slurm controller runs (configure_slurm.py
starts slurmctld on the controller only) and nowhere else; it is started now if slurmctld
already is.

Everything comes from this folder and provisioning_parameters.json: nothing is downloaded.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from .batch_script import DEFAULT_WORK_ROOT
from .spec import IMAGE_URI, JOB_NAME, PARTITION, S3_URI

JOBS_USER, JOBS_UID = "openforge", 2901
PACKAGE = Path(__file__).resolve().parent
UNIT = "openforge-submitter"
STATE_DIR = f"/var/lib/{UNIT}"  # systemd's StateDirectory=, owned by the jobs' user


def submitter_config(parameters: dict) -> dict:
    """The submitter's config from the stack's provisioning parameters, each value checked:
    these land in files that enroot and systemd read."""
    submitter = parameters["submitter"]
    config = {
        "bucket": submitter["bucket"], "cluster_name": submitter["cluster_name"], "region": submitter["region"],
        "buckets": sorted(submitter["buckets"]), "images": sorted(submitter["images"]),
        "partitions": sorted(group["partition_name"] for group in parameters["worker_groups"]),
        "state_dir": STATE_DIR, "work_root": DEFAULT_WORK_ROOT,
    }
    for bucket in [config["bucket"], *config["buckets"]]:
        _check(S3_URI.fullmatch(f"s3://{bucket}/"), "bucket", bucket)
    _check(JOB_NAME.fullmatch(config["cluster_name"]), "cluster_name", config["cluster_name"])
    _check(all(part.isalnum() for part in config["region"].split("-")), "region", config["region"])
    for image in config["images"]:
        _check(IMAGE_URI.fullmatch(image), "image", image)
    for partition in config["partitions"]:
        _check(PARTITION.fullmatch(partition), "partition", partition)
    return config


def enroot_credentials(config: dict) -> str:
    """enroot's credentials file: one line per registry of the training images
    (https://github.com/NVIDIA/enroot/blob/master/doc/cmd/import.md)."""
    registries = sorted({image.split("/", 1)[0] for image in config["images"]})
    return "".join(f"machine {registry} login AWS password $(aws ecr get-login-password --region {config['region']})\n"
                   for registry in registries)


def service_unit(package_root: str, config_path: str) -> str:
    return f"""[Unit]
Description=OpenForge job submitter: job specs from S3 to Slurm, statuses back
After=slurmctld.service network-online.target

[Service]
Type=oneshot
User={JOBS_USER}
Group={JOBS_USER}
Environment=PYTHONPATH={package_root}
ExecStart=/usr/bin/python3 -m hyperpod_jobs.submitter --config {config_path}
StateDirectory={UNIT}
StateDirectoryMode=0700
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
"""


def timer_unit() -> str:
    return f"""[Unit]
Description=Run the OpenForge job submitter every 30 seconds

[Timer]
OnActiveSec=10s
OnUnitInactiveSec=30s
AccuracySec=5s
Unit={UNIT}.service

[Install]
WantedBy=slurmctld.service
"""


def install(parameters: dict, *, root: Path = Path("/")) -> None:
    config = submitter_config(parameters)
    _ensure_user()
    home = root / "home" / JOBS_USER
    work = root / DEFAULT_WORK_ROOT.lstrip("/")
    credentials = home / ".config" / "enroot" / ".credentials"
    for folder in (work, credentials.parent):
        folder.mkdir(parents=True, exist_ok=True)
    credentials.write_text(enroot_credentials(config))
    credentials.chmod(0o600)

    package_root = root / "opt" / "openforge" / "lib"
    shutil.rmtree(package_root / "hyperpod_jobs", ignore_errors=True)
    shutil.copytree(PACKAGE, package_root / "hyperpod_jobs", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config_path = root / "etc" / "openforge" / "submitter.json"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True, exist_ok=True)
    (units / f"{UNIT}.service").write_text(service_unit("/opt/openforge/lib", "/etc/openforge/submitter.json"))
    (units / f"{UNIT}.timer").write_text(timer_unit())
    for path in (home, work):
        _run(["chown", "-R", f"{JOBS_USER}:{JOBS_USER}", str(path)])
    _run(["systemctl", "daemon-reload"])
    _run(["systemctl", "enable", f"{UNIT}.timer"])
    if subprocess.run(["systemctl", "is-active", "--quiet", "slurmctld"], check=False).returncode == 0:
        _run(["systemctl", "start", f"{UNIT}.timer"])


def _ensure_user() -> None:
    if subprocess.run(["id", "-u", JOBS_USER], capture_output=True, check=False).returncode == 0:
        return
    if subprocess.run(["getent", "group", JOBS_USER], capture_output=True, check=False).returncode != 0:
        _run(["groupadd", "--gid", str(JOBS_UID), JOBS_USER])
    _run(["useradd", "--uid", str(JOBS_UID), "--gid", str(JOBS_UID), "--create-home", "--shell", "/bin/bash", JOBS_USER])


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def _check(ok: object, what: str, value: str) -> None:
    if not ok:
        raise ValueError(f"provisioning_parameters.json: {what} {value!r} is not valid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provisioning-parameters", type=Path, required=True)
    args = parser.parse_args()
    install(json.loads(args.provisioning_parameters.read_text()))


if __name__ == "__main__":
    main()
