"""The instance catalogue describes real SageMaker instance types, each used only where
SageMaker accepts it, and answers AWS's per-type rules: no volume KMS key on local NVMe,
and a volume no larger than the instance store (or EBS gp2's maximum)."""
import re

import botocore.session
import pytest

from openforge_contract import instance_catalogue as catalogue  # isort: skip
from openforge_contract.instance_catalogue import (  # isort: skip
    CATALOGUE, UnknownInstanceType, lookup, max_volume_size_gb, training_volume_size_gb, types_for, uses_neuron,
    volume_kms_key_allowed, volume_size_problem)

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
# Where each use is requested, and the enum botocore's model gives for it.
ACCEPTED = {
    catalogue.TRAINING_JOB: set(SAGEMAKER.shape_for("TrainingInstanceType").enum),
    catalogue.ENDPOINT: set(SAGEMAKER.shape_for("ProductionVariantInstanceType").enum),
    catalogue.HYPERPOD_WORKER: set(SAGEMAKER.shape_for("ClusterInstanceType").enum),
    catalogue.HYPERPOD_CONTROLLER: set(SAGEMAKER.shape_for("ClusterInstanceType").enum),
}


@pytest.mark.parametrize("use", catalogue.USES)
def test_every_type_is_one_sagemaker_accepts_for_its_use(use):
    refused = sorted(name for name in types_for(use) if name not in ACCEPTED[use])
    assert types_for(use) and refused == [], f"SageMaker's model does not accept these for {use}: {refused}"


def test_every_entry_is_consistent():
    for name, instance in CATALOGUE.items():
        assert re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", name) and instance.name == name
        assert instance.family == name.split(".")[1]
        assert instance.accelerator in (catalogue.NVIDIA, catalogue.NEURON, catalogue.NO_ACCELERATOR), name
        has_accelerators = instance.accelerator != catalogue.NO_ACCELERATOR
        assert (instance.accelerator_count > 0) == has_accelerators == (instance.accelerator_memory_gib > 0), name
        assert instance.uses and instance.uses <= set(catalogue.USES), name
        assert instance.vcpus > 0 and instance.memory_gib > 0 and instance.local_storage_gb >= 0, name
        assert instance.training_price_per_hour_usd is None or instance.training_price_per_hour_usd > 0, name


def test_the_families_aws_lists_with_local_nvme_have_it_and_the_ebs_only_ones_do_not():
    """EC2 instance store tables: p4d/p4de, p5/p5e/p5en, g5, g6, g6e, trn1/trn1n/trn2 come with
    NVMe SSDs; inf2, m5, m6i, c5, c6i, t3 are EBS only."""
    local = {"p4d", "p4de", "p5", "p5e", "p5en", "g5", "g6", "g6e", "trn1", "trn1n", "trn2"}
    for name, instance in CATALOGUE.items():
        assert instance.has_local_storage == (instance.family in local), name


def test_the_derived_sets_are_the_uses():
    assert set(catalogue.GPU_TRAINING_TYPES) == {"ml.p4d.24xlarge", "ml.p4de.24xlarge", "ml.p5.48xlarge", "ml.p5e.48xlarge", "ml.p5en.48xlarge"}
    assert set(catalogue.TRAINIUM_TRAINING_TYPES) == {"ml.trn1.32xlarge", "ml.trn1n.32xlarge", "ml.trn2.48xlarge"}
    assert set(catalogue.HYPERPOD_WORKER_TYPES) == set(catalogue.GPU_TRAINING_TYPES) | set(catalogue.TRAINIUM_TRAINING_TYPES)
    assert set(catalogue.TRAINING_JOB_TYPES) >= set(catalogue.HYPERPOD_WORKER_TYPES)
    assert "ml.g5.2xlarge" in catalogue.ENDPOINT_TYPES and "ml.m5.2xlarge" in catalogue.CONTROLLER_TYPES
    assert list(catalogue.ENDPOINT_TYPES) == sorted(catalogue.ENDPOINT_TYPES)


@pytest.mark.parametrize("unknown", ["ml.p5.48xlarg", "p5.48xlarge", "", None, "ml.c5.8xlarge"])
def test_an_unknown_type_is_a_clear_error_naming_it(unknown):
    with pytest.raises(UnknownInstanceType, match=rf"^unknown instance type {re.escape(repr(unknown))}; OpenForge runs on: .*ml\.p5\.48xlarge"):
        lookup(unknown)
    with pytest.raises(UnknownInstanceType):
        volume_kms_key_allowed(unknown)


def test_an_unknown_use_is_a_clear_error():
    with pytest.raises(ValueError, match="^unknown use 'inference'; expected one of training-job, "):
        types_for("inference")


@pytest.mark.parametrize(("instance_type", "allowed"), [
    ("ml.p5.48xlarge", False), ("ml.p4d.24xlarge", False), ("ml.g5.2xlarge", False), ("ml.g6e.12xlarge", False),
    ("ml.trn1.32xlarge", False), ("ml.m5.xlarge", True), ("ml.inf2.xlarge", True), ("ml.c5.2xlarge", True)])
def test_a_volume_key_is_allowed_only_without_local_storage(instance_type, allowed):
    assert volume_kms_key_allowed(instance_type) is allowed


def test_volume_sizes_follow_the_instance_store_or_ebs():
    assert max_volume_size_gb("ml.g5.2xlarge") == 450 and max_volume_size_gb("ml.p5.48xlarge") == 30720
    assert max_volume_size_gb("ml.m5.xlarge") == 16384
    assert training_volume_size_gb("ml.g5.2xlarge", 512) == 450 and training_volume_size_gb("ml.p5.48xlarge", 512) == 512
    assert volume_size_problem("ml.g5.2xlarge", 450) is None and volume_size_problem("ml.m5.xlarge", 16384) is None
    assert volume_size_problem("ml.g5.2xlarge", 512) == (
        "VolumeSizeInGB 512 is more than ml.g5.2xlarge allows: its local NVMe instance storage (450 GB)")
    assert volume_size_problem("ml.m5.xlarge", 16385) == "VolumeSizeInGB 16385 is more than ml.m5.xlarge allows: the EBS gp2 maximum (16384 GiB)"
    assert volume_size_problem("ml.m5.xlarge", 0) == "VolumeSizeInGB must be a whole number of at least 1, got 0"
    assert volume_size_problem("ml.m5.xlarge", True) is not None


def test_neuron_types_are_trainium_and_inferentia():
    assert {name for name in CATALOGUE if uses_neuron(name)} == {name for name in CATALOGUE if name.split(".")[1].startswith(("trn", "inf"))}
