"""adapters.s3_objects against moto: the one place S3 objects are read, written, listed and deleted."""

from __future__ import annotations

import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from adapters.s3_objects import TAIL_BYTES, ObjectChanged, ObjectTooLarge, S3Objects, is_missing
from tests.fakes.counting_s3 import CountingS3

BUCKET = "objects-test"


@pytest.fixture
def client():
    with mock_aws():
        # An explicit endpoint: the session's moto server may have set AWS_ENDPOINT_URL.
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url="https://s3.us-east-1.amazonaws.com")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def objects(client):
    return S3Objects(client, BUCKET)


def test_bytes_and_json_round_trip_and_a_missing_object_is_none(objects, client):
    etag = objects.put_bytes("a/raw.bin", b"\x00\x01payload", "application/octet-stream")
    assert objects.get_bytes("a/raw.bin") == b"\x00\x01payload"
    stored = objects.get("a/raw.bin")
    assert (
        stored.body == b"\x00\x01payload"
        and stored.etag == etag == client.head_object(Bucket=BUCKET, Key="a/raw.bin")["ETag"]
    )
    assert client.head_object(Bucket=BUCKET, Key="a/raw.bin")["ContentType"] == "application/octet-stream"

    document = {"name": "x", "values": [1, 2.5, None], "nested": {"ok": True}}
    objects.put_json("a/doc.json", document)
    assert objects.get_json("a/doc.json") == document
    raw = client.get_object(Bucket=BUCKET, Key="a/doc.json")
    assert raw["ContentType"] == "application/json"
    assert raw["Body"].read() == json.dumps(document, separators=(",", ":")).encode()  # compact
    objects.put_json("a/status.json", document, indent=1)
    assert objects.get_bytes("a/status.json") == json.dumps(document, indent=1).encode()

    assert objects.get("a/none") is None
    assert objects.get_bytes("a/none") is None
    assert objects.get_json("a/none") is None
    assert objects.range_file("a/none") is None


def test_strict_json_refuses_nan(objects):
    with pytest.raises(ValueError, match="not JSON compliant"):
        objects.put_json("nan.json", {"x": float("nan")}, allow_nan=False)
    objects.put_json("nan.json", {"x": float("nan")})  # Python's JSON, as the replay store wrote it
    assert objects.get_bytes("nan.json") == b'{"x":NaN}'


@pytest.mark.parametrize("code", ["NoSuchKey", "404", "NotFound"])
def test_every_missing_code_means_none(code):
    error = ClientError({"Error": {"Code": code, "Message": "gone"}}, "GetObject")
    assert is_missing(error)

    class Answers:
        def get_object(self, **kwargs):
            raise error

    assert S3Objects(Answers(), BUCKET).get("k") is None
    assert S3Objects(Answers(), BUCKET).range_file("k") is None


def test_other_errors_are_raised(client):
    with pytest.raises(ClientError) as raised:
        S3Objects(client, "no-such-bucket-here").get("k")
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket" and not is_missing(raised.value)
    assert not is_missing(ClientError({"Error": {"Code": "AccessDenied"}}, "GetObject"))


def test_a_bounded_get_refuses_a_larger_object_without_reading_it(objects):
    objects.put_bytes("big", b"x" * 101)
    assert objects.get_bytes("big", max_bytes=101) == b"x" * 101
    with pytest.raises(ObjectTooLarge) as raised:
        objects.get_bytes("big", max_bytes=100)
    assert (raised.value.size, raised.value.max_bytes) == (101, 100)


def test_conditional_puts(objects):
    first = objects.put_bytes("manifest.json", b"1", if_none_match=True)
    with pytest.raises(ObjectChanged):  # it exists now
        objects.put_bytes("manifest.json", b"2", if_none_match=True)
    second = objects.put_bytes("manifest.json", b"2", if_match=first)
    with pytest.raises(ObjectChanged):  # based on a version that is no longer current
        objects.put_bytes("manifest.json", b"3", if_match=first)
    assert objects.get("manifest.json").body == b"2" and objects.get("manifest.json").etag == second


def test_listing_and_deleting_a_prefix_page_by_page(client):
    counted = CountingDeletes(client)
    objects = S3Objects(counted, BUCKET)
    n = 1005  # more than one listing page (1000 keys) and one delete_objects request (1000 keys)
    for index in range(n):
        client.put_object(Bucket=BUCKET, Key=f"run/{index:05d}", Body=b"")
    for key in ("runner/kept", "other/kept"):
        client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    assert objects.count("run/") == n
    assert objects.keys("run/") == [f"run/{index:05d}" for index in range(n)]

    assert objects.delete_prefix("run/", "nothing/") == n
    assert counted.batches == [1000, 5]  # one batched delete per listed page
    assert objects.keys("run") == ["runner/kept"] and objects.count("other/") == 1

    assert objects.delete_keys([f"k{i}" for i in range(2001)]) == 2001  # absent keys: S3 deletes nothing, quietly
    assert counted.batches[2:] == [1000, 1000, 1]
    objects.delete("other/kept")
    assert objects.keys("") == ["runner/kept"]


class CountingDeletes(CountingS3):
    def __init__(self, client):
        super().__init__(client)
        self.batches = []

    def delete_objects(self, **kwargs):
        assert kwargs["Delete"]["Quiet"] is True
        self.batches.append(len(kwargs["Delete"]["Objects"]))
        return self.client.delete_objects(**kwargs)


def test_a_range_file_reads_what_is_asked_with_ranged_gets(client):
    body = bytes(range(256)) * 1024  # 256 KiB, four times the tail
    client.put_object(Bucket=BUCKET, Key="blob", Body=body)
    counted = CountingS3(client)
    file = S3Objects(counted, BUCKET).range_file("blob")
    assert file.size == len(body) and counted.gets == 1  # the suffix GET learnt the size
    file.seek(-100, io.SEEK_END)
    assert file.read(100) == body[-100:] and counted.gets == 1  # inside the tail: no GET
    file.seek(1000)
    assert file.read(5000) == body[1000:6000] and counted.gets == 2
    assert counted.total_bytes == TAIL_BYTES + 5000
    assert file.read(0) == b"" and file.seek(0, io.SEEK_END) == len(body) and file.read(10) == b""

    sized = S3Objects(counted, BUCKET).range_file("blob", size=len(body))
    assert counted.gets == 2  # the size was given: nothing read yet
    sized.seek(10)
    assert sized.read(3) == body[10:13] and counted.gets == 3

    client.put_object(Bucket=BUCKET, Key="small", Body=b"tiny")
    small = S3Objects(client, BUCKET).range_file("small")
    assert small.size == 4 and small.read() == b"tiny"


def test_presigned_urls_name_the_object_and_expire(objects):
    for url, key in (
        (objects.presign_get("exports/x/file.csv", 60), "exports/x/file.csv"),
        (objects.presign_put("imports/y.csv", 60), "imports/y.csv"),
    ):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        assert parts.path == f"/{BUCKET}/{key}" and "Signature" in query
        assert 0 < int(query["Expires"][0]) - time.time() <= 61
