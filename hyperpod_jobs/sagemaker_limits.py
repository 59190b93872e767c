"""SageMaker's limits on a training job's request, from botocore's sagemaker service model
(the API reference's Length Constraints and Patterns:
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html,
API_Channel.html, API_StoppingCondition.html).

Said once here, in the standard library only, because both sides need them: the Lambdas and
the CLI (ValidateInput, the start check, endpoint names) and the HyperPod submitter on the
controller, which has nothing but Python's standard library.
"""
from __future__ import annotations

# TrainingJobName, EndpointName, EndpointConfigName (ModelName admits the same): at most 63.
NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
NAME_MAX_LENGTH = 63
CHANNEL_NAME = r"[A-Za-z0-9.\-_]{1,64}"
# HyperParameters: at most 100, keys at most 256 characters, values at most 2,500 (the model's
# HyperParameterValue; the prose says 256, the service checks the model) and one line: the
# value's pattern is Java's ".*", whose "." takes no line terminator.
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_KEY = 256
MAX_HYPERPARAMETER_VALUE = 2500
LINE_TERMINATORS = "\n\r\u0085\u2028\u2029"
# S3Uri: a channel's S3DataSource, OutputDataConfig.S3OutputPath, CheckpointConfig.S3Uri.
MAX_S3_URI = 1024
# StoppingCondition.MaxRuntimeInSeconds: 28 days.
MAX_RUNTIME_SECONDS = 28 * 24 * 60 * 60
