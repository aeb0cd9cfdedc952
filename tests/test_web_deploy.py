"""The dashboard's deployment in template.yaml: a private bucket behind CloudFront with origin
access control, and the custom resource that writes config.json (its inline code run on moto)."""

from __future__ import annotations

import json
import sys
import types

import boto3
import pytest

from local.template import Template

TEMPLATE = Template.load()
RESOURCES = TEMPLATE.resources


def test_the_bucket_is_private_and_readable_only_by_the_distribution():
    blocked = RESOURCES["WebBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(blocked.values())
    origin = RESOURCES["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy origin access identity
    statement = RESOURCES["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert "${WebDistribution}" in statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]


def test_config_json_carries_the_stacks_api_urls():
    props = RESOURCES["WebConfig"]["Properties"]
    assert props["ApiUrl"] == TEMPLATE.body["Outputs"]["RestApiUrl"]["Value"]
    assert props["WsUrl"] == TEMPLATE.body["Outputs"]["WebSocketUrl"]["Value"]


@pytest.fixture
def handler(aws, monkeypatch):
    """The custom resource's inline code, with cfnresponse recording what it would send."""
    sent: list[tuple] = []
    cfnresponse = types.ModuleType("cfnresponse")
    cfnresponse.SUCCESS, cfnresponse.FAILED = "SUCCESS", "FAILED"
    cfnresponse.send = lambda event, context, status, data, physical_id: sent.append((status, data, physical_id))
    monkeypatch.setitem(sys.modules, "cfnresponse", cfnresponse)
    namespace: dict = {}
    exec(RESOURCES["WebConfigFunction"]["Properties"]["Code"]["ZipFile"], namespace)
    return namespace["handler"], sent


def test_the_custom_resource_writes_then_removes_config_json(aws, handler):
    run, sent = handler
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="web")
    props = {
        "Bucket": "web",
        "ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/dev",
        "WsUrl": "wss://def.execute-api.us-east-1.amazonaws.com/dev",
    }
    run({"RequestType": "Create", "ResourceProperties": props}, None)
    stored = s3.get_object(Bucket="web", Key="config.json")
    assert json.loads(stored["Body"].read()) == {"apiUrl": props["ApiUrl"], "wsUrl": props["WsUrl"]}
    assert (stored["ContentType"], stored["CacheControl"]) == ("application/json", "no-cache")
    run({"RequestType": "Delete", "ResourceProperties": props}, None)
    assert s3.list_objects_v2(Bucket="web").get("KeyCount", 0) == 0
    assert [status for status, *_ in sent] == ["SUCCESS", "SUCCESS"]


def test_a_failure_is_reported_not_left_hanging(aws, handler):
    run, sent = handler
    run(
        {"RequestType": "Update", "ResourceProperties": {"Bucket": "missing-bucket", "ApiUrl": "a", "WsUrl": "b"}}, None
    )
    assert sent[-1][0] == "FAILED" and "Error" in sent[-1][1]
