"""Rate limits (seed §5): exact counting under concurrency, one category per request, headers always."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.models.rate_limits import RateLimitItem
from adapters.repositories.binding import bind
from adapters.repositories.rate_limits import DynamoRateLimitCounter
from api.application import create_app
from api.middleware import rate_limit_category
from api.settings import ApiSettings
from api.wiring import build_services
from local.template import Template
from shared.accounts.rate_limits import SEED_LIMITS, limits_from
from tests.api.conftest import PASSWORD, TestClient, backtest_body, bearer, make_api


class Clock:
    """A settable clock starting at a fresh window of its own (counters of other tests never collide)."""

    def __init__(self) -> None:
        self.now = 4_000_000_000 + uuid.uuid4().int % 10**6 * 60

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


# The seed's limits, but 30 general requests instead of 120 to keep the tests short.
LIMITS = {**SEED_LIMITS, "general": 30}


@pytest.fixture
def limited(api_aws, clock):
    return make_api(api_aws, limits=LIMITS, clock=clock)


def test_the_seed_limits():
    assert SEED_LIMITS == {"auth": 20, "general": 120, "market_data": 300, "backtest_creation": 10}


def test_each_limit_is_configured_by_its_variable_and_the_spec_numbers_are_the_defaults():
    assert limits_from({}) == SEED_LIMITS
    assert limits_from({"RATE_LIMIT_GENERAL": "5000", "RATE_LIMIT_AUTH": "7"}) == {
        **SEED_LIMITS,
        "general": 5000,
        "auth": 7,
    }
    for bad in ("0", "-3", "ten", "1.5"):
        with pytest.raises(ValueError, match="RATE_LIMIT_MARKET_DATA"):
            limits_from({"RATE_LIMIT_MARKET_DATA": bad})


def test_the_template_parameters_default_to_the_spec_numbers_and_reach_the_api_function():
    template = Template.load()
    environment = template.function_environment("ApiFunction")
    assert limits_from(environment) == SEED_LIMITS
    raised = Template.load(GeneralRateLimit="100000", BacktestCreationRateLimit="50")
    assert limits_from(raised.function_environment("ApiFunction")) == {
        **SEED_LIMITS,
        "general": 100000,
        "backtest_creation": 50,
    }


def test_the_configured_limits_are_enforced_and_documented(api_aws, clock):
    endpoint, settings = api_aws
    environ = {
        **{f.upper(): str(v) for f, v in vars(settings).items() if f != "rate_limits"},
        "RATE_LIMIT_GENERAL": "3",
    }
    services = build_services(ApiSettings.from_env(environ), endpoint)
    services.rate_limiter.clock = clock
    client = TestClient(create_app(services))
    statuses = [client.get("/api/v1/health").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    document = client.get("/api/openapi.json")
    assert document.status_code == 429  # the document counts as a general request too
    clock.now += 60
    operation = client.get("/api/openapi.json").json()["paths"]["/api/v1/strategies"]["get"]
    assert operation["x-rate-limit"]["limit"] == 3 and "3 requests per minute" in operation["description"]


@pytest.mark.parametrize(
    "method, path, category",
    [
        ("POST", "/api/v1/users", "auth"),
        ("POST", "/api/v1/sessions", "auth"),
        ("DELETE", "/api/v1/sessions", "auth"),
        ("POST", "/api/v1/backtests", "backtest_creation"),
        ("GET", "/api/v1/backtests", "general"),
        ("POST", "/api/v1/backtests/1/cancel", "general"),
        ("GET", "/api/v1/market_data/symbols", "market_data"),
        ("GET", "/api/v1/strategies", "general"),
        ("GET", "/api/docs", "general"),
    ],
)
def test_each_request_counts_in_one_category(method, path, category):
    assert rate_limit_category(method, path) == category


def _counter(api) -> DynamoRateLimitCounter:
    return DynamoRateLimitCounter(bind(RateLimitItem, api.settings.rate_limits_table, api.endpoint_url))


def test_the_counter_admits_exactly_the_limit_under_two_concurrent_clients(api):
    counter, key, limit = _counter(api), f"test#{uuid.uuid4()}#0", 40
    start = threading.Barrier(2)

    def client() -> list[int | None]:
        start.wait()
        return [counter.hit(key, limit, 4_000_000_000) for _ in range(30)]

    with ThreadPoolExecutor(2) as pool:
        results = [r for batch in pool.map(lambda _: client(), range(2)) for r in batch]
    admitted = [r for r in results if r is not None]
    assert sorted(admitted) == list(range(1, limit + 1))  # each count handed out once: no lost update
    assert results.count(None) == 60 - limit


def test_two_concurrent_http_clients_get_exactly_the_general_limit(limited):
    token, _ = limited.sign_up()  # sign-up and sign-in count as auth, per IP
    second_client = TestClient(limited.client.app)
    start = threading.Barrier(2)

    def client(http) -> list[int]:
        start.wait()
        return [http.get("/api/v1/strategies", headers=bearer(token)).status_code for _ in range(25)]

    with ThreadPoolExecutor(2) as pool:
        statuses = [s for batch in pool.map(client, (limited.client, second_client)) for s in batch]
    assert statuses.count(200) == LIMITS["general"] and statuses.count(429) == 50 - LIMITS["general"]


def test_headers_count_down_and_429_comes_with_retry_after(limited, clock):
    token, _ = limited.sign_up()
    clock.now += 60  # a new window: 30 requests left
    remaining = []
    for _ in range(LIMITS["general"]):
        response = limited.client.get("/api/v1/backtests", headers=bearer(token))
        assert response.headers["X-RateLimit-Limit"] == "30"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == list(range(29, -1, -1))
    refused = limited.client.get("/api/v1/backtests", headers=bearer(token))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    window_end = int(clock.now) // 60 * 60 + 60
    assert refused.headers["X-RateLimit-Reset"] == str(window_end)
    assert refused.headers["X-RateLimit-Remaining"] == "0" and int(refused.headers["Retry-After"]) >= 1
    clock.now = window_end
    assert limited.client.get("/api/v1/backtests", headers=bearer(token)).status_code == 200


def test_auth_routes_count_per_ip(limited):
    email = f"limited-{uuid.uuid4().hex}@example.com"
    statuses = [
        limited.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).status_code
        for _ in range(SEED_LIMITS["auth"] + 1)
    ]
    assert statuses == [401] * SEED_LIMITS["auth"] + [429]
    elsewhere = TestClient(limited.client.app, client=("203.0.113.7", 5000))  # another IP, another counter
    assert elsewhere.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).status_code == 401


def test_backtest_creation_has_its_own_tighter_limit(limited, clock):
    token, _ = limited.sign_up()
    strategy = limited.create_strategy(token)
    for _ in range(SEED_LIMITS["backtest_creation"]):
        response = limited.create_backtest(token, strategy["id"])
    refused = limited.client.post(
        "/api/v1/backtests",
        headers=bearer(token),
        json=backtest_body(strategy["id"]),
    )
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "10"
    listing = limited.client.get("/api/v1/backtests", headers=bearer(token))
    assert listing.status_code == 200 and listing.headers["X-RateLimit-Limit"] == "30"
    assert response["status"] == "pending"


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/api/v1/nope"), ("GET", "/api/v1/backtests"), ("GET", "/api/v1/health"), ("GET", "/api/openapi.json")],
)
def test_every_response_carries_the_headers(limited, method, path):
    response = limited.client.request(method, path)
    assert all(name in response.headers for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))


def test_counters_expire_after_their_window(limited, clock):
    limited.client.get("/api/v1/health")
    window = int(clock.now) // 60 * 60
    item = limited.aws("dynamodb").get_item(
        TableName=limited.settings.rate_limits_table, Key={"key": {"S": f"general#ip:testclient#{window}"}}
    )["Item"]
    assert item["hits"]["N"] == "1" and int(item["expires_at"]["N"]) == window + 120
