"""One way to acknowledge a cdk-nag finding, so every acknowledgement carries its reason
and the security report can list it beside the finding it covers."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

# With this context set the app records acknowledgements instead of applying them, so the
# report can run every pack once and see each finding, acknowledged or not.
RECORD_ONLY_CONTEXT = "openforge:record-acknowledgements-only"
RECORDED_METADATA_TYPE = "openforge:acknowledgement"


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge `rule_ids` on `scope` and everything under it, for `reason`."""
    if len(reason.split()) < 5:
        raise ValueError(f"acknowledgement of {', '.join(rule_ids)} at {scope.node.path} needs a specific reason, got {reason!r}")
    record_only = bool(scope.node.try_get_context(RECORD_ONLY_CONTEXT))
    for rule_id in rule_ids:
        if record_only:
            scope.node.add_metadata(RECORDED_METADATA_TYPE, {"rule": rule_id, "reason": reason})
        else:
            Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
