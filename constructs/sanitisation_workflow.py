"""The sanitisation workflow: a Step Functions Distributed Map that runs the shard Lambda
over every object under the input prefix, then a summary Lambda that totals, removes
cross-shard duplicates, writes the report, and decides: within the quarantine limit ->
succeed; over it -> fail with the summary's readable cause.

Execution input (only input_prefix is required):
    {"input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/",
     "max_quarantine_percent": 5, "settings": {"marker_fix": "space", "near_dedup": true}}
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from constructs.job_role import JobRole
from constructs.permissions import BucketRef, read_objects, read_write_objects, use_key
from constructs.pipeline_function import FunctionPlacement, build_function, invoke
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork

from openforge_contract import states
from openforge_contract.environment_variables import OutputKey
from openforge_contract.s3_layout import MAP_RESULTS_PREFIX, PLAN_MANIFESTS, SANITISATION_READS, SANITISATION_WRITES
from sanitiser.plan import DEFAULT_SHARD_BYTES
from security.acknowledgements import acknowledge


def _objects_under_key(s3_actions: list[str], objects_arn: str, kms_actions: list[str], key_arn: str) -> list[iam.PolicyStatement]:
    """S3 actions on some objects of the datasets bucket, and the key they are encrypted under."""
    return [iam.PolicyStatement(actions=s3_actions, resources=[objects_arn]), iam.PolicyStatement(actions=kms_actions, resources=[key_arn])]


class PrefixResultWriter(sfn.ResultWriterV2):
    """Map results to S3 under one prefix. aws-cdk-lib's own writer grants the state machine
    read and write on the whole bucket (here: all customer data); this grants the prefix."""

    def __init__(self, bucket: s3.IBucket, prefix: str, objects_arn: str, key_arn: str):
        super().__init__(bucket=bucket, prefix=prefix)
        self._objects_arn, self._key_arn = objects_arn, key_arn

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return _objects_under_key(["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"], self._objects_arn,
                                  ["kms:GenerateDataKey", "kms:Decrypt"], self._key_arn)


class PlanItemReader(sfn.S3JsonItemReader):
    """The map's items from the plan manifest. aws-cdk-lib's reader grants read on every
    object in the bucket; this grants the plan manifests only."""

    def __init__(self, bucket: s3.IBucket, key: str, manifests_arn: str, key_arn: str):
        super().__init__(bucket=bucket, key=key)
        self._manifests_arn, self._key_arn = manifests_arn, key_arn

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return _objects_under_key(["s3:GetObject"], self._manifests_arn, ["kms:Decrypt"], self._key_arn)


@dataclass(frozen=True)
class SanitisationStates:
    chain: sfn.Chain  # plan -> map -> summary
    tasks: tuple[sfn.TaskStateBase | sfn.DistributedMap, ...]


class SanitisationWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        state_machine_name: str,
        datasets: PrivateBucket,
        network: PrivateNetwork,
        logs_key: kms.IKey,
        log_retention: logs.RetentionDays,
        layer: lambda_.ILayerVersion,
        max_concurrency: int,
        shard_memory_mb: int,
        max_quarantine_percent: float,
    ) -> None:
        super().__init__(scope, id_)
        self._datasets, self._logs_key, self._retention = datasets, logs_key, log_retention
        self.state_machine_name = state_machine_name
        self.function_names: dict[str, str] = {}
        self.roles: dict[str, JobRole] = {}
        self._bucket_ref = BucketRef.of(datasets)
        self.security_group = network.workload_security_group(self, "FunctionsSecurityGroup", description="Sanitisation Lambdas")
        self._placement = FunctionPlacement(layer, network, self.security_group, logs_key, datasets.encryption_key, log_retention,
                                            f"/openforge/{state_machine_name}")
        self.shard_function = self._build_function("SanitiseShard", "sanitise_shard", shard_memory_mb, max_concurrency,
                                                   reads=SANITISATION_READS, writes=SANITISATION_WRITES)
        self.roles["SanitiseShard"].allow(  # the comprehend_pii setting; reached through the VPC endpoint
            ["comprehend:DetectPiiEntities"], ["*"], why_wildcard="Comprehend's DetectPiiEntities has no resource type to scope to.")
        self.summary_function = self._build_function("SummariseSanitisation", "summarise_sanitisation", 3008, 2,
                                                     reads=(), writes=SANITISATION_WRITES)
        self.plan_function = self._build_function("PlanShards", "plan_shards", 1024, 2, reads=SANITISATION_READS, writes=SANITISATION_WRITES)
        self.state_machine = self._build_state_machine(state_machine_name, max_concurrency, max_quarantine_percent)

    def _build_function(self, function_id: str, folder: str, memory_mb: int, concurrency: int, *, reads: tuple[str, ...],
                        writes: tuple[str, ...]) -> lambda_.Function:
        # A fixed name: the fine-tuning pipeline (another stack) invokes these by ARN, with no export.
        name = self.function_names[function_id] = f"{self.state_machine_name}-{folder}"
        function, role = build_function(self, function_id, folder, self._placement, memory_mb=memory_mb, concurrency=concurrency,
                                        environment=OutputKey(self._datasets.encryption_key.key_arn).as_environment(), function_name=name)
        self.roles[function_id] = role
        for prefix in reads:
            read_objects(role, self._bucket_ref, prefix)
        for prefix in writes:
            read_write_objects(role, self._bucket_ref, prefix)
        stack = Stack.of(self)
        role.allow(["s3:ListBucket"], [self._bucket_ref.arn(stack)], conditions={"StringLike": {"s3:prefix": [f"{p}/*" for p in (*reads, *writes)]}})
        role.allow(["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], [self._bucket_ref.objects(stack, p) for p in writes],
                   why_wildcard="Multipart uploads of outputs under the prefix this function writes.")
        use_key(role, self._datasets.encryption_key.key_arn, encrypt=True)
        return function

    def _build_state_machine(self, name: str, max_concurrency: int, max_quarantine_percent: float) -> sfn.StateMachine:
        defaults = {"settings": {}, "max_quarantine_percent": max_quarantine_percent, "shard_bytes": DEFAULT_SHARD_BYTES}
        apply_defaults = sfn.Pass(self, "Apply defaults", parameters={
            "job.$": f"States.JsonMerge(States.StringToJson('{json.dumps(defaults)}'), $, false)",
        }, output_path="$.job")
        sanitisation = self.build_states(self, job="$", results="$", summary="sanitisation", max_concurrency=max_concurrency)
        verdict = (
            sfn.Choice(self, states.QUARANTINE_CHECK)
            .when(sfn.Condition.boolean_equals("$.sanitisation.passed", True), sfn.Succeed(self, "Sanitised"))
            .otherwise(sfn.Fail(self, states.QUARANTINE_EXCEEDED, error="QuarantineLimitExceeded", cause_path="$.sanitisation.cause"))
        )
        log_group = logs.LogGroup(self, "StateMachineLogs", encryption_key=self._logs_key, retention=self._retention)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_chainable(apply_defaults.next(sanitisation.chain).next(verdict)),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        self.acknowledge_map_access(machine)
        acknowledge(machine, "Step Functions' own role: aws-cdk-lib writes its policies (invoke these two functions and their versions, run and stop this state machine's Distributed Map child executions, X-Ray and log delivery, which have no resource scoping) as inline policies scoped to these resources.",
                    "HIPAA.Security-IAMNoInlinePolicy", "NIST.800.53.R5-IAMNoInlinePolicy", *self._generated_wildcards(machine))
        return machine

    def build_states(self, scope: Construct, *, job: str, results: str, summary: str, max_concurrency: int) -> SanitisationStates:
        """Plan -> Distributed Map over the shards -> summary, for any state machine: this
        workflow's own, or the fine-tuning pipeline's. ``job`` is the path of the job
        ({input_prefix, output_prefix, settings, max_quarantine_percent, shard_bytes});
        results go under ``results`` (plan, map_run, and the summary as ``summary``)."""
        at = (lambda name: f"{results}.{name}") if results != "$" else (lambda name: f"$.{name}")
        field = (lambda name: f"{job}.{name}") if job != "$" else (lambda name: f"$.{name}")
        output = {"bucket": self._datasets.name, "prefix.$": field("output_prefix")}
        plan_function, shard_function, summary_function = (self._seen_from(scope, function) for function in
                                                           (self.plan_function, self.shard_function, self.summary_function))
        plan = invoke(scope, plan_function, states.PLAN_SHARDS,
                      payload=sfn.TaskInput.from_object({"bucket": self._datasets.name, "input_prefix.$": field("input_prefix"),
                                                         "output_prefix.$": field("output_prefix"), "shard_bytes.$": field("shard_bytes"),
                                                         "settings.$": field("settings")}),  # refused there, before any shard runs
                      result_path=at("plan"))
        datasets = s3.Bucket.from_bucket_name(scope, "Datasets", self._datasets.name)
        stack = Stack.of(scope)
        shards = sfn.DistributedMap(
            scope,
            states.SANITISE,
            item_reader=PlanItemReader(datasets, sfn.JsonPath.string_at(f"{at('plan')}.manifest_key"),
                                       f"arn:{stack.partition}:s3:::{self._datasets.name}/{PLAN_MANIFESTS}", self._datasets.encryption_key.key_arn),
            item_selector={
                "bucket": self._datasets.name,
                "key.$": "$$.Map.Item.Value.key",
                "range.$": "$$.Map.Item.Value.range",
                "object_bytes.$": "$$.Map.Item.Value.object_bytes",  # its size when planned: a shard refuses an object changed since
                "input_prefix.$": field("input_prefix"),
                "output": output,
                "settings.$": field("settings"),
            },
            max_concurrency=max_concurrency,
            # Each shard's counts go to S3 as the map's results (its full stats are in stats/);
            # the state's own output keeps only the map run's summary, never thousands of items.
            result_writer_v2=PrefixResultWriter(datasets, MAP_RESULTS_PREFIX,
                                                self._bucket_ref.objects(stack, MAP_RESULTS_PREFIX), self._datasets.encryption_key.key_arn),
            result_path=at("map_run"),
        )
        shards.item_processor(invoke(scope, shard_function, states.SANITISE_SHARD))
        summarise = invoke(scope, summary_function, states.SUMMARISE_SANITISATION,
                           payload=sfn.TaskInput.from_object({"output": output, "max_quarantine_percent.$": field("max_quarantine_percent")}),
                           result_path=at(summary))
        return SanitisationStates(chain=plan.next(shards).next(summarise), tasks=(plan, shards, summarise))

    def _seen_from(self, scope: Construct, function: lambda_.Function) -> lambda_.IFunction:
        stack = Stack.of(scope)
        if stack is Stack.of(self):
            return function
        name = self.function_names[function.node.id]
        return lambda_.Function.from_function_attributes(scope, f"{function.node.id}Function", same_environment=True,
                                                         function_arn=self.function_arn(stack, name))

    @staticmethod
    def function_arn(stack: Stack, name: str) -> str:
        return f"arn:{stack.partition}:lambda:{stack.region}:{stack.account}:function:{name}"

    def acknowledge_map_access(self, machine: sfn.StateMachine) -> None:
        """The Distributed Map's narrowed S3 access, on the role of a machine that runs it."""
        acknowledge(machine, "The Distributed Map writes its result files (one per run, named by Step Functions) under this prefix only.",
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{self._datasets.name}/{MAP_RESULTS_PREFIX}/*]")
        acknowledge(machine, "The Distributed Map reads its item list, the plan manifest each execution writes under the sanitised prefix.",
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{self._datasets.name}/{PLAN_MANIFESTS}]")

    def _generated_wildcards(self, machine: sfn.StateMachine) -> list[str]:
        """The IAM5 finding ids of aws-cdk-lib's generated statements, as cdk-nag prints them."""
        stack = Stack.of(self)

        def logical_id(construct) -> str:
            return stack.resolve(construct.node.default_child.logical_id)

        executions = f'arn:<AWS::Partition>:states:{stack.region}:{stack.account}:execution:{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}'
        resources = ["*", f"{executions}:*", f"{executions}/*:*"]
        resources += [f"<{logical_id(function)}.Arn>:*" for function in (self.plan_function, self.shard_function, self.summary_function)]
        return [f"AwsSolutions-IAM5[Resource::{resource}]" for resource in resources]
