"""Transaction routes in-process on moto: imports (file, base64, exchange) and their status, the
owner's listing with filters and pages, replays (404 for others' transactions, 422 for what does
not parse), and a replay played through the backtest workflow's steps to the backtest endpoints,
its events and a comparison whose alternative is computed by hand.

The import function's part (the imports bucket's S3 event) is played by its runner, the state
machine's part by the workflow's steps; both run on this test area's moto, in process.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from adapters.binance import BinanceClient
from adapters.binance_account import MY_TRADES_PATH, BinanceAccountClient
from adapters.candle_store import S3CandleStore, S3ImportInbox
from adapters.models.backtests import BacktestItem
from adapters.models.transactions import TransactionItem, TransactionJobItem
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.equity import S3EquityStore
from adapters.repositories.trades import S3TradeStore
from adapters.repositories.transactions import DynamoImportJobRepository, DynamoTransactionRepository, S3ReplayStore
from adapters.run_store import S3RunStore
from adapters.secrets import SecretsManagerVault
from shared.backtests.workflow import BacktestWorkflow
from shared.market_data.store import month_index, month_name
from shared.transactions.imports import ImportRunner
from shared.transactions.jobs import exchange_request_key, file_key
from shared.transactions.workflow import ReplayRun
from tests.api.conftest import bearer
from tests.fakes.market_data import RecordingPublisher
from tests.fanout.replay_candles import replay_candles
from tests.test_transactions_exchange import API_KEY, API_SECRET, MAR_1, FakeAccount

TRANSACTIONS = "/api/v1/transactions"
JAN_1 = 1_704_067_200_000
HOUR = 3_600_000
# A long of 1.0 BTCUSDT: bought 01:30 at 100.5 (fee 0.1005), sold 04:15 at 106.5 (fee 0.1065), and an ETH buy.
TRADES_CSV = (
    "time,symbol,side,price,quantity,fee,fee_asset,id\n"
    "2024-01-01T01:30:00Z,BTCUSDT,buy,100.5,1,0.1005,USDT,b-1\n"
    "2024-01-01T02:00:00Z,ETHUSDT,buy,2000,0.5,1,USDT,e-1\n"
    "2024-01-01T04:15:00Z,BTCUSDT,sell,106.5,1,0.1065,USDT,b-2\n"
)


class Worker:
    """The transaction import function's runner and the backtest state machine's steps, on the API's moto."""

    def __init__(self, api, exchanges: dict | None = None) -> None:
        url, settings = api.endpoint_url, api.settings
        s3 = api.aws("s3")
        self.publisher = RecordingPublisher()
        self.runner = ImportRunner(
            jobs=DynamoImportJobRepository(bind(TransactionJobItem, settings.transaction_jobs_table, url)),
            transactions=DynamoTransactionRepository(bind(TransactionItem, settings.transactions_table, url)),
            inbox=S3ImportInbox(s3, settings.imports_bucket),
            vault=SecretsManagerVault(api.aws("secretsmanager"), settings.exchange_secrets_prefix),
            exchanges=exchanges or {},
            publisher=self.publisher,
        )
        self.candles = S3CandleStore(s3, settings.candles_bucket)
        trades, runs = S3TradeStore(s3, settings.results_bucket), S3RunStore(s3, settings.results_bucket)
        self.replays = ReplayRun(S3ReplayStore(s3, settings.results_bucket), self.candles, runs, trades)
        self.workflow = BacktestWorkflow(
            backtests=DynamoBacktestRepository(bind(BacktestItem, settings.backtests_table, url)),
            trades=trades,
            equity=S3EquityStore(s3, settings.results_bucket),
            runs=runs,
            candles=self.candles,
            publisher=self.publisher,
            bars_per_chunk=500_000,
            kinds=(self.replays,),
        )

    def run_execution(self, backtest_id: str) -> None:
        """What the backtest state machine runs: Prepare -> Map(Compute) -> Stitch -> Persist -> Notify."""
        for chunk in self.workflow.prepare(backtest_id)["chunks"]:
            self.workflow.compute(backtest_id, chunk)
        for step in (self.workflow.stitch, self.workflow.persist, self.workflow.notify):
            step(backtest_id)


@pytest.fixture(scope="module")
def worker(api) -> Worker:
    worker = Worker(api)
    candles = replay_candles(JAN_1)  # bar i of 2024-01-01
    store = worker.candles
    if store.manifest("BTCUSDT", "1h") is None:
        store.commit("BTCUSDT", "1h", None, {month_name(month_index(candles.ts)[0]): candles})
    return worker


