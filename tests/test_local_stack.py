"""The local stack: what it provisions equals the template, and both APIs answer over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request

import boto3
import pytest
import websockets

from local.resources import bucket_notifications, queue_attributes, state_machine_definition
from local.stack import LocalStack
from local.template import Template

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack():
    with LocalStack(api_port=0, ws_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def template(stack):
    return stack.template


def _client(stack, service):
    return boto3.client(service, endpoint_url=stack.aws.url, region_name="us-east-1")


# ---------------------------------------------------------------- resources == template
def test_tables_equal_the_template(stack, template: Template):
    dynamodb = _client(stack, "dynamodb")
    declared = template.of_type("AWS::DynamoDB::Table")
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(template.physical_name(t) for t in declared)
    for logical_id, resource in declared.items():
        props = resource["Properties"]
        name = template.physical_name(logical_id)
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == props["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(props["AttributeDefinitions"], key=str)
        indexes = {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {
            i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in props.get("GlobalSecondaryIndexes", [])
        }
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl == {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": props["TimeToLiveSpecification"]["AttributeName"],
            }
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_buckets_and_notifications_equal_the_template(stack, template: Template):
    s3 = _client(stack, "s3")
    declared = sorted(template.physical_name(b) for b in template.of_type("AWS::S3::Bucket"))
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == declared
    expected = bucket_notifications(template)
    assert expected, "the template declares S3 -> Lambda notifications"
    for bucket in declared:
        configured = s3.get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations", [])
        assert [(c["LambdaFunctionArn"], c["Events"], c.get("Filter")) for c in configured] == [
            (c["LambdaFunctionArn"], c["Events"], c.get("Filter")) for c in expected.get(bucket, [])
        ]


def test_buckets_cors_rules_equal_the_template(stack, template: Template):
    s3 = _client(stack, "s3")
    for logical_id, resource in template.of_type("AWS::S3::Bucket").items():
        declared = template.resolve(resource["Properties"]).get("CorsConfiguration", {}).get("CorsRules", [])
        if not declared:
            with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
                s3.get_bucket_cors(Bucket=template.physical_name(logical_id))
            continue
        configured = s3.get_bucket_cors(Bucket=template.physical_name(logical_id))["CORSRules"]
        served = [
            (r["AllowedMethods"], r["AllowedOrigins"], r["AllowedHeaders"], r["MaxAgeSeconds"]) for r in configured
        ]
        assert served == [
            (r["AllowedMethods"], r["AllowedOrigins"], r["AllowedHeaders"], r["MaxAge"]) for r in declared
        ]
    results = template.resolve(template.resources["ResultsBucket"]["Properties"])["CorsConfiguration"]["CorsRules"]
    assert results[0]["AllowedMethods"] == ["GET", "HEAD"]  # presigned trade CSV downloads read cross-origin


def test_queues_equal_the_template(stack, template: Template):
    sqs = _client(stack, "sqs")
    declared = template.of_type("AWS::SQS::Queue")
    assert declared, "the template declares the imports' dead-letter queue"
    for logical_id, resource in declared.items():
        url = sqs.get_queue_url(QueueName=template.get_att(logical_id, "QueueName"))["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        expected = queue_attributes(template.resolve(resource["Properties"]))
        assert {key: attributes.get(key) for key in expected} == expected


def test_state_machines_equal_the_template(stack, template: Template):
    sfn = _client(stack, "stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    declared = template.of_type("AWS::Serverless::StateMachine")
    assert sorted(m["stateMachineArn"] for m in machines) == sorted(template.arn(m) for m in declared)
    for logical_id in declared:
        described = sfn.describe_state_machine(stateMachineArn=template.arn(logical_id))
        assert json.loads(described["definition"]) == state_machine_definition(template, logical_id)


# ---------------------------------------------------------------- REST gateway
def test_health_answers_200_with_the_version_over_http(stack):
    with urllib.request.urlopen(f"{stack.api_url}/api/v1/health", timeout=30) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ok", "version": "0.1.0"}


def test_a_path_no_resource_declares_gets_the_templates_gateway_response(stack):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{stack.api_url}/not-an-api-path", timeout=30)
    assert error.value.code == 404  # GatewayResponses.MISSING_AUTHENTICATION_TOKEN of the template
    assert json.loads(error.value.read()) == {
        "error": {"code": "not_found", "message": "no route GET /not-an-api-path", "details": []}
    }


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library fixes them up); the status, headers and body back."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW", "PUT"])
def test_every_method_gets_the_api_error_shape_and_a_405_with_allow(stack, method):
    port = int(stack.api_url.rsplit(":", 1)[1])
    status, headers, body = _raw_exchange(
        port,
        f"{method} /api/v1/strategies HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status == 405 and headers["allow"] == "GET, POST"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET / HTTP/1.1 EXTRA\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
        (b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n", 413),
        (b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", 431),
    ],
)
def test_a_malformed_request_gets_the_api_error_shape(stack, request_bytes, status):
    port = int(stack.api_url.rsplit(":", 1)[1])
    answered, headers, body = _raw_exchange(port, request_bytes)
    assert answered == status and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] in ("bad_request", "payload_too_large") and error["message"]


@pytest.mark.parametrize(
    "request_bytes, status, code",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426, "upgrade_required"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, "method_not_allowed"),
        (b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
    ],
)
def test_the_websocket_gateway_refuses_what_is_not_an_upgrade_in_the_api_error_shape(
    stack, request_bytes, status, code
):
    answered, _headers, body = _raw_exchange(stack.ws.port, request_bytes)
    assert answered == status and json.loads(body)["error"]["code"] == code


@pytest.mark.parametrize("method", ["PUT", "TRACE", "PATCH"])
def test_the_management_api_answers_unknown_methods_405_in_json(stack, method):
    port = int(stack.ws.management_url.split(":")[2].split("/")[0])
    status, headers, body = _raw_exchange(
        port,
        f"{method} /dev/@connections/abc HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: 0\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status == 405 and headers["allow"] == "DELETE, GET, POST" and "message" in json.loads(body)


def test_a_preflight_is_answered_by_the_gateway_with_the_templates_cors(stack):
    # Given a browser on another origin, When it preflights a bearer-token POST,
    # Then the gateway answers 204 with the template's Cors (CorsAllowedOrigin defaults to *).
    request = urllib.request.Request(
        f"{stack.api_url}/api/v1/backtests",
        method="OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:3002",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204
        headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert set(headers["Access-Control-Allow-Methods"].split(",")) >= {"GET", "POST", "PUT", "DELETE"}
    assert headers["Access-Control-Max-Age"] == "600"


def test_every_answer_carries_allow_origin_and_exposes_the_rate_limit_headers(stack):
    with urllib.request.urlopen(f"{stack.api_url}/api/v1/health", timeout=30) as response:
        ok = response.headers
    with pytest.raises(urllib.error.HTTPError) as unauthorized:  # the function's 401
        urllib.request.urlopen(f"{stack.api_url}/api/v1/backtests", timeout=30)
    with pytest.raises(urllib.error.HTTPError) as undeclared:  # the gateway's own 403
        urllib.request.urlopen(f"{stack.api_url}/not-an-api-path", timeout=30)
    for headers in (ok, unauthorized.value.headers, undeclared.value.headers):
        assert headers["Access-Control-Allow-Origin"] == "*"
        exposed = {name.strip() for name in headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed >= {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}


def test_the_api_function_receives_a_rest_proxy_event(stack):
    seen = []
    function = stack.functions["ApiFunction"]
    original = function.invoke
    function.invoke = lambda event: (seen.append(event), original(event))[1]
    try:
        urllib.request.urlopen(f"{stack.api_url}/api/v1/health?x=1&x=2", timeout=30).read()
    finally:
        function.invoke = original
    event = seen[0]
    assert event["resource"] == "/api/v1/{proxy+}"
    assert event["path"] == "/api/v1/health"
    assert event["pathParameters"] == {"proxy": "health"}
    assert event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


# ---------------------------------------------------------------- WebSocket gateway
def _connection_items(stack):
    table = stack.template.physical_name("ConnectionsTable")
    return _client(stack, "dynamodb").scan(TableName=table)["Items"]


def test_a_websocket_client_connects_pings_and_survives_bad_messages(stack):
    async def session():
        async with websockets.connect(stack.ws_url) as ws:
            assert len(_connection_items(stack)) == 1  # $connect stored the connection
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await ws.recv()) == {"event": "pong"}
            await ws.send("{not json")
            assert json.loads(await ws.recv())["event"] == "error"
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await ws.recv()) == {"event": "pong"}

    asyncio.run(session())
    deadline = time.monotonic() + 10
    while _connection_items(stack) and time.monotonic() < deadline:  # $disconnect runs after the close
        time.sleep(0.05)
    assert _connection_items(stack) == []


def test_producers_reach_a_socket_through_the_management_api(stack):
    async def session():
        async with websockets.connect(stack.ws_url) as ws:
            connection_id = _connection_items(stack)[0]["pk"]["S"]
            management = boto3.client(
                "apigatewaymanagementapi", endpoint_url=stack.ws.management_url, region_name="us-east-1"
            )
            await asyncio.to_thread(management.post_to_connection, ConnectionId=connection_id, Data=b'{"event":"x"}')
            assert json.loads(await ws.recv()) == {"event": "x"}
            return management, connection_id

    management, connection_id = asyncio.run(session())
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")
