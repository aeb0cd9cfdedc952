"""One error shape for every 4xx/5xx, a logged 500 with the request id, and the OpenAPI document."""

from __future__ import annotations

import json
import logging

import pytest
from mangum import Mangum

from api.errors import field_name
from tests.api.conftest import bearer

ERROR_KEYS = {"code", "message", "details"}


def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert all(set(d) == {"field", "message"} for d in body["error"]["details"])
    return body["error"]


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("GET", "/api/v1/no-such-route", 404, "not_found"),
        ("GET", "/api/v1/strategies/", 404, "not_found"),  # no silent redirect for a trailing slash
        ("PATCH", "/api/v1/strategies", 405, "method_not_allowed"),
        ("GET", "/api/v1/backtests", 401, "unauthorized"),
    ],
)
def test_routing_and_auth_errors(api, method, path, status, code):
    token, _ = api.sign_up()
    error = _assert_error_shape(
        api.client.request(method, path, headers=bearer(token) if status != 401 else {}), status, code
    )
    assert error["message"]


def test_malformed_json_is_400(api):
    token, _ = api.sign_up()
    response = api.client.post(
        "/api/v1/strategies", content=b'{"name": ', headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert _assert_error_shape(response, 400, "bad_request")["message"] == "the request body is not valid JSON"


def test_fastapi_validation_errors_name_fields_by_dotted_path(api):
    token, _ = api.sign_up()
    response = api.client.post(
        "/api/v1/backtests",
        headers=bearer(token),
        json={
            "strategy_id": "00000000-0000-4000-8000-000000000000",
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "start_time": "2024-01-01T00:00:00Z",
            "end_time": "yesterday",
            "initial_balance": "lots",
            "metadata": {"leverage": "high"},
        },
    )
    error = _assert_error_shape(response, 422, "validation_failed")
    assert {d["field"] for d in error["details"]} == {"end_time", "initial_balance", "metadata.leverage"}


def test_a_body_that_is_not_an_object_is_422(api):
    token, _ = api.sign_up()
    response = api.client.post("/api/v1/strategies", json=[1, 2], headers=bearer(token))
    assert _assert_error_shape(response, 422, "validation_failed")["details"][0]["field"] == "body"


def test_field_names():
    assert (
        field_name(("body", "entry_rules", "conditions", 0, "params", "period"))
        == "entry_rules.conditions[0].params.period"
    )
    assert field_name(("query", "per_page")) == "per_page"
    assert field_name(("body",)) == "body"


def test_an_unexpected_error_is_a_logged_500_without_details(api, monkeypatch, caplog):
    token, _ = api.sign_up()

    def explode(*_):
        raise RuntimeError("connection string postgres://secret")

    monkeypatch.setattr(api.services.strategies, "list", explode)
    with caplog.at_level(logging.ERROR):
        response = api.client.get("/api/v1/strategies", headers=bearer(token))
    error = _assert_error_shape(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(logged) == 1 and logged[0].request_id in error["message"]
    assert "X-RateLimit-Remaining" in response.headers


def _rest_event(path: str, method: str = "GET", host: str = "127.0.0.1:3000", request_id: str = "req-1") -> dict:
    """An API Gateway REST proxy event (payload 1.0), as the gateway sends it."""
    return {
        "resource": "/api/v1/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Host": host},
        "multiValueHeaders": {"Host": [host]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": request_id,
            "stage": "dev",
            "path": f"/dev{path}",
            "httpMethod": method,
            "resourcePath": "/api/v1/{proxy+}",
            "identity": {"sourceIp": "198.51.100.4"},
        },
    }


def test_behind_api_gateway_a_500_names_the_gateway_request_id(api, monkeypatch):
    def explode(*_):
        raise RuntimeError("boom")

    monkeypatch.setattr(api.services.rate_limiter, "hit", explode)
    response = Mangum(api.client.app, lifespan="off")(_rest_event("/api/v1/health", request_id="gw-req-42"), None)
    assert response["statusCode"] == 500
    assert "gw-req-42" in response["body"]


def test_the_docs_page_behind_an_execute_api_url_loads_the_document_under_the_stage(api):
    asgi = Mangum(api.client.app, lifespan="off")
    on_aws = asgi(_rest_event("/api/docs", host="abc123.execute-api.us-east-1.amazonaws.com"), None)
    assert on_aws["statusCode"] == 200 and "'/dev/api/openapi.json'" in on_aws["body"]
    local = asgi(_rest_event("/api/docs"), None)
    assert "'/api/openapi.json'" in local["body"]


# ---------------------------------------------------------------- OpenAPI
@pytest.fixture(scope="module")
def document(api):
    response = api.client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_speaks_of_the_product_not_of_documents_outside_it(document):
    text = json.dumps(document)
    for outside in ("Level-2", "Level 2", "seed §", "seed's", "§", "issue 7", "the spec"):
        assert outside not in text, outside


def test_the_document_describes_every_route(document):
    """Every route of this area (other areas add their routers beside these)."""
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations >= {
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/sessions"),
        ("DELETE", "/api/v1/sessions"),
        ("GET", "/api/v1/strategies"),
        ("POST", "/api/v1/strategies"),
        ("GET", "/api/v1/strategies/{strategy_id}"),
        ("PUT", "/api/v1/strategies/{strategy_id}"),
        ("DELETE", "/api/v1/strategies/{strategy_id}"),
        ("GET", "/api/v1/backtests"),
        ("POST", "/api/v1/backtests"),
        ("GET", "/api/v1/backtests/{backtest_id}"),
        ("DELETE", "/api/v1/backtests/{backtest_id}"),
        ("POST", "/api/v1/backtests/{backtest_id}/cancel"),
        ("GET", "/api/v1/backtests/{backtest_id}/trades"),
        ("GET", "/api/v1/trades"),
        ("GET", "/api/v1/trades/{trade_id}"),
    }


def test_the_document_has_the_bearer_scheme_on_protected_routes(document):
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The token from `POST /api/v1/sessions`, sent as `Authorization: Bearer <token>`.",
    }
    assert document["paths"]["/api/v1/strategies"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/api/v1/sessions"]["post"]


def test_every_response_documents_the_rate_limit_and_every_error_the_error_shape(document, api):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["x-rate-limit"]["window_seconds"] == 60
            assert "Rate limit:" in operation["description"]
            for status, response in operation["responses"].items():
                assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response["headers"])
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
    backtests = document["paths"]["/api/v1/backtests"]["post"]["x-rate-limit"]
    # The configured limit (this API runs with limits out of the way), not a number of the code's.
    limit = api.services.rate_limiter.limits["backtest_creation"]
    assert backtests == {"category": "backtest_creation", "limit": limit, "window_seconds": 60, "per": "user"}


def test_request_bodies_carry_examples(document):
    schemas = document["components"]["schemas"]
    for name in ("UserCreate", "SessionCreate", "StrategyCreate", "BacktestCreate"):
        assert schemas[name]["examples"], name


def test_swagger_ui_is_served(api):
    response = api.client.get("/api/docs")
    assert response.status_code == 200 and "swagger-ui" in response.text
