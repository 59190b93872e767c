"""Stream S3 objects in and out with bounded memory, encrypted under the bucket's KMS key.

Reading wraps the GetObject body in a buffered reader (one chunk in memory). Writing is a
multipart upload of fixed-size parts, so an output of any size needs one part in memory;
an output smaller than one part becomes a single PutObject. A failed write aborts the
upload so no half-written object is left behind.
"""
from __future__ import annotations

import io

PART_BYTES = 8 * 1024 * 1024  # S3 requires parts of at least 5 MiB (but the last)


class _Body(io.RawIOBase):
    def __init__(self, body):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def open_object(s3, bucket: str, key: str, start: int = 0) -> io.BufferedReader:
    """The object from byte ``start`` to its end, read a part at a time."""
    request = {"Bucket": bucket, "Key": key}
    if start:
        request["Range"] = f"bytes={start}-"
    return io.BufferedReader(_Body(s3.get_object(**request)["Body"]), buffer_size=PART_BYTES)


class ObjectWriter:
    def __init__(self, s3, bucket: str, key: str, kms_key_id: str | None, content_type: str = "application/jsonl"):
        self.s3, self.bucket, self.key = s3, bucket, key
        self._extra = {"ContentType": content_type}
        if kms_key_id:
            self._extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_id, BucketKeyEnabled=True)
        self._buffer, self._parts, self._upload_id = bytearray(), [], None
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= PART_BYTES:
            self._upload_part(bytes(self._buffer[:PART_BYTES]))
            del self._buffer[:PART_BYTES]

    def close(self) -> None:
        if self._upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer), **self._extra)
            return
        if self._buffer:
            self._upload_part(bytes(self._buffer))
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})

    def abort(self) -> None:
        if self._upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, error_type, *_):
        if error_type is None:
            self.close()
        else:
            self.abort()

    def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self._extra)["UploadId"]
        number = len(self._parts) + 1
        etag = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=data)["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of s3://bucket/key; ValueError for anything else."""
    bucket, _, key = uri[5:].partition("/") if isinstance(uri, str) and uri.startswith("s3://") else ("", "", "")
    if not bucket:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return bucket, key
