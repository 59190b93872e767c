"""The strict request checker (tests/aws_strict.py): each kind of constraint AWS enforces
and moto does not is caught with a message naming the member, value and rule; valid
requests pass; the hook sees every client, moto's own included."""
from __future__ import annotations

import json
import time
from collections import defaultdict

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from openforge_lambda import aws_rules
from tests import aws_strict
from tests.state_machines import ACCOUNT, MOTO_CONFIG, REGION

pytest_plugins = ["pytester"]  # the autouse fixture's tests run small test files of their own

SESSION = botocore.session.get_session()
SERVICES_WE_CALL = ("sagemaker", "ssm", "s3", "kms", "stepfunctions", "lambda", "iam", "sqs", "sns", "comprehend", "sts", "logs", "events")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/openforge-training"
INSTANCE_ID = "i-0123456789abcdef0"


def operation(service: str, name: str):
    return SESSION.get_service_model(service).operation_model(name)


def training_job(**overrides) -> dict:
    request = {
        "TrainingJobName": "openforge-run-1",
        "AlgorithmSpecification": {"TrainingImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/openforge:latest", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"learning_rate": "0.0002", "max_steps": "5"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://openforge-datasets/sanitised/run-1/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://openforge-artifacts/models/"},
        "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "Tags": [{"Key": "openforge:run", "Value": "run-1"}],
    }
    return request | overrides


def found(service: str, name: str, params: dict) -> list[aws_strict.Refusal]:
    return aws_strict.refusals(operation(service, name), params, botocore_types=False)


def only(refused: list[aws_strict.Refusal]) -> aws_strict.Refusal:
    assert len(refused) == 1, "\n".join(map(str, refused))
    return refused[0]


def test_a_valid_request_passes():
    assert aws_strict.refusals(operation("sagemaker", "CreateTrainingJob"), training_job()) == []
    assert found("ssm", "SendCommand", {"InstanceIds": [INSTANCE_ID], "DocumentName": "AWS-RunShellScript"}) == []


def test_a_pattern_is_matched_against_the_whole_value_and_the_message_names_everything():
    refusal = only(found("sagemaker", "CreateTrainingJob", training_job(TrainingJobName="run_1")))
    assert (refusal.service, refusal.operation, refusal.path, refusal.value) == ("sagemaker", "CreateTrainingJob", "TrainingJobName", "run_1")
    assert str(refusal) == ("sagemaker CreateTrainingJob: TrainingJobName = 'run_1': "
                            "must match shape TrainingJobName's pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def test_ssm_send_command_refuses_the_session_manager_target_form():
    target = "sagemaker-cluster:abcdef123456_controller-group-i-0123456789abcdef0"
    refusal = only(found("ssm", "SendCommand", {"InstanceIds": [target], "DocumentName": "AWS-RunShellScript"}))
    assert refusal.path == "InstanceIds[0]" and refusal.value == target
    assert r"(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)" in refusal.rule


def test_string_minimum_and_maximum_length():
    empty = only(found("stepfunctions", "StartExecution", {"stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m", "name": ""}))
    assert (empty.path, empty.rule) == ("name", "at least 1 characters, has 0 (shape Name)")
    too_long = only(found("sagemaker", "CreateTrainingJob", training_job(HyperParameters={"prompt": "x" * 2501})))
    assert too_long.path == "HyperParameters['prompt']"
    assert too_long.rule == "at most 2500 characters, has 2501 (shape HyperParameterValue)"


def test_enum():
    refusal = only(found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={"InstanceType": "ml.g5.huge", "InstanceCount": 1,
                                                                                       "VolumeSizeInGB": 100})))
    assert refusal.path == "ResourceConfig.InstanceType"
    assert refusal.rule.startswith("must be one of shape TrainingInstanceType's enum values: ml.m4.xlarge, ")


def test_numeric_range_on_a_nested_member():
    refusal = only(found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": -1,
                                                                                       "VolumeSizeInGB": 100})))
    assert (refusal.path, refusal.value, refusal.rule) == ("ResourceConfig.InstanceCount", -1, "at least 0 (shape TrainingInstanceCount)")
    assert only(found("sagemaker", "CreateTrainingJob", training_job(StoppingCondition={"MaxRuntimeInSeconds": 0}))).rule == \
        "at least 1 (shape MaxRuntimeInSeconds)"