@pytest.fixture
def user(api):
    token, user = api.sign_up("Trader")
    return token, user["id"]


def import_file(api, worker, user, content: str, file_format: str = "csv", encode: bool = False) -> dict:
    token, user_id = user
    text = base64.b64encode(content.encode()).decode() if encode else content
    response = api.client.post(
        f"{TRANSACTIONS}/import",
        headers=bearer(token),
        json={"source": "file", "file_format": file_format, "file_content": text},
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert response.headers["Location"] == f"{TRANSACTIONS}/imports/{queued['import_id']}"
    worker.runner.run(file_key(user_id, queued["import_id"], file_format))
    return api.client.get(f"{TRANSACTIONS}/imports/{queued['import_id']}", headers=bearer(token)).json()


def transaction_ids(api, token: str, **params) -> dict[str, str]:
    """transaction_id -> id of the caller's transactions."""
    body = api.client.get(TRANSACTIONS, headers=bearer(token), params={"per_page": 100, **params}).json()
    return {t["transaction_id"]: t["id"] for t in body["data"]}


def error_fields(response, status: int) -> list[str]:
    assert response.status_code == status, response.text
    return [detail["field"] for detail in response.json()["error"]["details"]]


# ---------------------------------------------------------------- imports
def test_a_file_import_answers_202_pending_and_its_record_waits_for_the_import_function(api, user):
    token, _ = user
    response = api.client.post(
        f"{TRANSACTIONS}/import",
        headers=bearer(token),
        json={"source": "file", "file_format": "csv", "file_content": TRADES_CSV},
    )
    assert response.status_code == 202
    import_id = response.json()["import_id"]
    assert response.json() == {"import_id": import_id, "status": "pending", "message": "Import job queued successfully"}
    status = api.client.get(f"{TRANSACTIONS}/imports/{import_id}", headers=bearer(token)).json()
    assert status == {
        "import_id": import_id,
        "status": "pending",
        "source": "file",
        "exchange": "binance",
        "file_format": "csv",
        "symbols": [],
        "format": None,
        "received": 0,
        "imported": 0,
        "duplicates": 0,
        "errors": [],
        "error_count": 0,
        "message": "Import job queued successfully",
        "created_at": status["created_at"],
        "updated_at": status["created_at"],
    }


def test_file_imports_end_to_end_and_again_changes_nothing(api, worker, user):
    token, _ = user
    first = import_file(api, worker, user, TRADES_CSV)
    assert (first["status"], first["format"], first["received"], first["imported"], first["duplicates"]) == (
        "completed",
        "generic_csv",
        3,
        3,
        0,
    )
    again = import_file(api, worker, user, TRADES_CSV, encode=True)
    assert (again["status"], again["imported"], again["duplicates"]) == ("completed", 0, 3)
    listed = api.client.get(TRANSACTIONS, headers=bearer(token)).json()
    assert listed["meta"]["total_count"] == 3
    newest = listed["data"][0]
    assert newest == {
        "id": newest["id"],
        "transaction_time": "2024-01-01T04:15:00.000Z",
        "symbol": "BTCUSDT",
        "price": 106.5,
        "quantity": 1.0,
        "side": "sell",
        "transaction_type": "trade",
        "transaction_id": "b-2",
        "exchange": "binance",
        "fee": 0.1065,
        "fee_asset": "USDT",
        "import_id": first["import_id"],
        "is_replayed": False,
        "created_at": newest["created_at"],
    }
    events = [data for channel, event, data in worker.publisher.events if channel == f"user:{user[1]}"]
    assert [(e["status"], e["count"]) for e in events][-2:] == [("running", 0), ("completed", 0)]


def test_a_bad_file_fails_naming_its_lines(api, worker, user):
    status = import_file(api, worker, user, '[{"time": "2024-01-01T00:00:00Z", "symbol": "BTCUSDT"}]', "json")
    assert (status["status"], status["imported"], status["error_count"]) == ("failed", 0, 3)  # side, price, quantity
    assert status["errors"][0] == {"field": "line 1 (item 1)", "message": "side is missing"}
    assert transaction_ids(api, user[0]) == {}


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"source": "file", "file_format": "csv"}, ["file_content"]),
        ({"source": "file", "file_content": "x"}, ["file_format"]),
        ({"source": "file", "file_format": "xlsx", "file_content": "x"}, ["file_format"]),
        ({"source": "exchange", "symbols": ["BTCUSDT"]}, ["api_credentials"]),
        ({"source": "exchange", "api_credentials": {"api_key": "k", "api_secret": "s"}}, ["symbols"]),
        (
            {
                "source": "exchange",
                "exchange": "kraken",
                "symbols": ["BTCUSDT"],
                "api_credentials": {"api_key": "k", "api_secret": "s"},
            },
            ["exchange"],
        ),
        ({"source": "email"}, ["source"]),
        ({"file_format": "csv", "file_content": "x"}, ["source"]),
        ({"source": "file", "file_format": "csv", "file_content": "x", "symbols": ["BTCUSDT"]}, ["symbols"]),
        (
            {
                "source": "exchange",
                "symbols": ["BTCUSDT"],
                "start_time": "soon",
                "api_credentials": {"api_key": "k", "api_secret": ""},
            },
            ["api_credentials.api_secret", "start_time"],
        ),
    ],
)
def test_imports_that_cannot_be_queued_are_422_naming_the_field(api, user, body, fields):
    response = api.client.post(f"{TRANSACTIONS}/import", headers=bearer(user[0]), json=body)
    assert error_fields(response, 422) == fields


