"""The fine-tuning pipeline: one Step Functions state machine a person starts from the
console, from raw S3 data to a private endpoint, or to a failure whose cause they can read.

    Validate the input -> Sanitise the data (the sanitisation state machine, nested)
    -> validation run (5 steps) -> for each mix (one, or a grid): train, evaluate
    -> pick the model (forgetting gate) -> deploy the private endpoint -> summary, notify
    any failure -> clean up (stop jobs, roll back the endpoint) -> notify -> fail

Jobs are polled with Wait + a describe Lambda rather than `.sync` integrations: the same
shape runs under moto's interpreter in the tests and in the cloud. State names come from
openforge_contract/states.py, shared with the local runner and the command-line client.

This folder: the construct (here), its Lambdas (functions.py) and what they may do
(grants.py), the definition (state_machine.py) with its job loops (job_loops.py), and the
arithmetic of the execution's timeout and polling (run_limits.py).
"""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct
from constructs.fine_tuning_pipeline.functions import PipelineFunctions
from constructs.fine_tuning_pipeline.grants import PipelineGrants, TrainingPlatform, build_serving_role
from constructs.fine_tuning_pipeline.state_machine import build_state_machine
from constructs.permissions import BucketRef
from constructs.pipeline_function import FunctionPlacement
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from constructs.sanitisation_workflow import SanitisationWorkflow

from openforge_contract import naming
from openforge_contract.environment_variables import EndedRunSettings
from platform_config.environments import EnvironmentConfig

# The statuses of an execution that ended without finishing (a FAILED one may have skipped its failure path).
END_STATUSES = ("ABORTED", "TIMED_OUT", "FAILED")


class FineTuningPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        network: PrivateNetwork,
        datasets: PrivateBucket,
        artifacts: PrivateBucket,
        logs_key: kms.IKey,
        log_retention: logs.RetentionDays,
        layer: lambda_.ILayerVersion,
        sanitisation: SanitisationWorkflow,
        training: TrainingPlatform,
    ) -> None:
        super().__init__(scope, id_)
        self._training = training
        artifacts_ref = BucketRef.of(artifacts)
        subnet_ids = network.vpc.select_subnets(subnet_group_name="isolated").subnet_ids
        self.state_machine_name = naming.fine_tuning_state_machine(config.name)
        functions_group = network.workload_security_group(self, "FunctionsSecurityGroup", description="Pipeline Lambdas")
        self.endpoint_security_group = network.workload_security_group(self, "EndpointSecurityGroup", description="Private inference endpoints")
        placement = FunctionPlacement(layer, network, functions_group, logs_key, artifacts.encryption_key, log_retention,
                                      f"/openforge/{self.state_machine_name}")
        self.serving_role = build_serving_role(self, artifacts_ref, config.serving_image_uri)
        self._grants = PipelineGrants(self, config=config, training=training, artifacts=artifacts_ref, subnet_ids=subnet_ids,
                                      endpoint_security_group=self.endpoint_security_group, serving_role=self.serving_role,
                                      state_machine_name=self.state_machine_name)
        self.notifications_key = kms.Key(self, "NotificationsKey", enable_key_rotation=True,
                                         description=f"OpenForge {config.name} pipeline notifications (SNS)",
                                         removal_policy=RemovalPolicy.RETAIN if config.retention.keep_data_on_stack_delete else RemovalPolicy.DESTROY)
        self.topic = sns.Topic(self, "Notifications", display_name=f"OpenForge {config.name} fine-tuning runs", master_key=self.notifications_key,
                               enforce_ssl=True)
        self._functions = PipelineFunctions(self, config=config, placement=placement, grants=self._grants, training=training,
                                            datasets=BucketRef.of(datasets), artifacts=artifacts_ref, subnet_ids=subnet_ids,
                                            endpoint_security_group_id=self.endpoint_security_group.security_group_id, serving_role=self.serving_role)
        self.functions, self.roles = self._functions.functions, self._functions.roles
        # The functions its steps invoke (CleanUpEndedRun, added below, is EventBridge's).
        self.state_machine = build_state_machine(self, name=self.state_machine_name, config=config, functions=dict(self.functions), topic=self.topic,
                                                 sanitisation=sanitisation, placement=placement)
        self.end_clean_up_function, self.end_rule = self._build_end_clean_up()

    def _build_end_clean_up(self) -> tuple[lambda_.Function, events.Rule]:
        """A stop, a timeout or the history limit ends an execution without running its failure
        path: EventBridge's "Step Functions Execution Status Change" for ABORTED, TIMED_OUT or
        FAILED runs the clean-up from the execution's history and notifies. A FAILED execution
        has usually cleaned up already: doing it again is harmless, and it is not notified twice.
        https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html"""
        # The endpoint namespace, to find a deployment that left no record.
        environment = {**EndedRunSettings(self.topic.topic_arn, self._training.cluster_name).as_environment(),
                       **self._grants.endpoint_namespace.as_environment()}
        role = self._functions.add("CleanUpEndedRun", "clean_up_ended_run", environment, concurrency=5)
        function = self.functions["CleanUpEndedRun"]
        self._grants.allow_training_jobs(role, start=False, stop=True)
        self._grants.allow_endpoints(role, create=False)
        role.allow(["states:DescribeExecution", "states:GetExecutionHistory"], [self._grants.executions],
                   why_wildcard="Execution names are chosen when a run starts; this state machine's executions only.")
        role.allow(["sns:Publish"], [self.topic.topic_arn])
        role.allow(["kms:GenerateDataKey", "kms:Decrypt"], [self.notifications_key.key_arn])  # the topic is encrypted with it
        rule = events.Rule(self, "EndedRunRule", description=f"Clean up after {self.state_machine_name} executions that did not finish",
                           event_pattern=events.EventPattern(source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                                                             detail={"status": list(END_STATUSES),
                                                                     "stateMachineArn": [self.state_machine.state_machine_arn]}),
                           targets=[targets.LambdaFunction(function, retry_attempts=8, max_event_age=Duration.hours(24))])
        return function, rule