def test_nested_path_through_a_list_and_structures():
    uri = "s3://openforge-datasets/" + "a" * 1001
    channel = {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
    refusal = only(found("sagemaker", "CreateTrainingJob", training_job(InputDataConfig=[channel])))
    assert refusal.path == "InputDataConfig[0].DataSource.S3DataSource.S3Uri"
    assert refusal.rule == "at most 1024 characters, has 1025 (shape S3Uri)"
    assert refusal.value == uri and "… (1027 chars)" in str(refusal)  # the value is shown truncated


def test_list_length():
    refusal = only(found("ssm", "SendCommand", {"InstanceIds": [INSTANCE_ID] * 51, "DocumentName": "AWS-RunShellScript"}))
    assert (refusal.path, refusal.rule) == ("InstanceIds", "at most 50 items, has 51 (shape InstanceIdList)")


def test_map_size_and_map_key_pattern():
    many = only(found("sagemaker", "CreateTrainingJob", training_job(HyperParameters={f"h{i}": "1" for i in range(101)})))
    assert (many.path, many.rule) == ("HyperParameters", "at most 100 entries, has 101 (shape HyperParameters)")
    key = only(found("sagemaker", "CreateTrainingJob", training_job(Environment={"1_NOT_A_NAME": "x"})))
    assert key.path == "Environment (key '1_NOT_A_NAME')" and key.value == "1_NOT_A_NAME"
    assert key.rule == "must match shape TrainingEnvironmentKey's pattern [a-zA-Z_][a-zA-Z0-9_]*"


def test_tag_value_pattern_is_unicode_aware_like_java():
    assert found("sagemaker", "CreateTrainingJob", training_job(Tags=[{"Key": "équipe", "Value": "données 1"}])) == []
    assert only(found("sagemaker", "CreateTrainingJob", training_job(Tags=[{"Key": "team", "Value": "a|b"}]))).path == "Tags[0].Value"


def test_documented_rules_the_model_cannot_express():
    runtime = only(found("sagemaker", "CreateTrainingJob", training_job(StoppingCondition={"MaxRuntimeInSeconds": 30 * 86400})))
    assert runtime.path == "StoppingCondition.MaxRuntimeInSeconds"
    assert runtime.rule == f"at most 2419200 seconds (28 days) ({aws_rules.STOPPING_CONDITION_DOC})"
    tags = found("sagemaker", "CreateTrainingJob", training_job(Tags=[{"Key": "aws:team", "Value": "x"}, {"Key": "aws:team", "Value": "y"}]))
    assert [(t.path, t.rule.split(" (")[0]) for t in tags] == [
        ("Tags[0].Key", "the aws: prefix is reserved for AWS"), ("Tags[1].Key", "the aws: prefix is reserved for AWS"),
        ("Tags[1].Key", "tag keys must be unique per resource")]
    name = only(found("stepfunctions", "StartExecution", {"stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m",
                                                          "name": "run 1/2"}))
    assert name.path == "name" and name.rule.startswith("must not contain ' /'")
    key = only(found("s3", "PutObject", {"Bucket": "openforge-datasets", "Key": "é" * 513}))
    assert key.path == "Key" and key.rule.startswith("at most 1024 bytes in UTF-8 (this is 1026)")


def test_the_local_storage_kms_rules_once_registered(monkeypatch):
    monkeypatch.setattr(aws_rules, "RULES", defaultdict(list))  # only the rules registered here (the catalogue's may be there already)
    aws_rules.register_local_storage_kms_rules(lambda instance_type: instance_type.startswith("ml.g5."))
    refusal = only(found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={
        "InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100, "VolumeKmsKeyId": "alias/openforge"})))
    assert (refusal.path, refusal.value) == ("ResourceConfig.VolumeKmsKeyId", "alias/openforge")
    assert refusal.rule.startswith("not allowed with ml.g5.2xlarge, which has local instance storage")
    assert found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={
        "InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100, "VolumeKmsKeyId": "alias/openforge"})) == []
    endpoint_config = {"EndpointConfigName": "openforge-run-1", "KmsKeyId": "alias/openforge", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "openforge-run-1", "InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 1}]}
    assert only(found("sagemaker", "CreateEndpointConfig", endpoint_config)).path == "KmsKeyId"


def test_an_instance_type_the_catalogue_does_not_describe_is_left_to_aws():
    """ml.p3.2xlarge (EBS only) with a volume key is a valid request; the catalogue cannot say
    what its storage is, so the catalogue's rules refuse nothing, and do not crash the hook."""
    assert found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={
        "InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100, "VolumeKmsKeyId": "alias/openforge"})) == []
    endpoint_config = {"EndpointConfigName": "openforge-run-1", "KmsKeyId": "alias/openforge", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "openforge-run-1", "InstanceType": "ml.p3.2xlarge", "InitialInstanceCount": 1}]}
    assert found("sagemaker", "CreateEndpointConfig", endpoint_config) == []


def test_botocore_type_and_required_checks_are_kept_for_clients_that_turn_them_off():
    refusal = only(aws_strict.refusals(operation("ssm", "SendCommand"), {"InstanceIds": INSTANCE_ID}))
    assert "DocumentName" in refusal.rule and "InstanceIds" in refusal.rule


def test_members_of_the_wrong_type_are_left_to_botocores_report():
    params = training_job(ResourceConfig="ml.g5.2xlarge", Tags="team", StoppingCondition=[86400], HyperParameters={"lr": 0.1})
    assert [refusal.path for refusal in aws_strict.refusals(operation("sagemaker", "CreateTrainingJob"), params)] == [""]


def test_java_patterns_translate_to_java_semantics():
    def matches(pattern: str, value: str) -> bool:
        return aws_strict.compiled(pattern, "test.Shape").fullmatch(value) is not None

    assert not matches(r"i-\w{8}", "i-0123456é")  # Java's \w is ASCII
    assert matches(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "ok 😀")  # a surrogate pair is one code point
    assert not matches(r"arn:[\p{Alnum}\-]+:x", "arn:awsé:x")  # POSIX classes are ASCII
    assert matches(r"[\p{L}||\p{N}]+", "a|1") and not matches(r"[\p{L}||\p{N}]+", "a-1")  # '|' in a class is a literal
    assert matches(r"[\w-\/.@+=,]+", "a-/b")  # a '-' after a class escape is a literal
    assert not matches(r"[\p{Print}&&[^|:/]]+", "a:b")  # Java's class intersection
    assert not matches(r".*", "a\rb") and matches(r"(?s).*", "a\rb")  # '.' stops at every Java line terminator


def test_an_untranslatable_pattern_fails_and_names_its_shape():
    with pytest.raises(aws_strict.UntranslatablePattern, match=r"shape rbin\.RuleArn: pattern 'a\{1\}\{2\}' cannot be checked"):
        aws_strict.compiled("a{1}{2}", "rbin.RuleArn")


@pytest.mark.parametrize("service", SERVICES_WE_CALL)
def test_every_pattern_of_the_services_we_call_can_be_checked(service):
    model = SESSION.get_service_model(service)
    for name in model.shape_names:
        pattern = model.shape_for(name).metadata.get("pattern")
        if pattern is not None:
            aws_strict.compiled(pattern, f"{service}.{name}")


@pytest.fixture
def moto_aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.mark.aws_refuses(reason="shows the hook refuses what moto would accept, as AWS's ValidationException")
def test_the_hook_refuses_before_moto_sees_the_request(moto_aws):
    ssm = boto3.client("ssm")
    with pytest.raises(ClientError) as refused:
        ssm.send_command(InstanceIds=["sagemaker-cluster:abc_group-i-0123456789abcdef0"], DocumentName="AWS-RunShellScript")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "ssm SendCommand: InstanceIds[0] = 'sagemaker-cluster:abc_group-i-0123456789abcdef0'" in str(refused.value)


def test_a_swallowed_refusal_is_still_recorded_for_the_test(moto_aws):
    with aws_strict.recording() as recorded:
        try:
            boto3.client("sagemaker").describe_training_job(TrainingJobName="no_such_job")
        except ClientError:
            pass  # product code that swallows errors cannot hide the refusal
    assert [str(refusal) for refusal in recorded.refused] == [
        "sagemaker DescribeTrainingJob: TrainingJobName = 'no_such_job': must match shape TrainingJobName's pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"]


def test_requests_made_by_motos_step_functions_interpreter_are_checked(moto_aws):
    role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    definition = {"StartAt": "Send", "States": {"Send": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ssm:sendCommand", "End": True,
                                                         "Parameters": {"InstanceIds": ["not-an-instance"], "DocumentName": "AWS-RunShellScript"}}}}
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name="strict", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    with aws_strict.recording() as recorded:
        execution = sfn.start_execution(stateMachineArn=machine, name="strict-1")["executionArn"]
        for _ in range(200):
            if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
                break
            time.sleep(0.05)
    assert sfn.describe_execution(executionArn=execution)["status"] == "FAILED"
    assert recorded.checked[("ssm", "SendCommand")] == 1  # the interpreter's own client went through the hook
    assert [(r.service, r.operation, r.path, r.value) for r in recorded.refused] == [("ssm", "SendCommand", "InstanceIds[0]", "not-an-instance")]


def test_a_client_without_parameter_validation_is_still_checked(moto_aws):
    client = boto3.client("ssm", config=Config(parameter_validation=False))
    with aws_strict.recording() as recorded, pytest.raises(ClientError):
        client.send_command(InstanceIds=INSTANCE_ID, DocumentName="AWS-RunShellScript")
    assert "Invalid type for parameter InstanceIds" in recorded.refused[0].rule


# --- the autouse fixture, run on small test files of its own -------------------------------

STRICT_CONFTEST = "from tests.conftest import aws_requests_as_strict_as_aws, pytest_configure  # noqa: F401\n"
BAD_REQUEST = '''
import boto3, pytest
from botocore.exceptions import ClientError
from moto import mock_aws

def send(instance_id):
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t").send_command(
            InstanceIds=[instance_id], DocumentName="AWS-RunShellScript")
'''


def run_strict(pytester, body: str):
    pytester.makeconftest(STRICT_CONFTEST)
    pytester.makepyfile(BAD_REQUEST + body)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")


def test_the_fixture_fails_a_test_whose_code_swallowed_the_refusal(pytester):
    result = run_strict(pytester, '''
def test_swallows():
    try:
        send("sagemaker-cluster:abc_group-i-0123456789abcdef0")
    except ClientError:
        pass
''')
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*AWS would refuse 1 request member(s) that moto accepted:*",
                                 "*ssm SendCommand: InstanceIds[[]0[]] = 'sagemaker-cluster:abc_group-i-0123456789abcdef0': must match*"])


def test_the_marker_lets_a_test_show_a_refusal_and_fails_it_when_nothing_is_refused(pytester):
    result = run_strict(pytester, '''
@pytest.mark.aws_refuses(reason="shows the refusal")
def test_shows_the_refusal():
    with pytest.raises(ClientError, match="ValidationException"):
        send("not-an-instance")

@pytest.mark.aws_refuses(reason="claims a refusal")
def test_claims_a_refusal_that_never_comes():
    send("i-0123456789abcdef0")

def test_valid_requests_pass():
    send("i-0123456789abcdef0")
''')
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_claims_a_refusal_that_never_comes*", "*marked aws_refuses, but AWS would accept every request*"])


def test_the_catalogues_local_storage_rules_are_on():
    """The registry as the tests run it: AWS refuses a volume key on local-NVMe types (p5, the
    default endpoint's g5.2xlarge) and a volume larger than the instance store."""
    p5 = {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
    refusal = only(found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={**p5, "VolumeKmsKeyId": "alias/openforge"})))
    assert refusal.path == "ResourceConfig.VolumeKmsKeyId" and "ml.p5.48xlarge" in refusal.rule
    assert found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig=p5)) == []
    assert found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={
        "InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100, "VolumeKmsKeyId": "alias/openforge"})) == []
    too_big = only(found("sagemaker", "CreateTrainingJob", training_job(ResourceConfig={
        "InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 512})))
    assert too_big.path == "ResourceConfig.VolumeSizeInGB" and "local NVMe" in too_big.rule
    endpoint_config = {"EndpointConfigName": "openforge-run-1", "KmsKeyId": "alias/openforge", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "openforge-run-1", "InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 1}]}
    assert only(found("sagemaker", "CreateEndpointConfig", endpoint_config)).path == "KmsKeyId"
