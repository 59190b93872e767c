"""Every instance type OpenForge runs on, what it is, and what it may be used for.

One table read by the CDK app (environment checks, IAM conditions), the Lambdas (requests,
ValidateInput), the security checks and the CLI. Plain Python: no boto3, no CDK.

Sources (transcribed; a real account's ``ec2 describe-instance-types`` is the last word):
- accelerators, vCPUs, memory, EFA: EC2 instance type specifications,
  https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html (accelerated computing) and
  https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html, /co.html (general purpose, compute optimized);
- local NVMe instance store (total GB; 0 = EBS only): "Instance store volume limits",
  https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html#ac_instance-store and
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-store-volumes.html.
  p5/p5e (8 x 3.84 TB), p4d (8 x 1 TB), trn1 (4 x 1.9 TB) also match the EC2 Capacity Blocks
  pricing table (https://aws.amazon.com/ec2/capacityblocks/pricing/).
- On-demand SageMaker training prices (us-east-1) are NOT filled in: the pricing page
  (https://aws.amazon.com/sagemaker/pricing/) could not be read and checked where this table
  was written, so ``training_price_per_hour_usd`` is None rather than a guessed number.
- Dense (no sparsity) BF16 peak per accelerator, for the capacity plan's duration estimate:
  NVIDIA A100 datasheet (312 TFLOPS), H100 SXM and H200 datasheets (989 TFLOPS; the
  datasheets' 1,979 is with sparsity), L40S datasheet (362 TFLOPS; 733 with sparsity);
  Trainium 190 and Trainium2 667 TFLOPS per chip (AWS Neuron documentation, "Trainium
  Architecture" and "Trainium2 Architecture"). A10G (g5) has no published BF16 figure: None.
- Training processes per Neuron chip: one per logical NeuronCore, "On Trn1, each Trainium
  accelerator has two NeuronCores (default two Logical NeuronCores). On Trn2, each Trainium
  accelerator has 8 NeuronCores (default 4 Logical NeuronCores)" (AWS Neuron documentation,
  "Developer Guide for Training with PyTorch NeuronX").
- Which types SageMaker accepts where: botocore's enums TrainingInstanceType,
  ProductionVariantInstanceType and ClusterInstanceType (a test checks every use against them).
"""
from __future__ import annotations

from dataclasses import dataclass

NVIDIA, NEURON, NO_ACCELERATOR = "nvidia", "neuron", "none"
# What a type may be used for on the platform.
TRAINING_JOB = "training-job"  # a SageMaker training job (CreateTrainingJob)
HYPERPOD_WORKER = "hyperpod-worker"  # a HyperPod worker group
HYPERPOD_CONTROLLER = "hyperpod-controller"  # the HyperPod Slurm controller group
ENDPOINT = "endpoint"  # a real-time endpoint (CreateEndpointConfig)
USES = (TRAINING_JOB, HYPERPOD_WORKER, HYPERPOD_CONTROLLER, ENDPOINT)

# SageMaker training's ML storage volume is EBS gp2 (ResourceConfig.VolumeSizeInGB,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html); a gp2
# volume holds 1-16,384 GiB (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html).
# SageMaker itself documents no lower cap for training; this one is EBS's.
EBS_VOLUME_MIN_GB, EBS_VOLUME_MAX_GB = 1, 16384


class UnknownInstanceType(ValueError):
    """An instance type the catalogue does not describe."""


@dataclass(frozen=True)
class InstanceType:
    name: str  # SageMaker's name, ml.<family>.<size>
    accelerator: str  # NVIDIA, NEURON or NO_ACCELERATOR
    accelerator_count: int  # GPUs, or Trainium/Inferentia chips
    accelerator_memory_gib: int  # per accelerator
    local_storage_gb: int  # NVMe instance store, total; 0: EBS only
    efa: bool  # Elastic Fabric Adapter
    vcpus: int
    memory_gib: int
    uses: frozenset[str]
    training_price_per_hour_usd: float | None = None  # on-demand, us-east-1; None: not verified
    peak_bf16_tflops: float | None = None  # per accelerator, dense; None: not published

    @property
    def family(self) -> str:
        return self.name.split(".")[1]

    @property
    def has_local_storage(self) -> bool:
        return self.local_storage_gb > 0

    @property
    def training_processes(self) -> int:
        """Training processes the container starts on one instance: one per GPU, or one per
        logical NeuronCore (which share their chip's memory)."""
        return self.accelerator_count * _NEURON_CORES_PER_CHIP.get(self.family, 1)

    @property
    def memory_per_training_process_gib(self) -> float:
        return self.accelerator_count * self.accelerator_memory_gib / self.training_processes if self.training_processes else 0.0


