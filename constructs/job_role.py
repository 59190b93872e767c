"""One IAM role per job, with its permissions in one customer-managed policy.

`allow` is the only way permissions are added: every statement names exact actions, and a
statement whose resources contain a wildcard must say why, which becomes the cdk-nag
acknowledgement of exactly that finding.
"""

from __future__ import annotations

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from constructs import Construct

from security.acknowledgements import acknowledge


class JobRole(Construct):
    def __init__(self, scope: Construct, id_: str, *, assumed_by: iam.IPrincipal, description: str) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(self, "Role", assumed_by=assumed_by, description=description)
        # Managed rather than inline: HIPAA and NIST packs require reviewable, reusable policies.
        self.policy = iam.ManagedPolicy(self, "Policy", roles=[self.role], description=f"Permissions of: {description}")

    @property
    def role_arn(self) -> str:
        return self.role.role_arn

    def allow(self, actions: list[str], resources: list[str], *, why_wildcard: str | None = None, conditions: dict | None = None) -> None:
        if any(action == "*" or action.endswith(":*") for action in actions):
            raise ValueError(f"{self.node.path}: grant exact actions, not {actions}")
        self.policy.add_statements(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))
        wildcards = [resource for resource in resources if "*" in self._render(resource)]
        if not wildcards:
            return
        if why_wildcard is None:
            raise ValueError(f"{self.node.path}: resources {wildcards} contain a wildcard; pass why_wildcard")
        acknowledge(self.policy, why_wildcard, *(f"AwsSolutions-IAM5[Resource::{self._render(resource)}]" for resource in wildcards))

    def deny(self, actions: list[str], resources: list[str]) -> None:
        """An explicit Deny, which no Allow of any policy overrides: the guard where IAM's
        wildcards cannot express an exclusion (``*`` also spans ``/``)."""
        self.policy.add_statements(iam.PolicyStatement(effect=iam.Effect.DENY, actions=actions, resources=resources))

    def _render(self, resource: str) -> str:
        """The resource as cdk-nag prints it in a finding id (pseudo parameters as <AWS::X>)."""
        if not Token.is_unresolved(resource):
            return resource
        resolved = Stack.of(self).resolve(resource)
        if isinstance(resolved, dict) and "Fn::Join" in resolved:
            separator, parts = resolved["Fn::Join"]
            return separator.join(part if isinstance(part, str) else _render_intrinsic(part) for part in parts)
        return _render_intrinsic(resolved)


def _render_intrinsic(value) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return str(value)
