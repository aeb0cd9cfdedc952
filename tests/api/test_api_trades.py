"""A backtest's trades: pages, filters, one by id; the Parquet store and the trade-id scheme."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from adapters.repositories.trades import ROW_GROUP_ROWS, S3TradeStore
from shared.backtests.trade_ids import parse_trade_id, trade_id, trade_key
from tests.api.conftest import bearer, engine_trades
from tests.fakes.counting_s3 import CountingS3

# Six trades: sides and pnls chosen so every filter combination is distinct; the last one is open.
SIDES = [1, -1, 1, -1, 1, 1]
PNLS = [10.0, -5.0, -2.0, 7.5, 0.0, 3.0]


@pytest.fixture
def completed(api):
    token, _ = api.sign_up()
    strategy = api.create_strategy(token)
    backtest = api.create_backtest(token, strategy["id"])
    api.complete(backtest["id"], engine_trades(SIDES, PNLS, open_last=True))
    return token, backtest


def _seqs(response) -> list[int]:
    return [int(uuid.UUID(t["id"]).int & (2**62 - 1)) for t in response.json()["data"]]


def test_trades_come_in_entry_order_with_the_seed_fields(api, completed):
    token, backtest = completed
    response = api.client.get(f"/api/v1/backtests/{backtest['id']}/trades", headers=bearer(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert [t["pnl"] for t in data] == PNLS
    first = data[0]
    assert first == {
        "id": trade_id(backtest["id"], 0),
        "backtest_id": backtest["id"],
        "entry_time": "2024-01-01T00:00:00.000Z",
        "entry_price": 100.0,
        "exit_time": "2024-01-01T01:00:00.000Z",
        "exit_price": 110.0,
        "quantity": 1.0,
        "side": "long",
        "pnl": 10.0,
        "pnl_percentage": 10.0,
        "fees": 0.2,
        "entry_reason": "signal",
        "exit_reason": "signal",
        "funding": 0.0,
        "leg": 1,
        "created_at": first["created_at"],
        # held bar 0 (high 104, low 97) from 100 to the exit at 110
        "mae": 3.0,
        "mfe": 10.0,
        "mae_percentage": 3.0,
        "mfe_percentage": 10.0,
        "bars": 1,
    }
    last = data[-1]
    assert (last["exit_time"], last["exit_reason"]) == (None, "open")


@pytest.mark.parametrize(
    "query, expected",
    [
        ("side=long", [0, 2, 4, 5]),
        ("side=short", [1, 3]),
        ("result=win", [0, 3]),  # the open trade (5) and the break-even one (4) are neither win nor loss
        ("result=loss", [1, 2]),
        ("side=long&result=loss", [2]),
        ("side=short&result=win", [3]),
    ],
)
def test_side_and_result_filters(api, completed, query, expected):
    token, backtest = completed
    response = api.client.get(f"/api/v1/backtests/{backtest['id']}/trades?{query}", headers=bearer(token))
    assert _seqs(response) == expected
    assert response.json()["meta"]["total_count"] == len(expected)


def test_pages_of_trades(api, completed):
    token, backtest = completed
    page = api.client.get(
        f"/api/v1/backtests/{backtest['id']}/trades?side=long&page=2&per_page=3", headers=bearer(token)
    )
    assert _seqs(page) == [5]
    assert page.json()["meta"] == {"page": 2, "per_page": 3, "total_pages": 2, "total_count": 4, "offset": 3}


def test_the_level2_listing_is_the_same(api, completed):
    token, backtest = completed
    level2 = api.client.get(f"/api/v1/trades?backtest_id={backtest['id']}&result=loss", headers=bearer(token))
    seed = api.client.get(f"/api/v1/backtests/{backtest['id']}/trades?result=loss", headers=bearer(token))
    assert level2.json() == seed.json()
    assert api.client.get("/api/v1/trades", headers=bearer(token)).status_code == 422


def test_one_trade_by_id(api, completed):
    token, backtest = completed
    listed = api.client.get(f"/api/v1/backtests/{backtest['id']}/trades", headers=bearer(token)).json()["data"]
    for trade in (listed[0], listed[-1]):
        response = api.client.get(f"/api/v1/trades/{trade['id']}", headers=bearer(token))
        assert response.status_code == 200 and response.json() == trade


@pytest.mark.parametrize(
    "make_id",
    [
        lambda backtest_id: trade_id(backtest_id, 6),  # past the last trade
        lambda backtest_id: trade_id(str(uuid.uuid4()), 0),  # a backtest that does not exist
        lambda backtest_id: str(uuid.uuid4()),  # not a trade id at all
    ],
)
def test_unknown_trades_are_404(api, completed, make_id):
    token, backtest = completed
    assert api.client.get(f"/api/v1/trades/{make_id(backtest['id'])}", headers=bearer(token)).status_code == 404


def test_a_backtest_that_has_not_completed_has_no_trades(api):
    token, _ = api.sign_up()
    backtest = api.create_backtest(token, api.create_strategy(token)["id"])
    response = api.client.get(f"/api/v1/backtests/{backtest['id']}/trades", headers=bearer(token))
    assert response.json() == {
        "data": [],
        "meta": {"page": 1, "per_page": 20, "total_pages": 0, "total_count": 0, "offset": 0},
    }
    assert api.client.get(f"/api/v1/trades/{trade_id(backtest['id'], 0)}", headers=bearer(token)).status_code == 404


def test_trades_of_an_unknown_backtest_are_404(api):
    token, _ = api.sign_up()
    assert api.client.get(f"/api/v1/backtests/{uuid.uuid4()}/trades", headers=bearer(token)).status_code == 404


# ---------------------------------------------------------------- the store, across row groups
def test_pages_deep_in_a_large_backtest_read_only_what_they_need(api):
    n = 3 * ROW_GROUP_ROWS + 17
    rng = np.random.default_rng(7)
    sides = rng.choice([1, -1], n).tolist()
    pnls = rng.normal(0.0, 50.0, n).round(2).tolist()  # random: the object is far larger than its footer read
    s3 = CountingS3(api.aws("s3"))
    store = S3TradeStore(s3, api.settings.results_bucket)
    backtest_id = str(uuid.uuid4())
    assert store.save(backtest_id, engine_trades(sides, pnls), datetime.now(UTC)) == n

    s3.gets = 0
    rows, total = store.page(backtest_id, None, None, offset=2 * ROW_GROUP_ROWS + 5, limit=10)
    assert total == n and [t.seq for t in rows] == list(range(2 * ROW_GROUP_ROWS + 5, 2 * ROW_GROUP_ROWS + 15))
    assert s3.gets == 2  # the footer, then the one row group holding the page

    s3.gets = 0
    expected = [i for i in range(n) if sides[i] < 0 and pnls[i] > 0]
    rows, total = store.page(backtest_id, "short", "win", offset=1000, limit=100)
    assert total == len(expected) and [t.seq for t in rows] == expected[1000:1100]
    assert all(t.side == "short" and t.pnl > 0 for t in rows)
    assert s3.gets <= 4  # the filters object, the trades footer, the row group(s) of the page

    assert store.get(backtest_id, n - 1).seq == n - 1 and store.get(backtest_id, n) is None


# ---------------------------------------------------------------- trade ids
def test_trade_ids_are_version_8_uuids_that_name_backtest_and_sequence():
    backtest_id = str(uuid.uuid4())
    for seq in (0, 1, 123_456, 2**62 - 1):
        made = trade_id(backtest_id, seq)
        assert uuid.UUID(made).version == 8 and uuid.UUID(made).variant == uuid.RFC_4122
        assert parse_trade_id(made) == (trade_key(backtest_id), seq)
    assert trade_id(backtest_id, 7) == trade_id(backtest_id, 7)
    assert trade_key(backtest_id) == backtest_id.replace("-", "")[:16][:12] + "0" + backtest_id.replace("-", "")[13:16]
    assert parse_trade_id(backtest_id) is None and parse_trade_id("nope") is None
    with pytest.raises(ValueError, match="out of range"):
        trade_id(backtest_id, -1)