# Logical NeuronCores per Trainium chip, by family, at the Neuron SDK's default (sources above).
_NEURON_CORES_PER_CHIP = {"trn1": 2, "trn1n": 2, "trn2": 4}
# Dense BF16 TFLOPS per accelerator, by family (sources above).
_PEAK_BF16_TFLOPS = {"p4d": 312, "p4de": 312, "p5": 989, "p5e": 989, "p5en": 989, "g6e": 362, "trn1": 190, "trn1n": 190, "trn2": 667}


def _type(name, accelerator, count, memory_gib, local_gb, efa, vcpus, ram_gib, *uses) -> InstanceType:
    return InstanceType(name, accelerator, count, memory_gib, local_gb, efa, vcpus, ram_gib, frozenset(uses),
                        peak_bf16_tflops=_PEAK_BF16_TFLOPS.get(name.split(".")[1]))


_WORKER = (TRAINING_JOB, HYPERPOD_WORKER)

# name, accelerator, count, GiB per accelerator, NVMe GB, EFA, vCPUs, memory GiB, uses
_TYPES = (
    # NVIDIA A100 40/80 GB, H100 80 GB, H200 141 GB: HyperPod workers and training jobs.
    _type("ml.p4d.24xlarge", NVIDIA, 8, 40, 8000, True, 96, 1152, *_WORKER, ENDPOINT),
    _type("ml.p4de.24xlarge", NVIDIA, 8, 80, 8000, True, 96, 1152, *_WORKER),
    _type("ml.p5.48xlarge", NVIDIA, 8, 80, 30720, True, 192, 2048, *_WORKER, ENDPOINT),
    _type("ml.p5e.48xlarge", NVIDIA, 8, 141, 30720, True, 192, 2048, *_WORKER),
    _type("ml.p5en.48xlarge", NVIDIA, 8, 141, 30720, True, 192, 2048, *_WORKER),
    # AWS Trainium (32 GiB per chip) and Trainium2 (96 GiB per chip).
    _type("ml.trn1.32xlarge", NEURON, 16, 32, 7600, True, 128, 512, *_WORKER),
    _type("ml.trn1n.32xlarge", NEURON, 16, 32, 7600, True, 128, 512, *_WORKER),
    _type("ml.trn2.48xlarge", NEURON, 16, 96, 7600, True, 192, 2048, *_WORKER),
    # NVIDIA A10G 24 GB: endpoints; 2xlarge and 12xlarge also small training jobs.
    _type("ml.g5.xlarge", NVIDIA, 1, 24, 250, False, 4, 16, ENDPOINT),
    _type("ml.g5.2xlarge", NVIDIA, 1, 24, 450, False, 8, 32, ENDPOINT, TRAINING_JOB),
    _type("ml.g5.4xlarge", NVIDIA, 1, 24, 600, False, 16, 64, ENDPOINT),
    _type("ml.g5.8xlarge", NVIDIA, 1, 24, 900, True, 32, 128, ENDPOINT),
    _type("ml.g5.12xlarge", NVIDIA, 4, 24, 3800, True, 48, 192, ENDPOINT, TRAINING_JOB),
    _type("ml.g5.16xlarge", NVIDIA, 1, 24, 1900, True, 64, 256, ENDPOINT),
    _type("ml.g5.24xlarge", NVIDIA, 4, 24, 3800, True, 96, 384, ENDPOINT),
    _type("ml.g5.48xlarge", NVIDIA, 8, 24, 7600, True, 192, 768, ENDPOINT),
    # NVIDIA L4 24 GB: endpoints.
    _type("ml.g6.xlarge", NVIDIA, 1, 24, 250, False, 4, 16, ENDPOINT),
    _type("ml.g6.2xlarge", NVIDIA, 1, 24, 450, False, 8, 32, ENDPOINT),
    _type("ml.g6.4xlarge", NVIDIA, 1, 24, 600, False, 16, 64, ENDPOINT),
    _type("ml.g6.8xlarge", NVIDIA, 1, 24, 900, True, 32, 128, ENDPOINT),
    _type("ml.g6.12xlarge", NVIDIA, 4, 24, 3760, True, 48, 192, ENDPOINT),
    _type("ml.g6.16xlarge", NVIDIA, 1, 24, 1880, True, 64, 256, ENDPOINT),
    _type("ml.g6.24xlarge", NVIDIA, 4, 24, 3760, True, 96, 384, ENDPOINT),
    _type("ml.g6.48xlarge", NVIDIA, 8, 24, 7520, True, 192, 768, ENDPOINT),
    # NVIDIA L40S 48 GB: endpoints; 12xlarge also training jobs.
    _type("ml.g6e.xlarge", NVIDIA, 1, 48, 250, False, 4, 32, ENDPOINT),
    _type("ml.g6e.2xlarge", NVIDIA, 1, 48, 450, False, 8, 64, ENDPOINT),
    _type("ml.g6e.4xlarge", NVIDIA, 1, 48, 600, False, 16, 128, ENDPOINT),
    _type("ml.g6e.8xlarge", NVIDIA, 1, 48, 900, True, 32, 256, ENDPOINT),
    _type("ml.g6e.12xlarge", NVIDIA, 4, 48, 3800, True, 48, 384, ENDPOINT, TRAINING_JOB),
    _type("ml.g6e.16xlarge", NVIDIA, 1, 48, 1900, True, 64, 512, ENDPOINT),
    _type("ml.g6e.24xlarge", NVIDIA, 4, 48, 3800, True, 96, 768, ENDPOINT),
    _type("ml.g6e.48xlarge", NVIDIA, 8, 48, 7600, True, 192, 1536, ENDPOINT),
    # AWS Inferentia2 (32 GiB per chip): endpoints; EBS only.
    _type("ml.inf2.xlarge", NEURON, 1, 32, 0, False, 4, 16, ENDPOINT),
    _type("ml.inf2.8xlarge", NEURON, 1, 32, 0, False, 32, 128, ENDPOINT),
    _type("ml.inf2.24xlarge", NEURON, 6, 32, 0, False, 96, 384, ENDPOINT),
    _type("ml.inf2.48xlarge", NEURON, 12, 32, 0, False, 192, 768, ENDPOINT),
    # CPU only, EBS only: the HyperPod controller; a few small endpoints.
    _type("ml.m5.xlarge", NO_ACCELERATOR, 0, 0, 0, False, 4, 16, HYPERPOD_CONTROLLER, ENDPOINT),
    _type("ml.m5.2xlarge", NO_ACCELERATOR, 0, 0, 0, False, 8, 32, HYPERPOD_CONTROLLER, ENDPOINT),
    _type("ml.m5.4xlarge", NO_ACCELERATOR, 0, 0, 0, False, 16, 64, HYPERPOD_CONTROLLER),
    _type("ml.m5.8xlarge", NO_ACCELERATOR, 0, 0, 0, False, 32, 128, HYPERPOD_CONTROLLER),
    _type("ml.m5.12xlarge", NO_ACCELERATOR, 0, 0, 0, False, 48, 192, HYPERPOD_CONTROLLER),
    _type("ml.m6i.xlarge", NO_ACCELERATOR, 0, 0, 0, False, 4, 16, HYPERPOD_CONTROLLER),
    _type("ml.m6i.2xlarge", NO_ACCELERATOR, 0, 0, 0, False, 8, 32, HYPERPOD_CONTROLLER),
    _type("ml.m6i.4xlarge", NO_ACCELERATOR, 0, 0, 0, False, 16, 64, HYPERPOD_CONTROLLER),
    _type("ml.m6i.8xlarge", NO_ACCELERATOR, 0, 0, 0, False, 32, 128, HYPERPOD_CONTROLLER),
    _type("ml.m6i.12xlarge", NO_ACCELERATOR, 0, 0, 0, False, 48, 192, HYPERPOD_CONTROLLER),
    _type("ml.c5.xlarge", NO_ACCELERATOR, 0, 0, 0, False, 4, 8, HYPERPOD_CONTROLLER),
    _type("ml.c5.2xlarge", NO_ACCELERATOR, 0, 0, 0, False, 8, 16, HYPERPOD_CONTROLLER, ENDPOINT),
    _type("ml.c5.4xlarge", NO_ACCELERATOR, 0, 0, 0, False, 16, 32, HYPERPOD_CONTROLLER),
    _type("ml.c5.12xlarge", NO_ACCELERATOR, 0, 0, 0, False, 48, 96, HYPERPOD_CONTROLLER),
    _type("ml.c6i.xlarge", NO_ACCELERATOR, 0, 0, 0, False, 4, 8, HYPERPOD_CONTROLLER),
    _type("ml.c6i.2xlarge", NO_ACCELERATOR, 0, 0, 0, False, 8, 16, HYPERPOD_CONTROLLER),
    _type("ml.c6i.4xlarge", NO_ACCELERATOR, 0, 0, 0, False, 16, 32, HYPERPOD_CONTROLLER),
    _type("ml.c6i.8xlarge", NO_ACCELERATOR, 0, 0, 0, False, 32, 64, HYPERPOD_CONTROLLER),
    _type("ml.c6i.12xlarge", NO_ACCELERATOR, 0, 0, 0, False, 48, 96, HYPERPOD_CONTROLLER),
    _type("ml.t3.medium", NO_ACCELERATOR, 0, 0, 0, False, 2, 4, HYPERPOD_CONTROLLER),
    _type("ml.t3.large", NO_ACCELERATOR, 0, 0, 0, False, 2, 8, HYPERPOD_CONTROLLER),
    _type("ml.t3.xlarge", NO_ACCELERATOR, 0, 0, 0, False, 4, 16, HYPERPOD_CONTROLLER),
    _type("ml.t3.2xlarge", NO_ACCELERATOR, 0, 0, 0, False, 8, 32, HYPERPOD_CONTROLLER),
)
CATALOGUE: dict[str, InstanceType] = {instance.name: instance for instance in _TYPES}


