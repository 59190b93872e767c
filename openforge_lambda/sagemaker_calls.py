"""SageMaker calls on one named resource that a missing resource must not fail: a describe that
answers None, a delete that answers what it deleted (None when it was already gone), and the
one reading of SageMaker's errors for "does not exist". Plain boto3.
"""
from __future__ import annotations

from botocore.exceptions import ClientError


def describe(call, **name) -> dict | None:
    """The resource, or None when it does not exist."""
    try:
        return call(**name)
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def delete(call, **name) -> str | None:
    """What was deleted, or None when it was already gone (a retried roll back)."""
    try:
        call(**name)
    except ClientError as error:
        if is_missing(error):
            return None
        raise
    return next(iter(name.values()))


def tag_value(client, arn: str, key: str) -> str | None:
    return next((tag["Value"] for tag in client.list_tags(ResourceArn=arn).get("Tags", []) if tag["Key"] == key), None)


def is_missing(error: ClientError) -> bool:
    """A resource that does not exist: SageMaker says so as a ValidationException ("Requested
    resource not found.", "Could not find endpoint ...", "... does not exist")."""
    details = error.response.get("Error", {})
    message = details.get("Message", "").lower()
    return details.get("Code") in ("ValidationException", "ResourceNotFound") and any(
        words in message for words in ("not found", "could not find", "does not exist"))
