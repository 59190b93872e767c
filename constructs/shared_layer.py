"""The one Lambda layer every OpenForge function runs with: our shared packages and the
third-party wheels built for the Lambda runtime (constructs/lambda_packaging.py). Created
once per environment by the sanitisation stack; the sanitisation workflow and the
fine-tuning pipeline are both handed it."""
from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from constructs.lambda_packaging import RUNTIME, shared_layer_code


class SharedLayer(lambda_.LayerVersion):
    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_, code=shared_layer_code(), compatible_runtimes=[RUNTIME],
                         compatible_architectures=[lambda_.Architecture.X86_64], description="OpenForge sanitiser + shared code")
