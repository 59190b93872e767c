"""Where things live in the platform's two buckets, said once.

Read by the run plan (openforge_lambda/run_plan.py: a run's data must lie under these
prefixes, its outputs go under them), the IAM grants of the training role and the
sanitisation functions (constructs/training_roles.py, constructs/sanitisation_workflow.py,
constructs/fine_tuning_pipeline/), the default data locations the stack hands ValidateInput,
the sanitiser (sanitiser/shard.py writes a run's output folders), the sanitisation functions
(openforge_lambda/sanitisation.py writes the shard plan) and the tracking server's store.

    datasets bucket                         artifacts bucket
      raw/<job>/                              base-models/<name>/ (default/: the platform's)
      sanitised/<job>/<execution>/            training/<job>/<execution>/<job name>/output/model/
        clean/ quarantine/ duplicates/        checkpoints/<job>/<execution>/<job name>/
        stats/ keys/ plan/items.json          reports/<job>/<execution>/ (the mixes' comparison)
      sanitised/map-results/                  mlflow/ (the tracking server's artifacts)
      curated/<category>/                     platform/hyperpod-lifecycle/ (the cluster's scripts)
      evaluation/<name>/ (default/)           hyperpod/<cluster>/{jobs,status,cancel}/

The HyperPod prefixes are hyperpod_jobs.spec's (cluster_prefix and the rest): that package
runs standalone on the cluster's controller, so it says them itself and the CDK app imports
them from it.
"""
from __future__ import annotations

# --- the datasets bucket ------------------------------------------------------------------

RAW_PREFIX = "raw"  # customer data as exported, one folder per job; only the sanitisation functions read it
SANITISED_PREFIX = "sanitised"  # the sanitiser's output, <job>/<execution>/ per run
CURATED_PREFIX = "curated"  # the curated pools mixed into training, one folder (or file prefix) per category
EVALUATION_PREFIX = "evaluation"  # held-out evaluation data, one folder per team or dataset

# A run's sanitised output, <output prefix>/<kind>/<input path>[suffix] (output_key): training
# reads only the clean lines; quarantine holds the raw, unscrubbed lines the sanitiser refused.
CLEAN_OUTPUT = "clean"
QUARANTINE_OUTPUT = "quarantine"
DUPLICATES_OUTPUT = "duplicates"
STATS_OUTPUT = "stats"  # each shard's counts, which the summary totals
KEYS_OUTPUT = "keys"  # each shard's content keys of its clean records, for the summary's cross-shard dedup
OUTPUT_KINDS = (CLEAN_OUTPUT, QUARANTINE_OUTPUT, DUPLICATES_OUTPUT, STATS_OUTPUT, KEYS_OUTPUT)
OUTPUT_SUFFIXES = {STATS_OUTPUT: ".json", KEYS_OUTPUT: ".bin"}
WITHHELD_OUTPUTS = tuple(kind for kind in OUTPUT_KINDS if kind != CLEAN_OUTPUT)  # never readable by training
# The Distributed Map's items (objects, or byte ranges of large ones), one file per run.
PLAN_MANIFEST = "plan/items.json"
PLAN_MANIFESTS = f"{SANITISED_PREFIX}/*/{PLAN_MANIFEST}"  # every run's, as IAM matches them ("*" spans "/")
# Where the Distributed Map writes its result files.
MAP_RESULTS_PREFIX = f"{SANITISED_PREFIX}/map-results"

# --- the artifacts bucket -----------------------------------------------------------------

BASE_MODELS_PREFIX = "base-models"  # base models in Hugging Face format, one folder each
MODEL_CONFIG = "config.json"  # a Hugging Face model folder's configuration: all ValidateInput reads of a base model
BASE_MODEL_CONFIGS = f"{BASE_MODELS_PREFIX}/*/{MODEL_CONFIG}"  # every base model's, as IAM matches them ("*" spans "/")
TRAINING_PREFIX = "training"  # the training jobs' output: the tuned models
CHECKPOINTS_PREFIX = "checkpoints"
REPORTS_PREFIX = "reports"  # the evaluation jobs' reports and the pick's comparison
MLFLOW_PREFIX = "mlflow"  # the tracking server's artifact store
LIFECYCLE_PREFIX = "platform/hyperpod-lifecycle"  # the HyperPod lifecycle scripts and the submitter package

# --- what a run reads unless its input says otherwise (docs/pipeline-input.md) -------------

DEFAULT_BASE_MODEL = f"{BASE_MODELS_PREFIX}/default/"
DEFAULT_CURATED_DATA = f"{CURATED_PREFIX}/"
DEFAULT_EVALUATION_DATA = f"{EVALUATION_PREFIX}/default/"

# --- who may read and write what ----------------------------------------------------------

# Training and evaluation jobs (SageMaker or HyperPod): they read the clean sanitised output
# (SANITISED_PREFIX, CLEAN_OUTPUT) and these, and write their results under these.
TRAINING_READS_DATASETS = (CURATED_PREFIX, EVALUATION_PREFIX)
TRAINING_READS_ARTIFACTS = (BASE_MODELS_PREFIX,)
TRAINING_WRITES_ARTIFACTS = (TRAINING_PREFIX, CHECKPOINTS_PREFIX, REPORTS_PREFIX)
# The sanitisation functions read raw data and write the sanitised output.
SANITISATION_READS = (RAW_PREFIX,)
SANITISATION_WRITES = (SANITISED_PREFIX,)


def output_folder(output_prefix: str, kind: str) -> str:
    """The folder of one kind of a run's sanitised output."""
    return f"{output_prefix.rstrip('/')}/{kind}/"


# The trainer reads the *.jsonl files below a clean folder (openforge_training/sources.py):
# every clean file is named so, whatever its input was called or however it was sharded.
CLEAN_SUFFIX = ".jsonl"
READ_AS_JSONL = (".jsonl", ".json")  # input suffixes (any case) a clean name replaces rather than extends


def shard_name(path: str, byte_range: tuple[int, int] | None = None) -> str:
    """The name a shard's outputs take below each output folder, from its input's ``path``
    below the run's input prefix: ``data.JSONL`` -> ``data.jsonl``, ``export.txt`` ->
    ``export.txt.jsonl``, bytes 0-99 of ``big.jsonl`` -> ``big.bytes-000000000000000-000000000000099.jsonl``
    (zero-padded: a file's ranges sort in order)."""
    base = next((path[: -len(suffix)] for suffix in READ_AS_JSONL if path.lower().endswith(suffix)), path)
    if byte_range is not None:
        base += f".bytes-{byte_range[0]:015d}-{byte_range[1]:015d}"
    return base + CLEAN_SUFFIX


def output_key(output_prefix: str, kind: str, path: str) -> str:
    """Where the sanitiser writes its ``kind`` of output for the input at ``path`` (below the
    run's input prefix)."""
    return f"{output_folder(output_prefix, kind)}{path}{OUTPUT_SUFFIXES.get(kind, '')}"


def plan_manifest_key(output_prefix: str) -> str:
    """The shard plan of a run whose sanitised output goes under ``output_prefix``."""
    return f"{output_prefix.rstrip('/')}/{PLAN_MANIFEST}"

