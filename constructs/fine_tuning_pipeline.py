"""The fine-tuning pipeline: one Step Functions state machine a person starts from the
console, from raw S3 data to a private endpoint, or to a failure whose cause they can read.

    Validate the input -> Sanitise the data (the sanitisation state machine, nested)
    -> validation run (5 steps) -> for each mix (one, or a grid): train, evaluate
    -> pick the model (forgetting gate) -> deploy the private endpoint -> summary, notify
    any failure -> clean up (stop jobs, roll back the endpoint) -> notify -> fail

Jobs are polled with Wait + a describe Lambda rather than `.sync` integrations: the same
shape runs under moto's interpreter in the tests and in the cloud. State names come from
openforge_contract/states.py, shared with the local runner and the command-line client.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from constructs.job_role import JobRole
from constructs.pipeline_function import FunctionPlacement, build_function, invoke
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from constructs.sanitisation_workflow import SanitisationWorkflow
from hyperpod_jobs.spec import cancel_prefix, jobs_prefix, status_prefix

from openforge_contract import naming, states
from openforge_contract.environment_variables import (EndedRunSettings, EndpointNamespace, HyperPodCluster, OutputKey, PlatformBuckets, RunDefaults,
                                                      RunLimits, ServingSettings, TrainingEnvironment)
from openforge_contract.execution_data import (DEPLOYMENT, DEPLOYMENT_LOOP, ENDPOINT, ERROR, EVALUATION, EVALUATION_LOOP, FAILED, FAILURE, MIX, OUTPUT,
                                               PLAN, RESULTS, ROLLBACK, RUN, SANITISATION, SANITISATION_SUMMARY, SELECTION, SUMMARY, TRAINING,
                                               TRAINING_LOOP, VALID, VALIDATION, VALIDATION_LOOP, JobLoop, path)
from openforge_contract.instance_catalogue import volume_kms_key_allowed
from openforge_contract.naming import TAG_ENVIRONMENT, TAG_JOB, TAG_NAMESPACE
from openforge_contract.s3_layout import DEFAULT_BASE_MODEL, DEFAULT_CURATED_DATA, DEFAULT_EVALUATION_DATA, REPORTS_PREFIX, TRAINING_PREFIX
from pipeline import run_limits
from security.acknowledgements import acknowledge
from stacks.environment_config import EnvironmentConfig
from stacks.permissions import KEY_CONDITION, OUTPUT_KMS_KEY, VOLUME_KMS_KEY, BucketRef, read_objects, read_write_objects, use_key, write_objects

# The statuses of an execution that ended without finishing (a FAILED one may have skipped its failure path).
END_STATUSES = ("ABORTED", "TIMED_OUT", "FAILED")
SAGEMAKER_JOB_NAMES = "Names are derived at run time from the job name a person gives plus a hash of the execution; the resource type is the narrowest scope."
SAGEMAKER_ENDPOINT_NAMES = ("Endpoint, endpoint config and model names are derived at run time from the job name under the environment's "
                            "prefix; changes are further limited to resources tagged as this environment's.")


@dataclass(frozen=True)
class TrainingPlatform:
    """What the compute and tracking stacks provide for the pipeline's jobs."""

    role: iam.IRole
    security_group: ec2.ISecurityGroup
    gpu_image_uri: str
    neuron_image_uri: str
    tracking_server_arn: str
    cluster_name: str | None
    cluster_arn: str | None


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
        stack = Stack.of(self)
        self._config, self._network, self._training = config, network, training
        self._datasets, self._artifacts = BucketRef(datasets.name, datasets.encryption_key.key_arn), BucketRef(artifacts.name, artifacts.encryption_key.key_arn)
        self._artifacts_key = artifacts.encryption_key
        self._subnet_ids = network.vpc.select_subnets(subnet_group_name="isolated").subnet_ids
        self._sagemaker = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        self.state_machine_name = naming.fine_tuning_state_machine(config.name)
        functions_group = network.workload_security_group(self, "FunctionsSecurityGroup", description="Pipeline Lambdas")
        self.endpoint_security_group = network.workload_security_group(self, "EndpointSecurityGroup", description="Private inference endpoints")
        self._placement = FunctionPlacement(layer, network, functions_group, logs_key, artifacts.encryption_key, log_retention,
                                            f"/openforge/{self.state_machine_name}")
        self.serving_role = self._build_serving_role()
        self.notifications_key = kms.Key(self, "NotificationsKey", enable_key_rotation=True,
                                         description=f"OpenForge {config.name} pipeline notifications (SNS)",
                                         removal_policy=RemovalPolicy.RETAIN if config.retention.keep_data_on_stack_delete else RemovalPolicy.DESTROY)
        self.topic = sns.Topic(self, "Notifications", display_name=f"OpenForge {config.name} fine-tuning runs", master_key=self.notifications_key,
                               enforce_ssl=True)
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, JobRole] = {}
        self._build_functions()
        self._waits: dict[str, sfn.Wait] = {}  # the polling states, by name, for the Choices that loop back
        self._checks: dict[str, tasks.LambdaInvoke] = {}
        self.state_machine = self._build_state_machine(sanitisation)
        self.end_rule = self._build_end_clean_up()

    # --- functions -------------------------------------------------------------------------

    def _function(self, id_: str, folder: str, environment: dict[str, str], *, memory_mb: int = 512, concurrency: int = 10) -> JobRole:
        function, role = build_function(self, id_, folder, self._placement, memory_mb=memory_mb, concurrency=concurrency, environment=environment)
        self.functions[id_], self.roles[id_] = function, role
        return role

    def _build_functions(self) -> None:
        config, datasets, artifacts = self._config, self._datasets, self._artifacts
        self._function("ValidateInput", "validate_input", {**self._run_checks_environment(), **RunDefaults(
            poll_seconds=config.pipeline.poll_seconds,
            max_quarantine_percent=config.sanitisation.max_quarantine_percent,
            # Where the platform keeps what a run uses unless its input says otherwise (docs/pipeline-input.md).
            base_model_s3_uri=f"s3://{artifacts.name}/{DEFAULT_BASE_MODEL}",
            curated_data_s3_uri=f"s3://{datasets.name}/{DEFAULT_CURATED_DATA}",
            evaluation_data_s3_uri=f"s3://{datasets.name}/{DEFAULT_EVALUATION_DATA}",
            endpoint_instance_types=tuple(config.serving.endpoint_instance_types),
        ).as_environment(join=_join)})
        training_environment = self._training_environment()
        # The start function checks a run and its plan again (a direct invoke skips ValidateInput).
        # It stops again a job it started for an execution that had ended meanwhile (openforge_lambda.execution_check).
        start = self._function("StartTrainingJob", "start_training_job", {**training_environment, **self._run_checks_environment()})
        self._allow_training_jobs(start, start=True, stop=True)
        self._allow_describe_execution(start)
        self._allow_training_jobs(self._function("CheckTrainingJob", "check_training_job", training_environment), start=False)
        pick = self._function("PickModel", "pick_model", OutputKey(artifacts.key_arn).as_environment())
        for prefix in (TRAINING_PREFIX, REPORTS_PREFIX):
            read_objects(pick, artifacts, prefix)
        read_write_objects(pick, artifacts, REPORTS_PREFIX)
        use_key(pick, artifacts.key_arn, encrypt=True)
        serving_environment = self._serving_environment()
        deploy = self._function("DeployEndpoint", "deploy_endpoint", serving_environment)
        self._allow_endpoints(deploy, create=True)
        self._allow_describe_execution(deploy)
        self._allow_endpoints(self._function("CheckEndpoint", "check_endpoint", {}), create=False, change=False)
        self._allow_endpoints(self._function("RollBackEndpoint", "roll_back_endpoint", {}), create=False)
        clean_up = self._function("CleanUpRun", "clean_up_run", {**training_environment, **serving_environment})
        self._allow_training_jobs(clean_up, start=False, stop=True)
        self._allow_endpoints(clean_up, create=False)

    def _run_checks_environment(self) -> dict[str, str]:
        """What a run is checked against (openforge_lambda.pipeline_input.EnvironmentPolicy,
        run_plan.PlatformLocations): the buckets, the limits, and whether there is a cluster."""
        limits = self._config.limits
        return {**PlatformBuckets(self._datasets.name, self._artifacts.name).as_environment(),
                # No cluster name: compute.target hyperpod is refused.
                **RunLimits(tuple(limits.training_instance_types), limits.max_instance_count, self._training.cluster_name).as_environment(join=_join)}

    def _training_environment(self) -> dict[str, str]:
        training, limits = self._training, self._config.limits
        environment = TrainingEnvironment(
            gpu_image_uri=training.gpu_image_uri,
            neuron_image_uri=training.neuron_image_uri,
            role_arn=training.role.role_arn,
            subnet_ids=tuple(self._subnet_ids),
            security_group_ids=(training.security_group.security_group_id,),
            kms_key_id=self._artifacts.key_arn,
            mlflow_tracking_server_arn=training.tracking_server_arn,
            max_runtime_seconds=limits.max_training_hours * 3600,
        ).as_environment(join=_join)
        if training.cluster_name:
            cluster = HyperPodCluster(training.cluster_name, jobs_bucket=self._artifacts.name, buckets=(self._datasets.name, self._artifacts.name))
            environment.update(cluster.as_environment(join=_join))
        return environment

    def _serving_environment(self) -> dict[str, str]:
        return {**ServingSettings(
            image_uri=self._config.serving_image_uri,
            role_arn=self.serving_role.role_arn,
            subnet_ids=tuple(self._subnet_ids),
            security_group_ids=(self.endpoint_security_group.security_group_id,),
            kms_key_id=self._artifacts.key_arn,
            container_environment=self._config.serving.container_environment,
        ).as_environment(join=_join), **self._endpoint_namespace.as_environment()}

    @property
    def _endpoint_namespace(self) -> EndpointNamespace:
        """The namespace endpoints are named and tagged in: the same values _allow_endpoints demands."""
        return EndpointNamespace.of(self._config.name)

    @property
    def _endpoint_name_prefix(self) -> str:
        return self._endpoint_namespace.name_prefix

    @property
    def _endpoint_owner_tags(self) -> dict[str, str]:
        return self._endpoint_namespace.owner_tags

    @property
    def _executions(self) -> str:
        """This state machine's executions (ARNs name the machine; execution names are chosen per run)."""
        stack = Stack.of(self)
        return f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:{self.state_machine_name}:*"

    def _allow_describe_execution(self, role: JobRole) -> None:
        """A start function asks whether its execution still runs (openforge_lambda.execution_check)."""
        role.allow(["states:DescribeExecution"], [self._executions],
                   why_wildcard="Execution names are chosen when a run starts; this state machine's executions only.")

    def _allow_training_jobs(self, role: JobRole, *, start: bool, stop: bool = False) -> None:
        jobs = [f"{self._sagemaker}:training-job/*"]
        role.allow(["sagemaker:DescribeTrainingJob"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES)
        if stop:
            role.allow(["sagemaker:StopTrainingJob"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES)
        if start:
            # Only jobs in our subnets and security group, output under our key, and the volume
            # under our key unless every instance has local NVMe (hardware-encrypted; AWS refuses
            # a volume key there): IAM refuses any other CreateTrainingJob this role could be tricked into.
            private = {
                "Bool": {"sagemaker:InterContainerTrafficEncryption": "true"},
                "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": self._subnet_ids,
                                              "sagemaker:VpcSecurityGroupIds": [self._training.security_group.security_group_id]},
                "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
            }
            for conditions in _volume_key_conditions(private, self._artifacts.key_arn, self._config.limits.training_instance_types,
                                                     output_key=True):
                role.allow(["sagemaker:CreateTrainingJob"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES, conditions=conditions)
            # Tag-on-create is authorised as AddTags: only OpenForge's tag keys, and only on a job
            # that has none yet (a job being created), so no other team's job can be retagged.
            role.allow(["sagemaker:AddTags"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES, conditions={
                "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_NAMESPACE}*"]},
                "Null": {f"aws:ResourceTag/{TAG_JOB}": "true"}})
            role.allow(["iam:PassRole"], [self._training.role.role_arn], conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
        if self._training.cluster_arn:
            self._allow_hyperpod(role, start=start, stop=stop)

    def _allow_hyperpod(self, role: JobRole, *, start: bool, stop: bool) -> None:
        """compute.target = hyperpod: job specs, statuses and cancel requests under this
        cluster's prefix of the artifacts bucket (hyperpod_jobs); the submitter on the
        controller does the rest. No SSM, no other prefix."""
        cluster, artifacts = self._training.cluster_name, self._artifacts
        if not start or stop:  # a cancel reads the status first
            read_objects(role, artifacts, status_prefix(cluster))
        if start:
            write_objects(role, artifacts, jobs_prefix(cluster))
        if stop:
            read_objects(role, artifacts, jobs_prefix(cluster))
            write_objects(role, artifacts, cancel_prefix(cluster))
        use_key(role, artifacts.key_arn, encrypt=start or stop)

    def _allow_endpoints(self, role: JobRole, *, create: bool, change: bool = True) -> None:
        """Only endpoints, endpoint configs and models named under the environment's prefix;
        changed only when they carry its tags, created only with them. Condition keys per
        action: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html"""
        sagemaker, prefix = self._sagemaker, self._endpoint_name_prefix
        endpoints, configs, models = f"{sagemaker}:endpoint/{prefix}*", f"{sagemaker}:endpoint-config/{prefix}*", f"{sagemaker}:model/{prefix}*"
        role.allow(["sagemaker:DescribeEndpoint"], [endpoints], why_wildcard=SAGEMAKER_ENDPOINT_NAMES)
        if not change:
            return
        owned = {"StringEquals": {f"aws:ResourceTag/{key}": value for key, value in self._endpoint_owner_tags.items()}}
        role.allow(["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel", "sagemaker:ListTags"], [endpoints, configs, models],
                   why_wildcard=SAGEMAKER_ENDPOINT_NAMES)
        # UpdateEndpoint is authorised on the endpoint and on the config it switches to: both must be ours.
        role.allow(["sagemaker:UpdateEndpoint"], [endpoints, configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        role.allow(["sagemaker:DeleteEndpoint"], [endpoints], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        role.allow(["sagemaker:DeleteEndpointConfig"], [configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        role.allow(["sagemaker:DeleteModel"], [models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        if not create:
            return
        # Created only with our tags, and with no tag outside our namespace.
        tagged = {f"aws:RequestTag/{key}": value for key, value in self._endpoint_owner_tags.items()}
        our_keys = {"aws:TagKeys": [f"{TAG_NAMESPACE}*"]}
        # Private and encrypted, or IAM refuses: the model in our subnets with network
        # isolation, the endpoint's volume under our key.
        role.allow(["sagemaker:CreateModel"], [models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions={
            "Bool": {"sagemaker:NetworkIsolation": "true"},
            "StringEquals": tagged,
            "ForAllValues:StringLike": our_keys,
            "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": self._subnet_ids,
                                          "sagemaker:VpcSecurityGroupIds": [self.endpoint_security_group.security_group_id]},
            "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
        })
        private = {"StringEquals": tagged, "ForAllValues:StringLike": our_keys}
        for conditions in _volume_key_conditions(private, self._artifacts.key_arn, self._config.serving.endpoint_instance_types, output_key=False):
            role.allow(["sagemaker:CreateEndpointConfig"], [configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=conditions)
        role.allow(["sagemaker:CreateEndpoint"], [endpoints, configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=private)
        # Tagging on create is authorised as AddTags too; only our tags, only under our prefix,
        # and only on a resource not yet tagged with an environment or already this one's:
        # AddTags overwrites, and another environment's prefix can start with ours
        # (openforge-dev- is a prefix of openforge-dev-eu-), so without this the role could
        # retag that environment's endpoint as its own and then update or delete it.
        environment_tag = f"aws:ResourceTag/{TAG_ENVIRONMENT}"
        role.allow(["sagemaker:AddTags"], [endpoints, configs, models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES,
                   conditions={**private, "Null": {environment_tag: "true"}})
        role.allow(["sagemaker:AddTags"], [endpoints, configs, models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES,
                   conditions={**private, "StringEquals": {**private["StringEquals"], environment_tag: self._config.name}})
        role.allow(["iam:PassRole"], [self.serving_role.role_arn], conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
        # The endpoint's volume is encrypted by SageMaker on the caller's behalf.
        role.allow(["kms:CreateGrant", "kms:DescribeKey"], [self._artifacts.key_arn], conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}})

    def _build_serving_role(self) -> JobRole:
        """What a private endpoint runs as: reads the tuned weights, pulls the serving image."""
        from stacks.permissions import manage_network_interfaces, put_metrics, use_key_for_volumes, write_logs

        stack = Stack.of(self)
        role = JobRole(self, "ServingRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description="Private inference endpoints of tuned models")
        read_objects(role, self._artifacts, TRAINING_PREFIX)
        use_key(role, self._artifacts.key_arn, encrypt=False)
        use_key_for_volumes(role, self._artifacts.key_arn)
        manage_network_interfaces(role)
        write_logs(role, "/aws/sagemaker/Endpoints")
        put_metrics(role, "/aws/sagemaker/Endpoints")
        account, region, repository = _image_repository(self._config.serving_image_uri)
        role.allow(["ecr:GetAuthorizationToken"], ["*"], why_wildcard="ecr:GetAuthorizationToken is account-wide and supports no resource scoping.")
        role.allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                   [f"arn:{stack.partition}:ecr:{region}:{account}:repository/{repository}"])
        return role

    # --- state machine ---------------------------------------------------------------------

    def _build_state_machine(self, sanitisation: SanitisationWorkflow) -> sfn.StateMachine:
        f = self.functions
        clean_up = invoke(self, f["CleanUpRun"], states.CLEAN_UP, result_path=path(FAILURE))  # the whole state: what ran, the error
        failed = sfn.Fail(self, states.FAILED, error_path=path(FAILURE, "error"), cause_path=path(FAILURE, "cause"))
        notify_failure = self._notify(states.NOTIFY_FAILURE, path(FAILURE), "OpenForge run failed")
        notify_failure.add_catch(failed, result_path="$.notify_error")
        clean_up.next(notify_failure).next(failed)
        # A clean-up that fails itself still notifies, and the run fails with its own error.
        clean_up_failed = sfn.Pass(self, states.CLEAN_UP_FAILED, result_path=path(FAILURE), parameters={
            "error.$": path(ERROR, "Error"), "cause.$": path(ERROR, "Cause"), "cleanup_error.$": "$.cleanup_error"})
        clean_up.add_catch(clean_up_failed, errors=[sfn.Errors.ALL], result_path="$.cleanup_error")
        clean_up_failed.next(notify_failure)

        def guarded(task: sfn.TaskStateBase | sfn.Map) -> sfn.TaskStateBase | sfn.Map:
            task.add_catch(clean_up, errors=[sfn.Errors.ALL], result_path=path(ERROR))
            return task

        validate = guarded(invoke(self, f["ValidateInput"], states.VALIDATE, payload=sfn.TaskInput.from_object(
            {"input.$": "$", "execution_name.$": "$$.Execution.Name"}), result_path="$"))
        # The sanitisation workflow's own states (its functions, its Distributed Map), run inline.
        sanitise = sanitisation.build_states(self, job=path(PLAN, "sanitisation"), results=path(SANITISATION), summary=SANITISATION_SUMMARY,
                                             max_concurrency=self._config.sanitisation.max_concurrency)
        for task in sanitise.tasks:
            guarded(task)
        too_much_quarantined = sfn.Pass(self, states.QUARANTINE_EXCEEDED, result_path=path(ERROR),
                                        parameters={"Error": "QuarantineLimitExceeded", "Cause.$": path(SANITISATION, SANITISATION_SUMMARY, "cause")})
        too_much_quarantined.next(clean_up)
        validation_run = self._job_loop(VALIDATION_LOOP, states.WAIT_VALIDATION, "validation", path(PLAN, "mixes[0]"), guarded)
        validation_failed = sfn.Pass(self, states.VALIDATION_FAILED, result_path=path(ERROR),
                                     parameters={"Error": "ValidationRunFailed", "Cause.$": path(VALIDATION, "failure_reason")})
        validation_failed.next(clean_up)
        mixes = guarded(self._mixes())
        pick = guarded(invoke(self, f["PickModel"], states.PICK, payload=sfn.TaskInput.from_object(
            {"run.$": path(RUN), "plan.$": path(PLAN), "results.$": path(RESULTS)}), result_path=path(SELECTION)))
        gate_failed = sfn.Pass(self, states.GATE_FAILED, result_path=path(FAILURE),
                               parameters={"error.$": path(SELECTION, "error"), "cause.$": path(SELECTION, "cause")}).next(notify_failure)

        summarise = sfn.Pass(self, states.SUMMARISE, result_path=path(SUMMARY),
                             parameters={f"{name}.$": path(*source) for name, source in OUTPUT.items()})
        succeeded = sfn.Succeed(self, states.SUCCEEDED, output_path=path(SUMMARY))
        notify_success = self._notify(states.NOTIFY_SUCCESS, path(SUMMARY), "OpenForge run finished")
        notify_success.add_catch(succeeded, result_path="$.notify_error")  # the run itself succeeded
        summarise.next(notify_success).next(succeeded)

        deploy_wanted = self._deployment(summarise, notify_failure, guarded)
        gate = (sfn.Choice(self, states.GATE)
                .when(sfn.Condition.boolean_equals(path(SELECTION, "passed"), True), deploy_wanted)
                .otherwise(gate_failed))
        validation_done = (sfn.Choice(self, states.VALIDATION_DONE)
                           .when(sfn.Condition.string_equals(path(VALIDATION, "status"), "Completed"), mixes)
                           .when(sfn.Condition.boolean_equals(path(VALIDATION, "done"), True), validation_failed)
                           .otherwise(self._waits[states.WAIT_VALIDATION]))
        mixes.next(pick).next(gate)
        self._checks[VALIDATION_LOOP.check].next(validation_done)
        input_valid = (sfn.Choice(self, states.INPUT_VALID)
                       .when(sfn.Condition.boolean_equals(path(VALID), True), sanitise.chain.next(
                           sfn.Choice(self, states.QUARANTINE_CHECK)
                           .when(sfn.Condition.boolean_equals(path(SANITISATION, SANITISATION_SUMMARY, "passed"), True), validation_run)
                           .otherwise(too_much_quarantined)))
                       .otherwise(sfn.Fail(self, states.INPUT_INVALID, error="InvalidInput", cause_path=path(ERROR, "cause"))))
        definition = validate.next(input_valid)

        log_group = logs.LogGroup(self, "StateMachineLogs", encryption_key=self._placement.logs_key, retention=self._placement.log_retention)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
            timeout=Duration.seconds(self._execution_timeout_seconds()),
        )
        sanitisation.acknowledge_map_access(machine)
        acknowledge(machine, "Step Functions' own role: aws-cdk-lib writes its policies (invoke the pipeline's and the sanitisation's functions and their "
                             "versions; run and stop this state machine's Distributed Map child executions; publish to the notifications topic; X-Ray "
                             "and log delivery, which have no resource scoping) as inline policies scoped to those resources.",
                    "HIPAA.Security-IAMNoInlinePolicy", "NIST.800.53.R5-IAMNoInlinePolicy", *self._generated_wildcards(machine, sanitisation))
        return machine

    def _generated_wildcards(self, machine: sfn.StateMachine, sanitisation: SanitisationWorkflow) -> list[str]:
        """The IAM5 finding ids of aws-cdk-lib's generated statements, as cdk-nag prints them."""
        stack = Stack.of(self)
        machine_id = stack.resolve(machine.node.default_child.logical_id)
        executions = f'arn:<AWS::Partition>:states:{stack.region}:{stack.account}:execution:{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine_id}"}}]}}]}}'
        resources = ["*", f"{executions}:*", f"{executions}/*:*"]
        resources += [f"<{stack.resolve(function.node.default_child.logical_id)}.Arn>:*" for function in self.functions.values()]
        resources += [f"arn:<AWS::Partition>:lambda:{stack.region}:{stack.account}:function:{name}:*" for name in sanitisation.function_names.values()]
        return [f"AwsSolutions-IAM5[Resource::{resource}]" for resource in resources]

    def _deployment(self, summarise: sfn.IChainable, notify_failure: sfn.IChainable, guarded) -> sfn.Choice:
        """Deploy the chosen model when asked, poll the endpoint, roll back one that fails."""
        f = self.functions
        deploy = guarded(invoke(self, f["DeployEndpoint"], DEPLOYMENT_LOOP.start, result_path=path(DEPLOYMENT_LOOP.started), payload=sfn.TaskInput.from_object({
            "endpoint_name.$": path(PLAN, "endpoint_name"), "execution_name.$": path(PLAN, "execution_name"),
            "model_data_s3_uri.$": path(SELECTION, "chosen", "model_s3_uri"), "instance_type.$": path(RUN, "deploy", "instance_type"),
            "execution_arn.$": "$$.Execution.Id"})))
        wait_endpoint = sfn.Wait(self, states.WAIT_ENDPOINT, time=sfn.WaitTime.seconds_path(path(PLAN, "poll_seconds")))
        check_endpoint = guarded(invoke(self, f["CheckEndpoint"], DEPLOYMENT_LOOP.check, result_path=path(DEPLOYMENT_LOOP.status),
                                        payload=sfn.TaskInput.from_object(
            {"endpoint_name.$": path(DEPLOYMENT, "endpoint_name"), "endpoint_config_name.$": path(DEPLOYMENT, "endpoint_config_name"),
             # Past this, CheckEndpoint settles the endpoint as failed: the loop's checks stay within run_limits' bound.
             "allowance": {"started.$": path(DEPLOYMENT, "started_at"), "seconds": run_limits.DEPLOYMENT_SECONDS}})))
        roll_back = guarded(invoke(self, f["RollBackEndpoint"], states.ROLL_BACK, input_path=path(DEPLOYMENT), result_path=path(ROLLBACK)))
        why = ", ".join(path(ENDPOINT, field) for field in ("endpoint_name", "status", "failure_reason"))
        endpoint_failed = sfn.Pass(self, states.ENDPOINT_FAILED, result_path=path(FAILURE), parameters={
            "error": "EndpointFailed", "cause.$": f"States.Format('endpoint {{}} is {{}}: {{}}', {why})", "rollback.$": path(ROLLBACK)})
        roll_back.next(endpoint_failed).next(notify_failure)
        deploy.next(wait_endpoint).next(check_endpoint).next(
            sfn.Choice(self, states.ENDPOINT_READY)
            .when(sfn.Condition.boolean_equals(path(ENDPOINT, "in_service"), True), summarise)
            .when(sfn.Condition.boolean_equals(path(ENDPOINT, "settled"), True), roll_back)
            .otherwise(wait_endpoint))

        no_deployment = sfn.Pass(self, states.NO_DEPLOYMENT, result_path=path(ENDPOINT), result=sfn.Result.from_object({"status": "not requested"}))
        no_deployment.next(summarise)
        return (sfn.Choice(self, states.DEPLOY_WANTED)
                .when(sfn.Condition.boolean_equals(path(RUN, "deploy", "enabled"), True), deploy)
                .otherwise(no_deployment))

    def _job_loop(self, loop: JobLoop, wait_name: str, step: str, mix_path: str, guarded) -> sfn.IChainable:
        """Start a job, then Check and Wait until it is done; the Choice is the caller's. Each
        wait is the check's ``wait_seconds``, which grows with the execution's age
        (pipeline/run_limits.py), so polling cannot reach the history limit."""
        start = guarded(invoke(self, self.functions["StartTrainingJob"], loop.start, result_path=path(loop.started), payload=sfn.TaskInput.from_object(
            {"step": step, "run.$": path(RUN), "plan.$": path(PLAN), "mix.$": mix_path, "execution_arn.$": "$$.Execution.Id"})))
        wait = self._waits[wait_name] = sfn.Wait(self, wait_name, time=sfn.WaitTime.seconds_path(path(loop.status, "wait_seconds")))
        check = self._checks[loop.check] = guarded(invoke(self, self.functions["CheckTrainingJob"], loop.check, result_path=path(loop.status),
                                                          payload=sfn.TaskInput.from_object({"job.$": path(loop.started), "poll": {
                                                              "poll_seconds.$": path(PLAN, "poll_seconds"), "age_divisor": run_limits.POLL_AGE_DIVISOR,
                                                              "execution_started.$": "$$.Execution.StartTime"}})))
        start.next(check)
        wait.next(check)
        return start

    def _mixes(self) -> sfn.Map:
        """One training and evaluation per mix, in parallel; a failed mix is a result, not a
        failed run, so the other mixes of a grid still count."""
        mixes = sfn.Map(self, states.MIXES, items_path=path(PLAN, "mixes"), max_concurrency=self._config.pipeline.max_parallel_runs,
                        item_selector={f"{RUN}.$": path(RUN), f"{PLAN}.$": path(PLAN), f"{MIX}.$": "$$.Map.Item.Value"}, result_path=path(RESULTS))
        error = sfn.Pass(self, states.MIX_ERROR, parameters={f"{MIX}.$": path(MIX), FAILED: {"step": "error", "error.$": path(ERROR, "Error"),
                                                                                               "cause.$": path(ERROR, "Cause")}})
        # The mix's training or evaluation job would run on after its iteration ends: stop it
        # (CleanUpRun with this mix only), then record the error; a stop that fails still records it.
        stop = invoke(self, self.functions["CleanUpRun"], states.STOP_MIX, result_path="$.stopped", payload=sfn.TaskInput.from_object(
            {"run.$": path(RUN), "plan.$": path(PLAN), "mix.$": path(MIX), "error.$": path(ERROR)}))
        stop.add_catch(error, errors=[sfn.Errors.ALL], result_path="$.stop_error")
        stop.next(error)

        def caught(task):
            task.add_catch(stop, errors=[sfn.Errors.ALL], result_path=path(ERROR))
            return task

        train = self._job_loop(TRAINING_LOOP, states.WAIT_TRAINING, "training", path(MIX), caught)
        evaluate = self._job_loop(EVALUATION_LOOP, states.WAIT_EVALUATION, "evaluation", path(MIX), caught)
        result = sfn.Pass(self, states.MIX_RESULT, parameters={f"{field}.$": path(field) for field in (MIX, TRAINING, EVALUATION)})
        for step, loop, done, wait, after in (("training", TRAINING_LOOP, states.TRAINING_DONE, states.WAIT_TRAINING, evaluate),
                                              ("evaluation", EVALUATION_LOOP, states.EVALUATION_DONE, states.WAIT_EVALUATION, result)):
            status = path(loop.status)
            failed = sfn.Pass(self, states.MIX_FAILED[step], parameters={
                f"{MIX}.$": path(MIX), FAILED: {"step": step, "job_name.$": f"{status}.job_name", "cause.$": f"{status}.failure_reason"}})
            check = self._checks[loop.check]
            check.next(sfn.Choice(self, done)
                       .when(sfn.Condition.string_equals(f"{status}.status", "Completed"), after)
                       .when(sfn.Condition.boolean_equals(f"{status}.done", True), failed)
                       .otherwise(self._waits[wait]))
        mixes.item_processor(train)
        return mixes

    def _execution_timeout_seconds(self) -> int:
        """TimeoutSeconds from the environment's limits (pipeline/run_limits.py has the arithmetic);
        refuses limits whose polling could reach Step Functions' history limit first."""
        pipeline, limits = self._config.pipeline, self._config.limits
        events_at_most = run_limits.worst_case_history_events(max_training_hours=limits.max_training_hours,
                                                              max_parallel_runs=pipeline.max_parallel_runs, poll_seconds=pipeline.poll_seconds)
        if events_at_most > run_limits.HISTORY_EVENT_LIMIT:
            raise ValueError(f"environments.{self._config.name}.pipeline.poll_seconds: {pipeline.poll_seconds} s polling with "
                             f"{pipeline.max_parallel_runs} parallel mixes of up to {limits.max_training_hours} h can write {events_at_most} "
                             f"history events, over Step Functions' {run_limits.HISTORY_EVENT_LIMIT}; raise poll_seconds or lower max_parallel_runs")
        return run_limits.execution_timeout_seconds(max_training_hours=limits.max_training_hours, max_parallel_runs=pipeline.max_parallel_runs)

    def _build_end_clean_up(self) -> events.Rule:
        """A stop, a timeout or the history limit ends an execution without running its failure
        path: EventBridge's "Step Functions Execution Status Change" for ABORTED, TIMED_OUT or
        FAILED runs the clean-up from the execution's history and notifies. A FAILED execution
        has usually cleaned up already: doing it again is harmless, and it is not notified twice.
        https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html"""
        # The endpoint namespace, to find a deployment that left no record.
        environment = {**EndedRunSettings(self.topic.topic_arn, self._training.cluster_name).as_environment(), **self._endpoint_namespace.as_environment()}
        role = self._function("CleanUpEndedRun", "clean_up_ended_run", environment, concurrency=5)
        function = self.functions["CleanUpEndedRun"]
        self.end_clean_up_function = function
        self._allow_training_jobs(role, start=False, stop=True)
        self._allow_endpoints(role, create=False)
        role.allow(["states:DescribeExecution", "states:GetExecutionHistory"], [self._executions],
                   why_wildcard="Execution names are chosen when a run starts; this state machine's executions only.")
        role.allow(["sns:Publish"], [self.topic.topic_arn])
        role.allow(["kms:GenerateDataKey", "kms:Decrypt"], [self.notifications_key.key_arn])  # the topic is encrypted with it
        return events.Rule(self, "EndedRunRule", description=f"Clean up after {self.state_machine_name} executions that did not finish",
                           event_pattern=events.EventPattern(source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                                                             detail={"status": list(END_STATUSES),
                                                                     "stateMachineArn": [self.state_machine.state_machine_arn]}),
                           targets=[targets.LambdaFunction(function, retry_attempts=8, max_event_age=Duration.hours(24))])

    def _notify(self, name: str, message_path: str, subject: str) -> tasks.SnsPublish:
        return tasks.SnsPublish(self, name, topic=self.topic, subject=subject, result_path=sfn.JsonPath.DISCARD,
                                message=sfn.TaskInput.from_text(sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(message_path))))


def _join(items) -> str:
    """A list as one environment variable: Fn.join keeps a list of deploy-time tokens (subnet
    ids from the network stack) one Fn::Join, and joins plain strings at synth."""
    return Fn.join(",", list(items))


def _volume_key_conditions(private: dict, key_arn: str, instance_types, *, output_key: bool) -> list[dict]:
    """IAM conditions for a SageMaker create that names instance types and a volume key: one
    statement with the volume key (and the output key), and, for the allowed types with local
    NVMe (instance_catalogue.volume_kms_key_allowed), one without a volume key that holds only
    when every instance type of the request is one of those. Null on InstanceTypes: without it
    a request naming no type would pass ForAllValues. The key is sagemaker:InstanceTypes for
    CreateTrainingJob and CreateEndpointConfig (Service Authorization Reference,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html)."""
    keys = {VOLUME_KMS_KEY: key_arn, **({OUTPUT_KMS_KEY: key_arn} if output_key else {})}
    keyed = {**private, KEY_CONDITION: keys}
    local = sorted(instance_type for instance_type in instance_types if not volume_kms_key_allowed(instance_type))
    if not local:
        return [keyed]
    unkeyed = {**private,
               "ForAllValues:StringEquals": {**private.get("ForAllValues:StringEquals", {}), "sagemaker:InstanceTypes": local},
               "Null": {**private.get("Null", {}), VOLUME_KMS_KEY: "true", "sagemaker:InstanceTypes": "false"}}
    if output_key:
        unkeyed[KEY_CONDITION] = {OUTPUT_KMS_KEY: key_arn}
    return [keyed, unkeyed]


def _image_repository(image_uri: str) -> tuple[str, str, str]:
    """(account, region, repository) of an ECR image URI."""
    registry, _, rest = image_uri.partition("/")
    account, _, _, region, *_ = registry.split(".")
    repository = rest.split("@")[0].rsplit(":", 1)[0]
    return account, region, repository
