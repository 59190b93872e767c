"""The base image of each training Dockerfile and what it ships that our pins must fit.

CDK passes these to the image build (`BASE_IMAGE`, `BASE_PACKAGES`: constructs/training_image.py);
the build stops if the base does not ship `packages`, then installs requirements.in together
with them. tests/test_training_image.py resolves the same set for `python` and `platform`
with uv, so pins that cannot be installed on a base fail the tests, not `cdk deploy`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaseImage:
    uri: str
    python: str  # the image's interpreter, major.minor
    platform: str  # uv's --python-platform: the image's CPU and glibc
    packages: tuple[str, ...]  # exact pins the base already ships, each on PyPI


BASE_IMAGES = {
    # AWS DLC PyTorch 2.13 for SageMaker (GA 2026-07-20, supported to 2027-07-20): Python
    # 3.12, torch 2.13.0 (+cu130 build) in /opt/venv; Amazon Linux 2023, glibc 2.34.
    # https://github.com/aws/deep-learning-containers/blob/main/docs/src/data/pytorch/2.13-cuda-sagemaker.yml
    # https://github.com/aws/deep-learning-containers/blob/main/.github/config/image/pytorch/2.13-sagemaker-cuda.yml
    "Dockerfile": BaseImage(
        uri="public.ecr.aws/deep-learning-containers/pytorch:2.13.0-cu133-amzn2023-sagemaker",
        python="3.12",
        platform="x86_64-manylinux_2_34",
        packages=("torch==2.13.0",),
    ),
    # AWS Neuron DLC PyTorch 2.9 training, Neuron SDK 2.29.1: the last SDK release that
    # supports PyTorch/XLA training, the path trn1 has (Neuron 2.30 ended it; TorchNeuron
    # runs on Trn2/Trn3 only). Python 3.12.11; torch-neuronx 2.9.0.2.13.26312 with torch-xla
    # 2.9.0 (the only torch-xla 2.9 release); the image's last step installs "torch==2.9.*",
    # i.e. 2.9.1, the last 2.9 release. Ubuntu 24.04, glibc 2.39.
    # https://github.com/aws-neuron/deep-learning-containers/blob/2.29.1/pytorch/training/2.9.0/Dockerfile.neuronx
    # https://awsdocs-neuron.readthedocs-hosted.com/en/latest/about-neuron/announcements/neuron2.x/announce-no-support-pytorch-xla-training.html
    # torch-neuronx itself is only on AWS's Neuron pip repository (not PyPI), so it is not
    # listed: the build keeps the base's copy and the test cannot resolve it.
    "Dockerfile.neuron": BaseImage(
        uri="public.ecr.aws/neuron/pytorch-training-neuronx:2.9.0-neuronx-py312-sdk2.29.1-ubuntu24.04",
        python="3.12",
        platform="x86_64-manylinux_2_39",
        packages=("torch==2.9.1", "torch-xla==2.9.0"),
    ),
}
