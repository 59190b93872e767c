"""The training and evaluation image, one per accelerator family from the same package (CUDA
for p5, Neuron for trn1). Built by `cdk deploy` (Docker needed there, not for synth) into the
CDK bootstrap container-assets repository, which the training roles may pull from."""
from __future__ import annotations

import subprocess
from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from constructs import Construct

from openforge_contract.environment_variables import OPENFORGE_COMMIT
from training_container.base_images import BASE_IMAGES

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_CONTAINER_DIR = REPO_ROOT / "training_container"
# The build context is the repository, narrowed to what the image copies.
TRAINING_IMAGE_CONTEXT = ["*", "!training_container", "!sanitiser", "!openforge_contract", "**/__pycache__", "**/*.pyc"]
TRAINING_DOCKERFILES = {"gpu": "Dockerfile", "neuron": "Dockerfile.neuron"}


class TrainingImages(Construct):
    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_)
        commit = source_commit()
        self.images = {family: self._build_image(family, dockerfile, commit) for family, dockerfile in TRAINING_DOCKERFILES.items()}

    @property
    def uris(self) -> list[str]:
        return [image.image_uri for image in self.images.values()]

    def _build_image(self, family: str, dockerfile: str, commit: str) -> ecr_assets.DockerImageAsset:
        return ecr_assets.DockerImageAsset(
            self,
            family.capitalize(),
            directory=str(REPO_ROOT),
            file=f"training_container/{dockerfile}",
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args={
                OPENFORGE_COMMIT: commit,
                "BASE_IMAGE": BASE_IMAGES[dockerfile].uri,
                "BASE_PACKAGES": " ".join(BASE_IMAGES[dockerfile].packages),
            },
            exclude=TRAINING_IMAGE_CONTEXT,
            ignore_mode=IgnoreMode.DOCKER,
        )


def source_commit() -> str:
    """The repository's commit, baked into the image and tagged on every MLflow run."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=TRAINING_CONTAINER_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"