def lookup(instance_type: str) -> InstanceType:
    """The catalogue's entry; UnknownInstanceType names the type and what is known."""
    try:
        return CATALOGUE[instance_type]
    except (KeyError, TypeError):
        raise UnknownInstanceType(f"unknown instance type {instance_type!r}; OpenForge runs on: {', '.join(sorted(CATALOGUE))}") from None


def types_for(use: str, accelerator: str | None = None) -> tuple[str, ...]:
    """The types allowed for a use (and accelerator kind), sorted by name."""
    if use not in USES:
        raise ValueError(f"unknown use {use!r}; expected one of {', '.join(USES)}")
    return tuple(sorted(name for name, instance in CATALOGUE.items()
                        if use in instance.uses and accelerator in (None, instance.accelerator)))


GPU_TRAINING_TYPES = types_for(HYPERPOD_WORKER, NVIDIA)  # the cluster's GPU worker group
TRAINIUM_TRAINING_TYPES = types_for(HYPERPOD_WORKER, NEURON)  # the cluster's Trainium worker group
HYPERPOD_WORKER_TYPES = types_for(HYPERPOD_WORKER)
CONTROLLER_TYPES = types_for(HYPERPOD_CONTROLLER)
TRAINING_JOB_TYPES = types_for(TRAINING_JOB)
ENDPOINT_TYPES = types_for(ENDPOINT)
LOCAL_STORAGE_TYPES = tuple(sorted(name for name, instance in CATALOGUE.items() if instance.has_local_storage))