def test_the_import_body_is_one_of_a_file_or_an_exchange_import_by_its_source(api):
    document = api.client.get("/api/openapi.json").json()
    schema = document["paths"][f"{TRANSACTIONS}/import"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    members = {"file": "#/components/schemas/FileImportCreate", "exchange": "#/components/schemas/ExchangeImportCreate"}
    assert schema["oneOf"] == [{"$ref": ref} for ref in members.values()]
    assert schema["discriminator"] == {"propertyName": "source", "mapping": members}
    components = document["components"]["schemas"]
    assert set(components["FileImportCreate"]["required"]) == {"source", "file_content", "file_format"}
    assert set(components["ExchangeImportCreate"]["required"]) == {"source", "api_credentials", "symbols"}


def test_an_import_is_its_owners_only(api, worker, user):
    status = import_file(api, worker, user, TRADES_CSV)
    other, _ = api.sign_up("Other")
    response = api.client.get(f"{TRANSACTIONS}/imports/{status['import_id']}", headers=bearer(other))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert transaction_ids(api, other) == {}


def test_an_exchange_import_never_shows_the_secret_anywhere(api, user, fake_binance, caplog):
    caplog.set_level(logging.DEBUG)
    account = FakeAccount(API_KEY, API_SECRET)
    account.add_trades("BTCUSDT", 4, first_id=1, start_ms=MAR_1, step_ms=HOUR)
    fake_binance.route("GET", MY_TRADES_PATH, account.serve)
    worker = Worker(api, {"binance": BinanceAccountClient(BinanceClient(fake_binance.url, sleep=lambda s: None))})
    token, user_id = user
    responses = [
        api.client.post(
            f"{TRANSACTIONS}/import",
            headers=bearer(token),
            json={
                "source": "exchange",
                "exchange": "binance",
                "symbols": ["BTCUSDT"],
                "api_credentials": {"api_key": API_KEY, "api_secret": API_SECRET},
            },
        )
    ]
    import_id = responses[0].json()["import_id"]
    worker.runner.run(exchange_request_key(user_id, import_id))
    responses += [
        api.client.get(f"{TRANSACTIONS}/imports/{import_id}", headers=bearer(token)),
        api.client.get(TRANSACTIONS, headers=bearer(token)),
        api.client.post(
            f"{TRANSACTIONS}/import",
            headers=bearer(token),
            json={  # a 422 echoes nothing either
                "source": "exchange",
                "symbols": [],
                "api_credentials": {"api_key": API_KEY, "api_secret": API_SECRET},
            },
        ),
    ]
    assert responses[1].json()["imported"] == 4
    dynamodb, s3 = api.aws("dynamodb"), api.aws("s3")
    stored = [json.dumps(dynamodb.scan(TableName=name)["Items"]) for name in dynamodb.list_tables()["TableNames"]]
    objects = [
        s3.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read().decode(errors="replace")
        for b in s3.list_buckets()["Buckets"]
        for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])
    ]
    texts = {
        "responses": [r.text for r in responses],
        "DynamoDB": stored,
        "S3": objects,
        "events": [json.dumps(e) for e in worker.publisher.events],
        "logs": [record.getMessage() for record in caplog.records],
    }
    for place, found in texts.items():
        assert not any(API_SECRET in text for text in found), f"the secret leaked into {place}"
    assert api.aws("secretsmanager").list_secrets(Filters=[{"Key": "name", "Values": [user_id]}])["SecretList"] == []


