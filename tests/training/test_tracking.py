"""MLflow wiring that needs no server: the SageMaker ARN scheme, tags, compute names."""
import json

from openforge_training.config import load
from openforge_training.tracking import compute_description, run_tags


def test_a_sagemaker_mlflow_arn_is_a_known_tracking_scheme():
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    assert "arn" in _tracking_store_registry._registry  # registered by the sagemaker-mlflow plugin


def test_tags_follow_the_seed_schema(tmp_path):
    config = load(["--input_dir", str(tmp_path), "--customer_data_percent", "75", "--lora_rank", "8", "--learning_rate", "2e-5", "--commit_hash", "abc"])
    tags = run_tags(config, dataset_version="d1", compute="4x-ml.p5.48xlarge")
    assert tags == {
        "project": "openforge", "experiment": "fine-tune", "mix_ratio": "0.75", "method": "lora", "lora_rank": "8", "lr": "2e-05",
        "seed": "42", "compute": "4x-ml.p5.48xlarge", "dataset_version": "d1", "commit_hash": "abc",
    }
    assert run_tags(load(["--input_dir", str(tmp_path), "--method", "full"]), dataset_version="d", compute="c")["lora_rank"] == "none"


def test_compute_is_read_from_sagemaker_resourceconfig(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_NUM_NODES", raising=False)
    assert compute_description(str(tmp_path), "cpu") == "local-cpu"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "resourceconfig.json").write_text(json.dumps({"hosts": ["algo-1", "algo-2"], "current_instance_type": "ml.p5.48xlarge"}))
    assert compute_description(str(tmp_path), "cuda") == "2x-ml.p5.48xlarge"
