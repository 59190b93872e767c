"""CloudWatch retention days (as configured) to the CDK enum."""

from aws_cdk import aws_logs as logs

from platform_config.environments import LOG_RETENTION_DAYS

# RetentionDays lists the same values in the same order, then INFINITE.
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, list(logs.RetentionDays)[: len(LOG_RETENTION_DAYS)], strict=True))


def log_retention(days: int) -> logs.RetentionDays:
    return _BY_DAYS[days]
