"""The test evaluator itself: the IAM rules it models, and that it refuses what it does not model."""

import pytest

from tests.iam_policy import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Environment, Request, Unsupported, decide, s3_object_of_url

AWS = Environment("aws", "us-east-1", "111111111111")
OBJECTS = {"Effect": "Allow", "Action": "s3:Get*", "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b/data/*"]]}}


def test_wildcards_span_slashes_actions_ignore_case_and_a_deny_wins():
    assert decide([OBJECTS], Request("S3:GETOBJECT", "arn:aws:s3:::b/data/x/y.jsonl"), AWS) == ALLOW
    assert decide([OBJECTS], Request("s3:GetObject", "arn:aws:s3:::b/Data/x"), AWS) == IMPLICIT_DENY
    deny = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/data/*/secret/*"}
    assert decide([OBJECTS, deny], Request("s3:GetObject", "arn:aws:s3:::b/data/a/b/secret/c"), AWS) == EXPLICIT_DENY


def test_conditions_and_a_key_missing_from_the_request():
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b", "Condition": {"StringLike": {"s3:prefix": ["data/*"]}}}
    assert decide([listing], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "data/x/"}), AWS) == ALLOW
    assert decide([listing], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "other/"}), AWS) == IMPLICIT_DENY
    assert decide([listing], Request("s3:ListBucket", "arn:aws:s3:::b"), AWS) == IMPLICIT_DENY


@pytest.mark.parametrize("statement", [
    {**OBJECTS, "NotResource": "arn:aws:s3:::b/x"},
    {"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"},
    {**OBJECTS, "Principal": {"AWS": "arn:aws:iam::111111111111:root"}},
    {**OBJECTS, "Condition": {"StringEqualsIfExists": {"aws:PrincipalAccount": "1"}}},
    {**OBJECTS, "Resource": {"Fn::ImportValue": "x"}},
    {**OBJECTS, "Resource": "arn:aws:s3:*::b/data/*"},
])
def test_what_it_does_not_model_fails_the_test(statement):
    with pytest.raises(Unsupported):
        decide([statement], Request("s3:GetObject", "arn:aws:s3:::b/data/x", {"aws:PrincipalAccount": "1"}), AWS)


def test_s3_urls_in_every_style():
    key = "arn:aws:cloudformation:us-east-1:1:stack/s/i|L|r"
    encoded = "arn%3Aaws%3Acloudformation%3Aus-east-1%3A1%3Astack/s/i%7CL%7Cr"
    for url in (f"https://bkt.s3.amazonaws.com/{encoded}", f"https://bkt.s3-us-east-1.amazonaws.com/{encoded}?X-Amz-Signature=1",
                f"https://bkt.s3.cn-north-1.amazonaws.com.cn/{encoded}", f"https://s3.us-east-1.amazonaws.com/bkt/{encoded}"):
        assert s3_object_of_url(url) == ("bkt", key), url
    with pytest.raises(Unsupported):
        s3_object_of_url("https://example.com/bkt/key")