# ---------------------------------------------------------------- listing
def test_listing_filters_and_pages(api, worker, user):
    token, _ = user
    import_file(api, worker, user, TRADES_CSV)

    def ids(**params) -> list[str]:
        body = api.client.get(TRANSACTIONS, headers=bearer(token), params=params)
        assert body.status_code == 200, body.text
        return [t["transaction_id"] for t in body.json()["data"]]

    assert ids() == ["b-2", "e-1", "b-1"]
    assert ids(symbol="btcusdt") == ["b-2", "b-1"]
    assert ids(side="buy") == ["e-1", "b-1"]
    assert ids(start_time="2024-01-01T02:00:00Z", end_time="2024-01-01T04:15:00Z") == ["b-2", "e-1"]
    assert ids(start_time="2024-01-01T03:00:00+01:00") == ["b-2", "e-1"]
    assert ids(page=2, per_page=2) == ["b-1"]
    page = api.client.get(TRANSACTIONS, headers=bearer(token), params={"page": 2, "per_page": 2}).json()["meta"]
    assert page == {"page": 2, "per_page": 2, "total_pages": 2, "total_count": 3, "offset": 2}
    assert error_fields(api.client.get(TRANSACTIONS, headers=bearer(token), params={"side": "hold"}), 422) == ["side"]
    response = api.client.get(
        TRANSACTIONS,
        headers=bearer(token),
        params={"start_time": "2024-01-02T00:00:00Z", "end_time": "2024-01-01T00:00:00Z"},
    )
    assert error_fields(response, 422) == ["end_time"]
    assert api.client.get(TRANSACTIONS).status_code == 401


# ---------------------------------------------------------------- replays
def test_replaying_someone_elses_transactions_is_404(api, worker, user):
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, user[0])
    other, _ = api.sign_up("Other")
    response = api.client.post(
        f"{TRANSACTIONS}/replay",
        headers=bearer(other),
        json={"transaction_ids": [mine["b-1"], mine["b-2"]], "symbol": "BTCUSDT", "timeframe": "1h"},
    )
    assert error_fields(response, 404) == ["transaction_ids[0]", "transaction_ids[1]"]


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"window_before": "4x", "window_after": "soon"}, ["window_before", "window_after"]),
        ({"metadata": {"alternative_exit": "stop:2"}}, ["metadata.alternative_exit"]),
        ({"metadata": {"alternative_entry": "sma"}}, ["metadata.alternative_entry"]),
        ({"window_before": "1h", "metadata": {"alternative_exit": "stop_loss:200"}}, ["metadata.alternative_exit"]),
        ({"timeframe": "2h"}, ["timeframe"]),
        ({"symbol": "ETHUSDT", "timeframe": "1m"}, ["timeframe"]),
        ({"transaction_ids": []}, ["transaction_ids"]),
        ({"transaction_ids": ["not-a-uuid"]}, ["transaction_ids[0]"]),
    ],
)
def test_replays_that_do_not_parse_are_422_naming_each_field(api, worker, user, change, fields):
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, user[0])
    body = {"transaction_ids": [mine["b-1"], mine["b-2"]], "symbol": "BTCUSDT", "timeframe": "1h", **change}
    assert error_fields(api.client.post(f"{TRANSACTIONS}/replay", headers=bearer(user[0]), json=body), 422) == fields


def test_a_replay_of_another_symbols_transactions_is_422(api, worker, user):
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, user[0])
    response = api.client.post(
        f"{TRANSACTIONS}/replay",
        headers=bearer(user[0]),
        json={"transaction_ids": [mine["b-1"], mine["e-1"]], "symbol": "BTCUSDT", "timeframe": "1h"},
    )
    assert error_fields(response, 422) == ["transaction_ids[1]"]