# The platform's defaults where cdk.json or a run's input names no type (platform_config, the input schema).
DEFAULT_GPU_TRAINING_TYPE = "ml.p5.48xlarge"
DEFAULT_TRAINIUM_TRAINING_TYPE = "ml.trn1.32xlarge"
DEFAULT_ENDPOINT_TYPE = "ml.g5.2xlarge"


# --- AWS rules that depend on the instance type --------------------------------------------

def volume_kms_key_allowed(instance_type: str) -> bool:
    """Whether a request on this type may name a volume KMS key: ResourceConfig.VolumeKmsKeyId
    (CreateTrainingJob) and KmsKeyId (CreateEndpointConfig). AWS: "Certain Nitro-based
    instances include local storage ... encrypted using a hardware module on the instance.
    You can't request a VolumeKmsKeyId when using an instance type with local storage."
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html
    CreateEndpointConfig's KmsKeyId said the same ("the call to CreateEndpointConfig fails",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html);
    botocore 1.44's copy of that page now says only that the key "does not encrypt instance
    local storage". Leaving it out is right under either wording: the key would protect nothing."""
    return not lookup(instance_type).has_local_storage


def max_volume_size_gb(instance_type: str) -> int:
    """The largest ResourceConfig.VolumeSizeInGB a training job on this type may ask for. On
    types with local NVMe, SageMaker mounts the instance store instead of EBS and "You can't
    request a VolumeSizeInGB greater than the total size of the local instance storage"
    (API_ResourceConfig, and "Available storage is fixed to the NVMe-type instance's storage
    capacity"); otherwise it is an EBS gp2 volume."""
    instance = lookup(instance_type)
    return instance.local_storage_gb if instance.has_local_storage else EBS_VOLUME_MAX_GB


def volume_size_problem(instance_type: str, size_gb: int) -> str | None:
    """Why VolumeSizeInGB=size_gb cannot be requested on this type, or None when it can."""
    limit = max_volume_size_gb(instance_type)
    if not isinstance(size_gb, int) or isinstance(size_gb, bool) or size_gb < EBS_VOLUME_MIN_GB:
        return f"VolumeSizeInGB must be a whole number of at least {EBS_VOLUME_MIN_GB}, got {size_gb!r}"
    if size_gb > limit:
        where = f"its local NVMe instance storage ({limit} GB)" if lookup(instance_type).has_local_storage else f"the EBS gp2 maximum ({limit} GiB)"
        return f"VolumeSizeInGB {size_gb} is more than {instance_type} allows: {where}"
    return None


def training_volume_size_gb(instance_type: str, wanted_gb: int) -> int:
    """What to request: the size wanted, cut to what the type supports (a local-NVMe type
    gets its whole instance store whatever is asked, so asking for less loses nothing)."""
    return min(wanted_gb, max_volume_size_gb(instance_type))


def uses_neuron(instance_type: str) -> bool:
    """Trainium and Inferentia need the Neuron build of a container; the rest run CUDA or CPU."""
    return lookup(instance_type).accelerator == NEURON
