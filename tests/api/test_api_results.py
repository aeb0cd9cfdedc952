"""A completed backtest's result series over REST: the equity curve, drawdown periods, the CSV of trades."""

from __future__ import annotations

import csv
import io

import httpx
import numpy as np
import pytest

from shared.backtests.equity import EquitySeries
from tests.api.conftest import bearer, engine_trades

HOUR, JAN_1 = 3_600_000, 1_704_067_200_000
# 12 hourly closes; maximum drawdown 50 % (120 at 01:00 -> 60 at 04:00), a second period 130 -> 70.
EQUITY = [100.0, 120, 110, 90, 60, 80, 100, 95, 130, 125, 70, 105]
SIDES, PNLS = [1, -1, 1, -1, 1, 1], [10.0, -5.0, -2.0, 7.5, 0.0, 3.0]


@pytest.fixture
def completed(api):
    token, _ = api.sign_up()
    backtest = api.create_backtest(token, api.create_strategy(token)["id"])
    ts = JAN_1 + np.arange(12, dtype=np.int64) * HOUR
    benchmark = 100.0 * np.linspace(1.0, 1.11, 12)
    api.complete(
        backtest["id"],
        engine_trades(SIDES, PNLS, open_last=True),
        final_balance=105.0,
        summary={"max_drawdown_percentage": 50.0},
        equity=EquitySeries(ts, np.asarray(EQUITY), benchmark),
    )
    return token, backtest