def test_a_replay_is_a_backtest_with_the_actual_trades_and_a_comparison_computed_by_hand(api, worker, user):
    token, user_id = user
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, token)
    response = api.client.post(
        f"{TRANSACTIONS}/replay",
        headers=bearer(token),
        json={
            "transaction_ids": [mine["b-1"], mine["b-2"]],
            "symbol": "btcusdt",
            "timeframe": "1h",
            "window_before": "0",
            "window_after": "2h",
            "metadata": {"alternative_exit": "stop_loss:3"},
        },
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert set(queued) == {"replay_id", "backtest_id", "status", "message"}
    assert (queued["status"], queued["message"]) == ("pending", "Replay job queued successfully")
    backtest_id = queued["backtest_id"]

    # Queued like any backtest: pending, an execution of the backtest state machine named after it
    pending = api.client.get(f"/api/v1/backtests/{backtest_id}", headers=bearer(token)).json()
    assert (pending["status"], pending["strategy_name"], pending["strategy_id"]) == (
        "pending",
        "Transaction replay",
        queued["replay_id"],
    )
    # 01:30 - 0 floored to 01:00; 04:15 + 2 h = 06:15, its bar ends 07:00; the cash the trade needed
    assert (pending["start_time"], pending["end_time"], pending["initial_balance"]) == (
        "2024-01-01T01:00:00.000Z",
        "2024-01-01T07:00:00.000Z",
        100.6005,
    )
    assert pending["metadata"]["replay"]["alternative_exit"] == "stop_loss:3"
    executions = api.aws("stepfunctions").list_executions(stateMachineArn=api.settings.state_machine_arn)
    assert backtest_id in {e["name"] for e in executions["executions"]}
    replayed = {
        t["transaction_id"]: t["is_replayed"]
        for t in api.client.get(TRANSACTIONS, headers=bearer(token)).json()["data"]
    }
    assert replayed == {"b-1": True, "b-2": True, "e-1": False}

    worker.run_execution(backtest_id)

    done = api.client.get(f"/api/v1/backtests/{backtest_id}", headers=bearer(token)).json()
    actual_pnl = 106.5 - 100.5 - 0.1005 - 0.1065  # 5.793
    assert (done["status"], done["progress"], done["final_balance"]) == ("completed", 100, 106.3935)
    summary = done["performance_summary"]
    assert (summary["total_trades"], summary["winning_trades"]) == (1, 1)
    assert summary["total_pnl"] == pytest.approx(actual_pnl)
    [trade] = api.client.get(f"/api/v1/backtests/{backtest_id}/trades", headers=bearer(token)).json()["data"]
    assert {
        k: trade[k] for k in ("entry_time", "entry_price", "exit_time", "exit_price", "quantity", "side", "pnl", "fees")
    } == {
        "entry_time": "2024-01-01T01:30:00.000Z",
        "entry_price": 100.5,
        "exit_time": "2024-01-01T04:15:00.000Z",
        "exit_price": 106.5,
        "quantity": 1.0,
        "side": "long",
        "pnl": pytest.approx(actual_pnl),
        "fees": 0.207,
    }

    replay = api.client.get(f"{TRANSACTIONS}/replays/{queued['replay_id']}", headers=bearer(token)).json()
    assert (replay["status"], replay["backtest_id"], replay["round_trips"], replay["transaction_count"]) == (
        "completed",
        backtest_id,
        1,
        2,
    )
    comparison = replay["comparison"]
    [row] = comparison["trades"]
    # 3 % under 100.5 = 97.485, reached by bar 5's low (96) at 05:00; exit fee at the actual rate (0.1 %)
    alternative_pnl = 97.485 - 100.5 - 0.1005 - 0.001 * 97.485
    assert (row["alternative"]["exit_reason"], row["alternative"]["exit_price"], row["alternative"]["exit_time"]) == (
        "stop_loss",
        97.485,
        "2024-01-01T05:00:00Z",
    )
    assert row["alternative"]["pnl"] == pytest.approx(alternative_pnl, abs=1e-9)
    assert row["actual"]["pnl"] == pytest.approx(actual_pnl, abs=1e-9)
    assert comparison["totals"] == {
        "trades": 1,
        "actual_pnl": pytest.approx(actual_pnl, abs=1e-9),
        "alternative_pnl": pytest.approx(alternative_pnl, abs=1e-9),
        "pnl_difference": pytest.approx(alternative_pnl - actual_pnl, abs=1e-9),
        "alternative_trades": 1,
    }
    assert comparison["alternative_summary"]["total_pnl"] == pytest.approx(alternative_pnl, abs=1e-9)

    # Its events are a backtest's: status updates to the owner, trades and metrics on its own channel
    statuses = [
        (d["status"], d["progress"])
        for c, e, d in worker.publisher.events
        if c == f"user:{user_id}" and e == "backtest:status_update" and d["backtest_id"] == backtest_id
    ]
    assert statuses == [("running", 5), ("running", 90), ("running", 95), ("completed", 100)]
    on_backtest = [(e, d) for c, e, d in worker.publisher.events if c == f"backtest:{backtest_id}"]
    assert [e for e, _ in on_backtest if e.startswith("trade_")] == ["trade_executed", "trade_closed"]
    closed = next(d for e, d in on_backtest if e == "trade_closed")
    assert (closed["exit_price"], closed["pnl"]) == (106.5, pytest.approx(actual_pnl))


def test_a_replay_is_its_owners_only(api, worker, user):
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, user[0])
    queued = api.client.post(
        f"{TRANSACTIONS}/replay",
        headers=bearer(user[0]),
        json={"transaction_ids": [mine["b-1"]], "symbol": "BTCUSDT", "timeframe": "1h"},
    ).json()
    other, _ = api.sign_up("Other")
    assert api.client.get(f"{TRANSACTIONS}/replays/{queued['replay_id']}", headers=bearer(other)).status_code == 404
    assert api.client.get(f"/api/v1/backtests/{queued['backtest_id']}", headers=bearer(other)).status_code == 404
    pending = api.client.get(f"{TRANSACTIONS}/replays/{queued['replay_id']}", headers=bearer(user[0])).json()
    assert (pending["status"], pending["comparison"]) == ("pending", None)


