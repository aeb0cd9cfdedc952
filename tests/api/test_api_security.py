"""Findings of the adversarial pass over the REST API, each fixed and kept fixed here: oversized
and deeply nested bodies, tokens anywhere but the Authorization header, tokens in logs, and
coercions that slipped past validation."""

from __future__ import annotations

import logging

import pytest

from api.middleware import MAX_BODY_BYTES
from tests.api.conftest import PASSWORD, STRATEGY, bearer

BODY_ROUTES = [
    "/api/v1/users",
    "/api/v1/sessions",
    "/api/v1/strategies",
    "/api/v1/backtests",
    "/api/v1/optimizations",
    "/api/v1/market_data/import",
    "/api/v1/transactions/import",
]


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_body_nested_past_the_limit_is_a_422_not_a_500(api, path):
    # json.loads recurses: before the limit, 100k brackets overflowed the stack (RecursionError, 500)
    token, _ = api.sign_up()
    response = api.client.post(
        path, content=b"[" * 100_000 + b"]" * 100_000, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "body", "message": "nests arrays and objects more than 64 levels deep"}
    ]


def test_a_body_over_the_size_limit_is_a_413_before_any_parsing(api):
    token, _ = api.sign_up()
    response = api.client.post(
        "/api/v1/strategies",
        content=b" " * (MAX_BODY_BYTES + 1),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_a_strategy_as_deep_as_the_language_allows_still_passes(api):
    token, _ = api.sign_up()
    group = {"operator": "and", "conditions": STRATEGY["entry_rules"]["conditions"]}
    for _ in range(8):  # the strategy language's deepest nesting
        group = {"operator": "or", "conditions": [group]}
    response = api.client.post("/api/v1/strategies", json={**STRATEGY, "entry_rules": group}, headers=bearer(token))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("where", ["query", "cookie", "x-api-key"])
def test_a_token_counts_only_in_the_authorization_header(api, where):
    token, _ = api.sign_up()
    if where == "query":
        response = api.client.get("/api/v1/strategies", params={"token": token, "access_token": token})
    elif where == "cookie":
        api.client.cookies.set("token", token)
        response = api.client.get("/api/v1/strategies")
        api.client.cookies.clear()
    else:
        response = api.client.get("/api/v1/strategies", headers={"X-Api-Key": token})
    assert response.status_code == 401


def test_no_token_or_password_reaches_the_logs(api, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    email = "logs-check@example.com"
    api.client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "L"})
    token = api.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).json()["token"]
    api.client.get("/api/v1/strategies?per_page=oops", headers=bearer(token))  # a 422 is logged too
    api.client.get(f"/api/v1/no-such-route/{token}")  # even a token pasted into a path stays out
    logged = caplog.text + capsys.readouterr().out
    assert PASSWORD not in logged
    assert token not in logged.replace(f"/api/v1/no-such-route/{token}", "")
