"""The training container ships as CDK Docker image assets (built at deploy, not at synth)
that the training role can pull; the Dockerfiles run the package's launcher; and each image's
pins install on its base image's Python and torch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from constructs.training_image import TRAINING_CONTAINER_DIR, TRAINING_DOCKERFILES
from training_container.base_images import BASE_IMAGES

UV = Path(sys.executable).with_name("uv")  # pinned in requirements/dev.lock


def docker_assets(env) -> dict:
    assembly = env.app.synth()
    stack = assembly.get_stack_artifact(env.platform.compute.artifact_id)
    manifest = json.loads((Path(assembly.directory) / f"{stack.stack_name}.assets.json").read_text())
    return manifest.get("dockerImages", {})


def test_a_gpu_and_a_neuron_image_are_built_from_the_training_container(env):
    images = docker_assets(env).values()
    dockerfiles = sorted(image["source"]["dockerFile"] for image in images)
    assert dockerfiles == sorted(f"training_container/{name}" for name in TRAINING_DOCKERFILES.values())
    for image in images:
        assert image["source"]["platform"] == "linux/amd64"
        assert "OPENFORGE_COMMIT" in image["source"]["dockerBuildArgs"]
        base = BASE_IMAGES[Path(image["source"]["dockerFile"]).name]
        assert image["source"]["dockerBuildArgs"]["BASE_IMAGE"] == base.uri
        assert image["source"]["dockerBuildArgs"]["BASE_PACKAGES"].split() == list(base.packages)
        assert all("container-assets" in dest["repositoryName"] for dest in image["destinations"].values())


def test_the_training_role_may_pull_from_the_asset_repository_and_the_serving_role_from_the_serving_image_only(env):
    pulls = {stack: [] for stack in ("Compute", "Pipeline")}
    for _, (stack, policy) in env.resources("AWS::IAM::ManagedPolicy").items():
        found = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "ecr:BatchGetImage" in s["Action"]]
        if found:
            pulls.setdefault(stack, []).extend(found)
    assert pulls["Compute"] and all("container-assets" in json.dumps(s["Resource"]) for s in pulls["Compute"])
    [serving] = pulls["Pipeline"]
    assert json.dumps(serving["Resource"]).endswith(':ecr:us-east-1:763104351884:repository/huggingface-pytorch-tgi-inference"]]}')
    assert set(pulls) == {"Compute", "Pipeline"}, "no other stack pulls images"


def test_dockerfiles_keep_the_base_torch_and_run_the_launcher():
    for dockerfile in TRAINING_DOCKERFILES.values():
        text = (TRAINING_CONTAINER_DIR / dockerfile).read_text()
        assert "FROM ${BASE_IMAGE}" in text and "\nARG BASE_IMAGE\n" in text, "the base comes from base_images.py, no default here"
        assert "--no-index -r base-packages.txt" in text, "the build stops if the base lacks what the test resolved against"
        assert "-r requirements.in -r base-packages.txt" in text
        assert 'ENTRYPOINT ["python", "-m", "openforge_training.launch"]' in text
        assert "HF_HUB_OFFLINE=1" in text
    assert (TRAINING_CONTAINER_DIR / "openforge_training" / "launch.py").is_file()


def test_the_build_context_is_only_what_the_image_copies(env):
    assembly = env.app.synth()
    for image in docker_assets(env).values():
        staged = Path(assembly.directory) / image["source"]["directory"]
        top = sorted(p.name for p in staged.iterdir())
        assert top == ["openforge_contract", "sanitiser", "training_container"], top
        assert not list(staged.rglob("__pycache__"))


@pytest.mark.parametrize("dockerfile", sorted(TRAINING_DOCKERFILES.values()))
def test_the_requirements_install_on_the_base_images_python_and_torch(dockerfile, tmp_path):
    """What the image's `pip install -r requirements.in -r base-packages.txt` does, resolved
    by uv against PyPI for the base's Python and platform: no solution means no image."""
    base = BASE_IMAGES[dockerfile]
    base_packages = tmp_path / "base-packages.txt"
    base_packages.write_text("\n".join(base.packages) + "\n")
    assert UV.is_file(), f"uv not found next to {sys.executable} (make setup installs it)"
    compile_ = [UV, "pip", "compile", "--quiet", "--no-header", "--no-python-downloads",
                "--python-version", base.python, "--python-platform", base.platform,
                TRAINING_CONTAINER_DIR / "requirements.in", base_packages, "-o", tmp_path / "resolved.txt"]
    # uv's cache answers in seconds; the registry is asked only when the cache cannot (first
    # run, changed pins) or the answer is no, so a failure is always the registry's verdict.
    for network in (["--offline"], []):
        result = subprocess.run([*compile_, *network], capture_output=True, text=True, timeout=300, cwd=TRAINING_CONTAINER_DIR.parent)
        if result.returncode == 0:
            break
    assert result.returncode == 0, (
        f"{dockerfile}: training_container/requirements.in cannot be installed on {base.uri} "
        f"(Python {base.python}, {' '.join(base.packages)}):\n{result.stderr}"
    )