def test_a_replay_cancelled_while_it_computes_leaves_nothing_behind(api, worker, user, monkeypatch):
    token, _ = user
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, token)
    queued = api.client.post(
        f"{TRANSACTIONS}/replay",
        headers=bearer(token),
        json={"transaction_ids": [mine["b-1"], mine["b-2"]], "symbol": "BTCUSDT", "timeframe": "1h"},
    ).json()
    backtest_id = queued["backtest_id"]
    worker.workflow.prepare(backtest_id)
    runner = worker.replays
    replay = runner.replay

    def cancelled_meanwhile(replayed_id: str):
        """The owner cancels while the compute function works on the replay."""
        result = replay(replayed_id)
        assert api.client.post(f"/api/v1/backtests/{backtest_id}/cancel", headers=bearer(token)).status_code == 200
        return result

    monkeypatch.setattr(runner, "replay", cancelled_meanwhile)
    assert worker.workflow.compute(backtest_id, 0) == {"chunk": 0, "skipped": "the backtest is no longer running"}
    s3, bucket = api.aws("s3"), api.settings.results_bucket
    for prefix in (f"backtests/{backtest_id}/", f"partials/{backtest_id}/"):
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) == 0, prefix


def test_a_strategy_as_the_alternative_exit_runs_with_its_snapshot(api, worker, user):
    token, _ = user
    import_file(api, worker, user, TRADES_CSV)
    mine = transaction_ids(api, token)
    strategy = api.create_strategy(
        token,
        entry_rules={"conditions": [{"indicator": "price", "comparator": ">", "value": 1000}]},
        exit_rules={"conditions": [{"indicator": "price", "comparator": "<", "value": 98}]},
        config={"stop_loss": 10},
    )
    body = {
        "transaction_ids": [mine["b-1"], mine["b-2"]],
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "window_before": "0",
        "window_after": "2h",
        "metadata": {"alternative_exit": strategy["id"]},
    }
    missing = {**body, "metadata": {"alternative_exit": "0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e"}}
    response = api.client.post(f"{TRANSACTIONS}/replay", headers=bearer(token), json=missing)
    assert error_fields(response, 404) == ["metadata.alternative_exit"]
    queued = api.client.post(f"{TRANSACTIONS}/replay", headers=bearer(token), json=body).json()
    # Editing the strategy afterwards changes nothing: the replay keeps the definition it was queued with
    api.client.put(f"/api/v1/strategies/{strategy['id']}", headers=bearer(token), json={"config": {"stop_loss": 1}})
    worker.run_execution(queued["backtest_id"])
    replay = api.client.get(f"{TRANSACTIONS}/replays/{queued['replay_id']}", headers=bearer(token)).json()
    [row] = replay["comparison"]["trades"]
    # bar 5 closes at 97 < 98: out at bar 6's open, 97 (the 10 % stop, 90.45, is never reached)
    assert (row["alternative"]["exit_reason"], row["alternative"]["exit_price"]) == ("signal", 97.0)
    assert row["alternative"]["pnl"] == pytest.approx(97 - 100.5 - 0.1005 - 0.097, abs=1e-9)
