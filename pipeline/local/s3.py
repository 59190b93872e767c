"""A folder standing in for S3 on this machine: ``s3://bucket/key`` <-> ``ROOT/bucket/key``.

The local runner (``pipeline.local``) keeps every object the pipeline reads or writes here,
under the same keys the run plan gives, so a person can compare the layout with the real
buckets. ``LocalS3Client`` answers the few boto3 S3 calls the pipeline's own Lambda code
makes (listing, ``get_object``, ``put_object`` and multipart uploads), so that code runs
unchanged against the folder.
"""
from __future__ import annotations

import io
import uuid
from pathlib import Path


class LocalS3:
    """Maps S3 URIs to paths under ``root`` and back."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()  # absolute: jobs get these paths and run in folders of their own

    def path(self, uri: str) -> Path:
        """The local path of ``s3://bucket/key`` (a prefix ending in "/" is a folder)."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"not an S3 URI: {uri!r}")
        bucket, _, key = uri[len("s3://"):].partition("/")
        if not bucket or ".." in Path(key).parts:
            raise ValueError(f"not a usable S3 URI: {uri!r}")
        return self.root / bucket / key

    def uri(self, path: Path) -> str:
        """``s3://bucket/key`` of a path under the root."""
        relative = Path(path).resolve().relative_to(self.root.resolve())
        bucket, *key = relative.parts
        return f"s3://{bucket}/{'/'.join(key)}"

    def client(self) -> LocalS3Client:
        return LocalS3Client(self)


def _client_error(code: str, message: str, operation: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class LocalS3Client:
    """The S3 calls the pipeline's Lambda code makes, on the folder. Encryption arguments
    (ServerSideEncryption, SSEKMSKeyId) are accepted and ignored: there is no KMS here."""

    def __init__(self, store: LocalS3):
        self.store = store
        self._uploads: dict[str, dict[int, bytes]] = {}

    def _path(self, bucket: str, key: str) -> Path:
        return self.store.path(f"s3://{bucket}/{key}")

    def get_paginator(self, operation: str) -> _ListObjects:
        if operation != "list_objects_v2":
            raise NotImplementedError(f"the local S3 folder lists objects only, not {operation}")
        return _ListObjects(self)

    def get_object(self, Bucket: str, Key: str, Range: str | None = None, **_) -> dict:  # noqa: N803 (boto3's names)
        path = self._path(Bucket, Key)
        if not path.is_file():
            raise _client_error("NoSuchKey", f"The specified key does not exist: s3://{Bucket}/{Key}", "GetObject")
        data = path.read_bytes()
        if Range:
            start, _, end = Range.removeprefix("bytes=").partition("-")
            data = data[int(start): int(end) + 1 if end else None]
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

    def put_object(self, Bucket: str, Key: str, Body: bytes = b"", **_) -> dict:  # noqa: N803
        path = self._path(Bucket, Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Body if isinstance(Body, (bytes, bytearray)) else Body.read())
        return {"ETag": '"local"'}

    def create_multipart_upload(self, Bucket: str, Key: str, **_) -> dict:  # noqa: N803
        upload_id = uuid.uuid4().hex
        self._uploads[upload_id] = {}
        return {"UploadId": upload_id}

    def upload_part(self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes, **_) -> dict:  # noqa: N803
        self._uploads[UploadId][PartNumber] = bytes(Body)
        return {"ETag": f'"part-{PartNumber}"'}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, **_) -> dict:  # noqa: N803
        parts = self._uploads.pop(UploadId)
        return self.put_object(Bucket=Bucket, Key=Key, Body=b"".join(parts[number] for number in sorted(parts)))

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str, **_) -> dict:  # noqa: N803
        self._uploads.pop(UploadId, None)
        return {}


class _ListObjects:
    """``list_objects_v2`` as one page: every file under the prefix, in key order."""

    def __init__(self, client: LocalS3Client):
        self._client = client

    def paginate(self, Bucket: str, Prefix: str = "") -> list[dict]:  # noqa: N803
        root = self._client.store.path(f"s3://{Bucket}/")
        files = (path for path in root.rglob("*") if path.is_file()) if root.is_dir() else ()
        contents = sorted(({"Key": path.relative_to(root).as_posix(), "Size": path.stat().st_size} for path in files), key=lambda item: item["Key"])
        return [{"Contents": [item for item in contents if item["Key"].startswith(Prefix)]}]
