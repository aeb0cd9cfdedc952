"""Backtests: create (queued on the state machine), list, get, cancel, delete; status transitions."""

from __future__ import annotations

import json
import uuid

import pytest

from adapters.contracts import backtest_request
from adapters.repositories.trades import filters_key, trades_key
from shared.backtests.service import record_results
from shared.errors import Conflict, ValidationFailed
from shared.times import utc_now
from tests.api.conftest import backtest_body, bearer, engine_trades

SUMMARY = {
    "total_trades": 2,
    "winning_trades": 1,
    "losing_trades": 1,
    "win_rate": 50.0,
    "profit_factor": 1.5,
    "max_drawdown": 120.25,
    "max_drawdown_percentage": 1.2025,
    "sharpe_ratio": 0.1 + 0.2,
    "sortino_ratio": None,
    "total_pnl": 500.0,
    "total_pnl_percentage": 5.0,
    "cagr": float("inf"),
    "max_consecutive_losses": 1,
}


@pytest.fixture
def owner(api):
    token, user = api.sign_up()
    return token, user, api.create_strategy(token)


def _execution(api, backtest_id):
    sfn = api.aws("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=api.settings.state_machine_arn)["executions"]
    return next((e for e in executions if e["name"] == backtest_id), None)


# ---------------------------------------------------------------- create
def test_create_answers_202_pending_and_starts_an_execution_named_after_it(api, owner):
    token, _, strategy = owner
    response = api.client.post(
        "/api/v1/backtests",
        headers=bearer(token),
        json={
            "strategy_id": strategy["id"],
            "symbol": "btcusdt",
            "timeframe": "4h",
            "start_time": "2024-01-01T02:00:00+02:00",
            "end_time": "2024-03-01T00:00:00Z",
            "initial_balance": 2500,
            "metadata": {"leverage": 3, "commission": 0.04, "chunks": 4},
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["progress"] == 0
    assert (body["symbol"], body["timeframe"], body["strategy_name"]) == ("BTCUSDT", "4h", strategy["name"])
    assert (body["start_time"], body["end_time"]) == ("2024-01-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z")
    assert body["metadata"] == {"leverage": 3, "commission": 0.04, "chunks": 4}
    assert body["final_balance"] is None and body["performance_summary"] is None
    execution = _execution(api, body["id"])
    described = api.aws("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"backtest_id": body["id"]}


def test_the_backtest_keeps_a_snapshot_of_its_strategy(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    api.client.put(f"/api/v1/strategies/{strategy['id']}", json={"config": {"take_profit": 9}}, headers=bearer(token))
    stored = api.services.backtests.repository.get(backtest["id"])
    assert stored.strategy == {k: strategy[k] for k in ("entry_rules", "exit_rules", "config")}


def test_default_metadata(api, owner):
    token, _, strategy = owner
    assert api.create_backtest(token, strategy["id"])["metadata"] == {"leverage": 1.0, "commission": 0.1}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"end_time": "2023-12-31T00:00:00Z"}, "end_time"),
        ({"end_time": "2024-01-01T00:00:00Z"}, "end_time"),
        ({"initial_balance": 0}, "initial_balance"),
        ({"initial_balance": -5}, "initial_balance"),
        ({"symbol": "DOGEUSDT"}, "symbol"),
        ({"symbol": "ETHUSDT", "timeframe": "1m"}, "timeframe"),
        ({"timeframe": "2h"}, "timeframe"),
        ({"metadata": {"leverage": 0.5}}, "metadata.leverage"),
        ({"metadata": {"leverage": 200}}, "metadata.leverage"),
        ({"metadata": {"commission": -0.1}}, "metadata.commission"),
        ({"metadata": {"commission": 11}}, "metadata.commission"),
        ({"metadata": {"chunks": 0}}, "metadata.chunks"),
        ({"metadata": {"slippage": 1}}, "metadata.slippage"),
        ({"metadata": {"maker_fee": 11}}, "metadata.maker_fee"),
        ({"metadata": {"taker_fee": "high"}}, "metadata.taker_fee"),
        ({"metadata": {"slippage_ticks": -1}}, "metadata.slippage_ticks"),
        ({"metadata": {"same_bar_priority": "signal"}}, "metadata.same_bar_priority"),
        ({"metadata": {"intrabar_timeframe": "2h"}}, "metadata.intrabar_timeframe"),
        ({"metadata": {"intrabar_timeframe": "4h"}}, "metadata.intrabar_timeframe"),  # not finer than 1h
        (
            {"symbol": "ETHUSDT", "timeframe": "1h", "metadata": {"intrabar_timeframe": "1m"}},
            "metadata.intrabar_timeframe",
        ),  # not stored
        ({"metadata": {"funding": "yes"}}, "metadata.funding"),
        ({"metadata": {"funding": True}}, "metadata.funding"),  # no funding rates stored for the range
        ({"metadata": {"exchange": "kraken"}}, "metadata.exchange"),
        ({"metadata": {"exchange": "binance"}}, "metadata.exchange"),  # no rules stored
        ({"metadata": {"market": "margin"}}, "metadata.market"),
        ({"metadata": {"slippage_ticks": 2}}, "metadata.slippage_ticks"),  # no tick size known
        ({"start_time": "2024-01-01T00:00:00"}, "start_time"),
        ({"strategy_id": "nope"}, "strategy_id"),
    ],
)
def test_invalid_requests_are_422_naming_the_field(api, owner, change, field):
    token, _, strategy = owner
    body = backtest_body(strategy["id"]) | change
    response = api.client.post("/api/v1/backtests", json=body, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]


@pytest.mark.parametrize(
    "change",
    [
        {"initial_balance": -5},
        {"timeframe": "2h"},
        {"metadata": {"slippage": 1}, "owner": "x"},
        {"start_time": "2024-01-01T00:00:00"},
        {"strategy_id": "nope"},
        {"metadata": {"taker_fee": "high", "chunks": 0}},
    ],
)
def test_a_batch_entry_is_refused_exactly_as_the_same_body_is(api, owner, change):
    # One contract (adapters.contracts): a batch file's entry gets the API's 422 details, under its position
    token, _, strategy = owner
    body = backtest_body(strategy["id"]) | change
    details = api.client.post("/api/v1/backtests", json=body, headers=bearer(token)).json()["error"]["details"]
    with pytest.raises(ValidationFailed) as refused:
        backtest_request(json.loads(json.dumps(body)), "backtests[7]")
    assert details and [d.to_dict() for d in refused.value.errors] == [
        {"field": f"backtests[7].{d['field']}", "message": d["message"]} for d in details
    ]


def test_stored_funding_rates_and_symbol_rules_let_the_costs_through(api, owner):
    import numpy as np

    from adapters.funding_store import S3FundingStore
    from adapters.symbol_rules_store import S3SymbolRulesStore
    from shared.market_data.funding import FundingRates
    from shared.market_data.symbol_rules import SymbolRules

    token, _, strategy = owner
    start = 1_704_067_200_000  # 2024-01-01, every 8 hours to 2024-02-01
    times = start + 8 * 3_600_000 * np.arange(94)
    S3FundingStore(api.aws("s3"), api.settings.candles_bucket).put_funding(
        "BTCUSDT", FundingRates(times, np.full(94, 1e-4))
    )
    S3SymbolRulesStore(api.aws("s3"), api.settings.candles_bucket).put_rules(
        "BTCUSDT", "binance", SymbolRules(0.01, 0.001, 5.0), market="linear"
    )
    metadata = {
        "funding": True,
        "exchange": "binance",
        "market": "linear",
        "slippage_ticks": 2,
        "maker_fee": 0.02,
        "taker_fee": 0.05,
        "same_bar_priority": "take_profit",
    }
    body = backtest_body(strategy["id"], metadata=metadata)
    response = api.client.post("/api/v1/backtests", json=body, headers=bearer(token))
    assert response.status_code == 202, response.text
    assert response.json()["metadata"] == {"leverage": 1.0, "commission": 0.1, **metadata}
    # a range the stored rates do not cover names the field and the gap
    late = api.client.post(
        "/api/v1/backtests", headers=bearer(token), json={**body, "end_time": "2024-02-03T00:00:00Z"}
    )
    assert late.status_code == 422
    detail = late.json()["error"]["details"][0]
    assert detail["field"] == "metadata.funding" and "2024-02-03T00:00:00Z" in detail["message"]


def test_an_unknown_strategy_is_404(api, owner):
    token, _, _ = owner
    body = backtest_body(str(uuid.uuid4()))
    assert api.client.post("/api/v1/backtests", json=body, headers=bearer(token)).status_code == 404


def test_another_users_public_strategy_can_be_backtested(api):
    author, _ = api.sign_up("Author")
    runner, _ = api.sign_up("Runner")
    public = api.create_strategy(author, is_public=True)
    assert api.create_backtest(runner, public["id"])["strategy_id"] == public["id"]


class FailingLauncher:
    def start(self, backtest_id):
        raise RuntimeError("Step Functions is down")

    def stop(self, execution_arn, cause):
        raise AssertionError("nothing to stop")


def test_a_backtest_that_cannot_be_started_is_failed_not_left_pending(api, owner, monkeypatch):
    token, _user, strategy = owner
    monkeypatch.setattr(api.services.backtests, "launcher", FailingLauncher())
    response = api.client.post(
        "/api/v1/backtests",
        headers=bearer(token),
        json=backtest_body(strategy["id"]),
    )
    assert response.status_code == 500
    assert "Step Functions" not in response.text and "Traceback" not in response.text
    listed = api.client.get("/api/v1/backtests", headers=bearer(token)).json()["data"]
    assert [b["status"] for b in listed] == ["failed"]


# ---------------------------------------------------------------- get, list
def test_get_shows_the_performance_summary_once_completed(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    api.complete(backtest["id"], engine_trades([1, -1], [600.0, -100.0]), final_balance=10500.0, summary=SUMMARY)
    body = api.client.get(f"/api/v1/backtests/{backtest['id']}", headers=bearer(token)).json()
    assert (body["status"], body["progress"], body["final_balance"]) == ("completed", 100, 10500.0)
    summary = body["performance_summary"]
    assert summary["sharpe_ratio"] == 0.3  # 0.30000000000000004 rounded to 12 significant digits
    assert summary["sortino_ratio"] is None and summary["cagr"] is None  # not a finite number: null
    assert summary["total_trades"] == 2 and summary["max_consecutive_losses"] == 1
    assert body["started_at"] <= body["completed_at"]


def test_list_filters_by_strategy_status_and_symbol(api, owner):
    token, _, strategy = owner
    other_strategy = api.create_strategy(token, name="other")
    first = api.create_backtest(token, strategy["id"])
    second = api.create_backtest(token, other_strategy["id"], symbol="ETHUSDT")
    third = api.create_backtest(token, strategy["id"])
    api.client.post(f"/api/v1/backtests/{third['id']}/cancel", headers=bearer(token))

    def ids(query: str) -> list[str]:
        return [b["id"] for b in api.client.get(f"/api/v1/backtests?{query}", headers=bearer(token)).json()["data"]]

    assert ids("") == [third["id"], second["id"], first["id"]]
    assert ids(f"strategy_id={strategy['id']}") == [third["id"], first["id"]]
    assert ids("status=cancelled") == [third["id"]]
    assert ids("symbol=ethusdt") == [second["id"]]
    assert ids("order_dir=asc&limit=2") == [first["id"], second["id"]]
    assert ids("order_by=symbol&order_dir=desc&per_page=1&page=1") == [second["id"]]


def test_list_items_carry_the_listing_fields(api, owner):
    token, _, strategy = owner
    created = api.create_backtest(token, strategy["id"])
    listed = api.client.get("/api/v1/backtests", headers=bearer(token)).json()
    assert listed["meta"]["total_count"] == 1
    item = listed["data"][0]
    assert item == {k: created[k] for k in item}
    assert "metadata" not in item and "performance_summary" not in item


def test_listing_rejects_unknown_filters(api, owner):
    token, _, _ = owner
    assert api.client.get("/api/v1/backtests?status=done", headers=bearer(token)).status_code == 422
    assert api.client.get("/api/v1/backtests?order_by=owner_id", headers=bearer(token)).status_code == 422


# ---------------------------------------------------------------- cancel, delete
def test_cancel_a_pending_backtest_stops_its_execution(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    response = api.client.post(f"/api/v1/backtests/{backtest['id']}/cancel", headers=bearer(token))
    assert response.status_code == 200
    assert set(response.json()) == {"id", "status", "updated_at"} and response.json()["status"] == "cancelled"
    assert _execution(api, backtest["id"])["status"] == "ABORTED"


def test_a_finished_backtest_cannot_be_cancelled(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    api.complete(backtest["id"], engine_trades([1], [5.0]))
    response = api.client.post(f"/api/v1/backtests/{backtest['id']}/cancel", headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "a completed backtest cannot be cancelled"
    again = api.client.post(f"/api/v1/backtests/{backtest['id']}/cancel", headers=bearer(token))
    assert again.status_code == 422


def test_delete_removes_the_backtest_and_its_results(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    api.complete(backtest["id"], engine_trades([1, 1], [1.0, 2.0]))
    s3 = api.aws("s3")
    s3.put_object(Bucket=api.settings.results_bucket, Key=f"partials/{backtest['id']}/chunk-0.parquet", Body=b"x")
    assert api.client.delete(f"/api/v1/backtests/{backtest['id']}", headers=bearer(token)).status_code == 204
    assert api.client.get(f"/api/v1/backtests/{backtest['id']}", headers=bearer(token)).status_code == 404
    for prefix in (f"backtests/{backtest['id']}/", f"partials/{backtest['id']}/"):
        assert s3.list_objects_v2(Bucket=api.settings.results_bucket, Prefix=prefix)["KeyCount"] == 0
    assert api.client.delete(f"/api/v1/backtests/{backtest['id']}", headers=bearer(token)).status_code == 404


def test_deleting_a_running_backtest_stops_its_execution(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    api.services.backtests.repository.mark_running(backtest["id"], utc_now())
    assert api.client.delete(f"/api/v1/backtests/{backtest['id']}", headers=bearer(token)).status_code == 204
    assert _execution(api, backtest["id"])["status"] == "ABORTED"


# ---------------------------------------------------------------- the state machine's side
def test_a_cancelled_backtest_never_becomes_completed_and_its_late_trades_are_discarded(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    repository, store = api.services.backtests.repository, api.services.backtests.trades
    repository.mark_running(backtest["id"], utc_now())
    api.client.post(f"/api/v1/backtests/{backtest['id']}/cancel", headers=bearer(token))
    with pytest.raises(Conflict):
        record_results(
            repository,
            store,
            backtest["id"],
            final_balance=1.0,
            performance_summary=SUMMARY,
            trade_columns=engine_trades([1], [1.0]),
            now=utc_now(),
        )
    assert repository.get(backtest["id"]).status == "cancelled"
    s3 = api.aws("s3")
    assert (
        s3.list_objects_v2(Bucket=api.settings.results_bucket, Prefix=f"backtests/{backtest['id']}/")["KeyCount"] == 0
    )


@pytest.mark.parametrize("transition", ["set_progress", "complete"])
def test_only_a_running_backtest_reports_progress_or_completes(api, owner, transition):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    repository = api.services.backtests.repository
    arguments = {"set_progress": (50,), "complete": (1.0, SUMMARY)}[transition]
    with pytest.raises(Conflict):
        getattr(repository, transition)(backtest["id"], *arguments, utc_now())
    repository.mark_running(backtest["id"], utc_now())
    assert getattr(repository, transition)(backtest["id"], *arguments, utc_now()).status in ("running", "completed")


def test_persisting_the_same_results_twice_stores_them_once(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    trades = engine_trades([1, -1, 1], [1.0, -1.0, 2.0])
    api.complete(backtest["id"], trades, summary=SUMMARY)
    repository, store = api.services.backtests.repository, api.services.backtests.trades
    again = record_results(
        repository,
        store,
        backtest["id"],
        final_balance=10500.0,
        performance_summary=SUMMARY,
        trade_columns=trades,
        now=utc_now(),
    )
    assert again.status == "completed"
    listed = api.client.get(f"/api/v1/backtests/{backtest['id']}/trades", headers=bearer(token)).json()
    assert listed["meta"]["total_count"] == 3
    keys = [
        o["Key"]
        for o in api.aws("s3").list_objects_v2(
            Bucket=api.settings.results_bucket, Prefix=f"backtests/{backtest['id']}/"
        )["Contents"]
    ]
    assert sorted(keys) == sorted([trades_key(backtest["id"]), filters_key(backtest["id"])])


def test_a_failed_backtest_keeps_its_reason(api, owner):
    token, _, strategy = owner
    backtest = api.create_backtest(token, strategy["id"])
    api.services.backtests.repository.fail(backtest["id"], "no candles in range", utc_now())
    body = api.client.get(f"/api/v1/backtests/{backtest['id']}", headers=bearer(token)).json()
    assert (body["status"], body["error"]) == ("failed", "no candles in range")
    with pytest.raises(Conflict):
        api.services.backtests.repository.mark_running(backtest["id"], utc_now())


def test_a_condition_on_a_finer_timeframe_than_the_backtests_is_422(api, owner):
    token, _, _ = owner
    rsi_4h = {"indicator": "rsi", "params": {"timeframe": "4h"}, "comparator": "<", "value": 30}
    strategy = api.create_strategy(token, entry_rules={"conditions": [rsi_4h]}, exit_rules={})
    # A 4h condition runs on a 1h backtest...
    assert api.create_backtest(token, strategy["id"], timeframe="1h")["status"] == "pending"
    # ...not on a 1d one
    body = {
        "strategy_id": strategy["id"],
        "symbol": "BTCUSDT",
        "timeframe": "1d",
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2024-02-01T00:00:00Z",
        "initial_balance": 10000,
    }
    response = api.client.post("/api/v1/backtests", json=body, headers=bearer(token))
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert (
        detail["field"] == "timeframe"
        and "condition timeframe 4h must be coarser than the backtest's 1d" in detail["message"]
    )
