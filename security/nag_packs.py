"""The security review every environment passes at synth: three cdk-nag packs and ours."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NagPack, NIST80053R5Checks

from security.openforge_checks import OpenForgeChecks


def security_packs(app: App) -> list[NagPack]:
    return [AwsSolutionsChecks(app), HIPAASecurityChecks(app), NIST80053R5Checks(app), OpenForgeChecks(app)]


def add_security_review(app: App) -> list[NagPack]:
    """Attach every pack; any unacknowledged finding then fails synthesis."""
    packs = security_packs(app)
    Validations.of(app).add_plugins(*packs)
    return packs
