"""The training container ships as CDK Docker image assets (built at deploy, not at synth)
that the training role can pull; the Dockerfiles run the package's launcher."""
import json
from pathlib import Path

from stacks.compute_stack import TRAINING_CONTAINER_DIR, TRAINING_DOCKERFILES


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
        assert "-c torch-constraint.txt" in text and "requirements.in" in text
        assert 'ENTRYPOINT ["python", "-m", "openforge_training.launch"]' in text
        assert "HF_HUB_OFFLINE=1" in text
    assert (TRAINING_CONTAINER_DIR / "openforge_training" / "launch.py").is_file()


def test_the_build_context_is_only_what_the_image_copies(env):
    assembly = env.app.synth()
    for image in docker_assets(env).values():
        staged = Path(assembly.directory) / image["source"]["directory"]
        top = sorted(p.name for p in staged.iterdir())
        assert top == ["sanitiser", "training_container"], top
        assert not list(staged.rglob("__pycache__"))
