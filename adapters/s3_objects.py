"""One bucket's objects, as every S3 store of the service reads and writes them.

`S3Objects(client, bucket)` gets and puts bytes and JSON (a missing object is None, recognised
here and nowhere else: S3 answers NoSuchKey to a GET, 404/NotFound to a HEAD or a ranged GET
through some endpoints), puts conditionally (`If-Match` / `If-None-Match: *`, a lost race is
`ObjectChanged`), lists, and deletes a prefix (a paginated listing, one batched `delete_objects`
per page of at most 1000 keys). `range_file` is a read-only seekable file over one object whose
reads are ranged GETs: what `adapters.s3_parquet` reads Parquet through.

No pyarrow or NumPy here: the API imports this module at cold start.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
DELETE_BATCH = 1000  # delete_objects takes at most 1000 keys
TAIL_BYTES = 64 * 1024  # one suffix GET reads a Parquet footer (and a small object whole)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing(error: ClientError) -> bool:
    """Whether S3 refused because the object (or bucket key) does not exist."""
    return error_code(error) in MISSING_CODES


class ObjectChanged(Exception):
    """A conditional PUT lost: the object changed (or appeared) since the version it was based on."""


class ObjectTooLarge(Exception):
    """A GET bounded by `max_bytes` found a larger object (its body is not read)."""

    def __init__(self, key: str, size: int, max_bytes: int) -> None:
        super().__init__(f"{key} has {size} bytes; at most {max_bytes}")
        self.key, self.size, self.max_bytes = key, size, max_bytes


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str


class S3Objects:
    """The objects of one bucket through a boto3 S3 client (given, never made here)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.client = s3_client
        self.bucket = bucket

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # ------------------------------------------------------------------ reading
    def get(self, key: str, max_bytes: int | None = None) -> StoredObject | None:
        """The object's bytes and ETag, None when there is no such object; ObjectTooLarge (without
        reading the body) when it has more than `max_bytes`."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_missing(error):
                return None
            raise
        if max_bytes is not None and response["ContentLength"] > max_bytes:
            response["Body"].close()
            raise ObjectTooLarge(key, response["ContentLength"], max_bytes)
        return StoredObject(response["Body"].read(), response["ETag"])

    def get_bytes(self, key: str, max_bytes: int | None = None) -> bytes | None:
        stored = self.get(key, max_bytes)
        return None if stored is None else stored.body

    def get_json(self, key: str) -> Any:
        """The parsed JSON document, None when there is no such object."""
        body = self.get_bytes(key)
        return None if body is None else json.loads(body)

    def range_file(self, key: str, size: int | None = None) -> S3RangeFile | None:
        """A seekable file over the object, None when there is no such object. Without `size` one
        suffix GET learns it (and holds the object's tail); with it nothing is read yet."""
        try:
            return S3RangeFile(self.client, self.bucket, key, size)
        except ClientError as error:
            if is_missing(error):
                return None
            raise

    # ------------------------------------------------------------------ writing
    def put_bytes(
        self,
        key: str,
        body: bytes,
        content_type: str | None = None,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        **headers: Any,
    ) -> str:
        """Writes the object whole and answers its ETag. With `if_match` (an ETag) or
        `if_none_match` (the object must not exist yet) the write is conditional: ObjectChanged
        when the condition fails. `headers` are put_object's other parameters (ContentDisposition...)."""
        if content_type is not None:
            headers["ContentType"] = content_type
        if if_match is not None:
            headers["IfMatch"] = if_match
        if if_none_match:
            headers["IfNoneMatch"] = "*"
        try:
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **headers)
        except ClientError as error:
            if error_code(error) in PRECONDITION_CODES:
                raise ObjectChanged(f"{self.url(key)} changed meanwhile") from error
            raise
        return str(response.get("ETag", ""))

    def put_json(self, key: str, document: Any, *, indent: int | None = None, allow_nan: bool = True) -> str:
        """The document as compact JSON (or indented by `indent`), `application/json`."""
        separators = (",", ":") if indent is None else None
        body = json.dumps(document, indent=indent, separators=separators, allow_nan=allow_nan).encode()
        return self.put_bytes(key, body, "application/json")

    # ------------------------------------------------------------------ listing and deleting
    def keys(self, prefix: str) -> list[str]:
        return [key for page in self._pages(prefix) for key in page]

    def count(self, prefix: str) -> int:
        return sum(len(page) for page in self._pages(prefix))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Deletes the keys, 1000 per request; answers how many were asked for."""
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            objects = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        return len(keys)

    def delete_prefix(self, *prefixes: str) -> int:
        """Deletes every object under each prefix, one batched delete per listed page; answers how
        many objects there were."""
        return sum(self.delete_keys(page) for prefix in prefixes for page in self._pages(prefix))

    def _pages(self, prefix: str) -> Iterator[list[str]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [item["Key"] for item in page.get("Contents", [])]
            if keys:
                yield keys

    # ------------------------------------------------------------------ presigned URLs
    def presign_get(self, key: str, expires_in: int) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        )

    def presign_put(self, key: str, expires_in: int) -> str:
        return str(
            self.client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        )


class S3RangeFile(io.RawIOBase):
    """A read-only seekable file over one S3 object: each read is one ranged GET, except reads
    inside the tail the first (suffix) GET already fetched when the size was not known."""

    def __init__(self, s3_client: Any, bucket: str, key: str, size: int | None = None) -> None:
        super().__init__()
        self._s3, self._bucket, self.key = s3_client, bucket, key
        self._tail = b""
        if size is None:
            response = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{TAIL_BYTES}")
            self._tail = response["Body"].read()
            content_range = response.get("ContentRange")  # "bytes 123-456/789"; absent if the whole object came back
            size = int(content_range.rsplit("/", 1)[1]) if content_range else len(self._tail)
        self.size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        start, end = self._position, min(self._position + len(buffer), self.size)
        if start >= end:
            return 0
        tail_start = self.size - len(self._tail)
        if start >= tail_start:
            data = self._tail[start - tail_start : end - tail_start]
        else:
            response = self._s3.get_object(Bucket=self._bucket, Key=self.key, Range=f"bytes={start}-{end - 1}")
            data = response["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