def test_the_equity_curve_is_downsampled_to_the_points_asked(api, completed):
    token, backtest = completed
    response = api.client.get(f"/api/v1/backtests/{backtest['id']}/equity?points=8", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == {"points": 6, "total_points": 12}
    assert [p["equity"] for p in body["data"]] == [100, 120, 60, 130, 70, 105]
    assert body["data"][2] == {
        "timestamp": "2024-01-01T04:00:00.000Z",
        "equity": 60.0,
        "drawdown": 60.0,
        "drawdown_percentage": 50.0,
        "benchmark": 104.0,
    }
    assert body["data"][-1]["equity"] == 105.0  # final_balance
    assert max(p["drawdown_percentage"] for p in body["data"]) == 50.0  # max_drawdown_percentage
    whole = api.client.get(f"/api/v1/backtests/{backtest['id']}/equity", headers=bearer(token)).json()
    assert whole["meta"] == {"points": 12, "total_points": 12}  # default 1000 points: every bar


@pytest.mark.parametrize("points", ["1", "10001", "x"])
def test_points_out_of_range_is_a_422_naming_it(api, completed, points):
    token, backtest = completed
    response = api.client.get(f"/api/v1/backtests/{backtest['id']}/equity?points={points}", headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "points"


def test_before_completion_the_series_are_a_409(api):
    token, _ = api.sign_up()
    backtest = api.create_backtest(token, api.create_strategy(token)["id"])
    for route in ("equity", "drawdowns"):
        response = api.client.get(f"/api/v1/backtests/{backtest['id']}/{route}", headers=bearer(token))
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "conflict"


def test_someone_elses_series_are_a_404(api, completed):
    _, backtest = completed
    other, _ = api.sign_up()
    for route in ("equity", "drawdowns", "trades?format=csv"):
        response = api.client.get(f"/api/v1/backtests/{backtest['id']}/{route}", headers=bearer(other))
        assert response.status_code == 404, route


def test_drawdown_periods_deepest_first_and_paginated(api, completed):
    token, backtest = completed
    response = api.client.get(f"/api/v1/backtests/{backtest['id']}/drawdowns?per_page=1", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == [
        {
            "start": "2024-01-01T01:00:00.000Z",
            "trough": "2024-01-01T04:00:00.000Z",
            "recovery": "2024-01-01T08:00:00.000Z",
            "depth": 60.0,
            "depth_percentage": 50.0,
        }
    ]
    assert (body["meta"]["total_count"], body["meta"]["total_pages"]) == (2, 2)
    second = api.client.get(
        f"/api/v1/backtests/{backtest['id']}/drawdowns?page=2&per_page=1", headers=bearer(token)
    ).json()["data"]
    # 130 at 08:00 -> 70 at 10:00 (60 below, 46.15 %), not recovered by the end
    assert second == [
        {
            "start": "2024-01-01T08:00:00.000Z",
            "trough": "2024-01-01T10:00:00.000Z",
            "recovery": None,
            "depth": 60.0,
            "depth_percentage": round(100 * 60 / 130, 10),
        }
    ]


def _csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.mark.parametrize("how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
def test_every_trade_downloads_as_csv_with_the_json_fields(api, completed, how):
    token, backtest = completed
    url = f"/api/v1/backtests/{backtest['id']}/trades"
    response = api.client.get(url, params=how.get("params"), headers=bearer(token) | how.get("headers", {}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = _csv_rows(response)
    listed = api.client.get(url, params={"per_page": 100}, headers=bearer(token)).json()["data"]
    assert list(rows[0]) == list(listed[0])
    assert [r["id"] for r in rows] == [t["id"] for t in listed]
    assert [float(r["pnl"]) for r in rows] == PNLS
    assert rows[-1]["exit_time"] == "" and rows[0]["exit_time"] == "2024-01-01T01:00:00.000Z"


def test_the_csv_takes_the_filters_but_not_the_pagination(api, completed):
    token, backtest = completed
    response = api.client.get(
        f"/api/v1/backtests/{backtest['id']}/trades?format=csv&side=short&per_page=1", headers=bearer(token)
    )
    assert [float(r["pnl"]) for r in _csv_rows(response)] == [-5.0, 7.5]


def test_a_csv_over_the_inline_limit_is_a_redirect_to_a_presigned_download(api, completed, monkeypatch):
    token, backtest = completed
    monkeypatch.setattr(api.services, "trades_csv_inline_max_bytes", 200)  # the header row alone is ~200 bytes
    url = f"/api/v1/backtests/{backtest['id']}/trades"
    response = api.client.get(
        url, params={"format": "csv", "side": "short"}, headers=bearer(token), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    location = response.headers["location"]
    assert location.startswith(f"{api.endpoint_url}/{api.settings.results_bucket}/exports/{backtest['id']}/")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in location and "X-Amz-Expires=300" in location
    # The presigned GET carries no Authorization header (a browser drops it on a cross-origin redirect).
    download = httpx.get(location)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        download.headers["content-disposition"] == f'attachment; filename="backtest-{backtest["id"]}-trades-short.csv"'
    )
    rows = _csv_rows(download)
    listed = api.client.get(url, params={"side": "short"}, headers=bearer(token)).json()["data"]
    assert [r["id"] for r in rows] == [t["id"] for t in listed] and list(rows[0]) == list(listed[0])
    assert [float(r["pnl"]) for r in rows] == [-5.0, 7.5]
    # Still the owner's only: another user's request is a 404 before anything is written.
    other, _ = api.sign_up()
    assert (
        api.client.get(url, params={"format": "csv"}, headers=bearer(other), follow_redirects=False).status_code == 404
    )


def test_deleting_a_backtest_removes_its_csv_exports(api, completed, monkeypatch):
    token, backtest = completed
    monkeypatch.setattr(api.services, "trades_csv_inline_max_bytes", 0)
    url = f"/api/v1/backtests/{backtest['id']}"
    assert api.client.get(f"{url}/trades?format=csv", headers=bearer(token), follow_redirects=False).status_code == 303
    s3 = api.aws("s3")
    exports = {"Bucket": api.settings.results_bucket, "Prefix": f"exports/{backtest['id']}/"}
    assert s3.list_objects_v2(**exports)["KeyCount"] == 1
    assert api.client.delete(url, headers=bearer(token)).status_code == 204
    assert s3.list_objects_v2(**exports)["KeyCount"] == 0


def test_every_answer_names_the_configured_origin_and_exposes_the_rate_limit_headers(api_aws):
    from fastapi.testclient import TestClient

    from api.application import create_app
    from api.wiring import build_services

    url, settings = api_aws
    client = TestClient(
        create_app(build_services(settings, endpoint_url=url), "https://dash.example.com"),
        raise_server_exceptions=False,
    )
    for response in (client.get("/api/v1/health"), client.get("/api/v1/backtests")):  # a 200 and a 401
        assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert response.headers["vary"] == "Origin"  # caches keep answers per origin
        exposed = {name.strip() for name in response.headers["access-control-expose-headers"].split(",")}
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Content-Disposition"} <= exposed
