"""A small, strict evaluator of IAM policy documents as CDK synthesises them, for tests that
ask "would AWS allow this request?" of a template rather than of moto (which checks no policy).

It follows AWS's documented evaluation logic for one policy document
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, then any Allow, otherwise the request is implicitly denied. It
understands only what our policies use, and raises ``Unsupported`` on anything else
(NotAction, NotResource, NotPrincipal, a principal other than everyone, an unknown condition
operator, ...IfExists, ForAnyValue, an intrinsic other than pseudo-parameter Refs and
Fn::Join / Fn::Split), so a test cannot pass because the evaluator skipped something.

Matching, as documented:
- Action: case-insensitive; ``*`` any characters, ``?`` one
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
- Resource: case-sensitive; wildcards only in the resource part of the ARN here (after the
  fifth colon), where ``*`` also spans ``/`` and ``:``
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
- Conditions: every operator and every key of a statement must match (AND), any value of a
  key (OR); a key missing from the request does not match; keys are case-insensitive
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"
PSEUDO_PARAMETERS = ("AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix")


class Unsupported(AssertionError):
    """The policy uses something this evaluator does not model: the test must fail."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)  # condition keys: aws:PrincipalAccount, s3:prefix, aws:TagKeys (a list) ...


@dataclass(frozen=True)
class Environment:
    """Values for the pseudo parameters a template refers to."""

    partition: str
    region: str
    account: str
    url_suffix: str = "amazonaws.com"

    def pseudo(self, name: str) -> str:
        return {"AWS::Partition": self.partition, "AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::URLSuffix": self.url_suffix}[name]


def decide(statements: list[Mapping], request: Request, env: Environment) -> str:
    """ALLOW, EXPLICIT_DENY or IMPLICIT_DENY for ``request`` under these statements."""
    effects = [statement["Effect"] for statement in statements if _applies(statement, request, env)]
    unknown = set(effects) - {"Allow", "Deny"}
    if unknown:
        raise Unsupported(f"unknown Effect {unknown}")
    if "Deny" in effects:
        return EXPLICIT_DENY
    return ALLOW if "Allow" in effects else IMPLICIT_DENY


def _applies(statement: Mapping, request: Request, env: Environment) -> bool:
    known = {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
    if set(statement) - known:
        raise Unsupported(f"statement elements {sorted(set(statement) - known)} are not modelled: {statement}")
    if "Principal" in statement and statement["Principal"] not in ("*", {"AWS": "*"}):
        raise Unsupported(f"only Principal '*' is modelled, got {statement['Principal']}")
    if not any(_action_matches(pattern, request.action) for pattern in _listed(statement["Action"], env)):
        return False
    if not any(_resource_matches(pattern, request.resource) for pattern in _listed(statement["Resource"], env)):
        return False
    return _conditions_match(statement.get("Condition", {}), request, env)


def _listed(value, env: Environment) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [resolve(item, env) for item in values]


def resolve(value, env: Environment) -> str:
    """A template value as a string: literals, pseudo-parameter Refs, Fn::Join (of a list or of Fn::Split)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"Ref"} and value["Ref"] in PSEUDO_PARAMETERS:
        return env.pseudo(value["Ref"])
    if isinstance(value, Mapping) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(_parts(parts, env))
    raise Unsupported(f"cannot resolve {value!r} without deploying (only pseudo-parameter Refs and Fn::Join are modelled)")


def _parts(parts, env: Environment) -> list[str]:
    if isinstance(parts, Mapping) and set(parts) == {"Fn::Split"}:
        delimiter, source = parts["Fn::Split"]
        return resolve(source, env).split(delimiter)
    if isinstance(parts, list):
        return [resolve(part, env) for part in parts]
    raise Unsupported(f"Fn::Join of {parts!r} is not modelled")


def _glob(pattern: str, *, case_sensitive: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)


def _action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, case_sensitive=False).fullmatch(action) is not None


def _resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    pattern_head, resource_head = pattern.split(":", 5), resource.split(":", 5)
    if len(pattern_head) != 6 or len(resource_head) != 6:
        raise Unsupported(f"not an ARN: {pattern!r} or {resource!r}")
    if any(c in part for part in pattern_head[:5] for c in "*?"):
        raise Unsupported(f"a wildcard before the resource part of {pattern!r} is not modelled")
    return pattern_head[:5] == resource_head[:5] and _glob(pattern_head[5], case_sensitive=True).fullmatch(resource_head[5]) is not None


def _conditions_match(conditions: Mapping, request: Request, env: Environment) -> bool:
    context = {key.lower(): value for key, value in request.context.items()}
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            values = _listed(expected, env)
            actual = context.get(key.lower())
            if operator == "Null":  # "true": the key is absent from the request; "false": present
                if (actual is None) != (values == ["true"]):
                    return False
                continue
            if operator.startswith("ForAllValues:"):
                # Every value of a multivalued key matches; true when the key is absent
                # (reference_policies_condition-single-vs-multi-valued-context-keys.html).
                members = [] if actual is None else (actual if isinstance(actual, list) else [actual])
                if not all(_compare(operator.removeprefix("ForAllValues:"), values, member) for member in members):
                    return False
                continue
            if actual is None:
                if operator not in ("StringEquals", "StringLike", "Bool"):
                    raise Unsupported(f"{operator} on a key missing from the request is not modelled")
                return False
            if isinstance(actual, list):
                raise Unsupported(f"{key} has several values: only ForAllValues operators are modelled for that")
            if not _compare(operator, values, actual):
                return False
    return True


def _compare(operator: str, values: list[str], actual: str) -> bool:
    if operator == "StringEquals":
        return actual in values
    if operator == "StringLike":
        return any(_glob(value, case_sensitive=True).fullmatch(actual) for value in values)
    if operator == "Bool":
        return actual.lower() in (value.lower() for value in values)
    raise Unsupported(f"condition operator {operator} is not modelled")


def s3_object_of_url(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 URL as S3 reads it: virtual-hosted (bucket.s3.region.amazonaws.com,
    the legacy bucket.s3-region... and bucket.s3...) or path style (s3.region.amazonaws.com/bucket/key)
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html). Any other host raises."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise Unsupported(f"not an https URL: {url}")
    path = unquote(parts.path)
    host = parts.hostname or ""
    if re.fullmatch(r"s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?", host):
        bucket, _, key = path.lstrip("/").partition("/")
        return bucket, key
    virtual = re.fullmatch(r"(?P<bucket>[a-z0-9][a-z0-9.-]+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?", host)
    if virtual:
        return virtual["bucket"], path.lstrip("/")
    raise Unsupported(f"not an S3 host: {parts.hostname}")


def role_statements(stack, template: dict, role) -> list[dict]:
    """Every statement of every policy attached to ``role`` in the template; AWS managed
    policies cannot be read here, so a role with one fails the test."""
    role_id = stack.get_logical_id(role.node.default_child)
    resource = template["Resources"][role_id]["Properties"]
    assert not resource.get("ManagedPolicyArns"), f"{role_id} has managed policies this test cannot evaluate"
    statements = [s for policy in resource.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for other in template["Resources"].values():
        if other["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy") and {"Ref": role_id} in other["Properties"].get("Roles", []):
            statements += other["Properties"]["PolicyDocument"]["Statement"]
    assert statements, f"no policy attached to {role_id}"
    return statements
