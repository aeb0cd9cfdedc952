"""Transactions on the local stack, end to end as a user drives them: a file imported over REST runs
in TransactionImportFunction from the imports bucket's S3 event; a replay over REST runs through
the backtest state machine from template.yaml (moto's interpreter, the real workflow and compute
handlers), shows in the backtest endpoints, and reaches the owner's WebSocket channel."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.fanout.replay_candles import replay_candles
from tests.fanout.stack import START_MS, Stack, StackUser

pytestmark = pytest.mark.stack

SYMBOL = "REPLAYUSDT"
TRADES_CSV = (
    "time,symbol,side,price,quantity,fee,fee_asset,id\n"
    f"2024-01-01T01:30:00Z,{SYMBOL},buy,100.5,1,0.1005,USDT,b-1\n"
    f"2024-01-01T04:15:00Z,{SYMBOL},sell,106.5,1,0.1065,USDT,b-2\n"
)


@pytest.fixture(scope="module")
def stack_candles() -> dict:
    return {(SYMBOL, "1h"): replay_candles(START_MS)}


def test_import_then_replay_through_the_state_machine_with_events(stack: Stack):
    user: StackUser = stack.sign_up()
    events: list[dict] = []

    async def follow() -> tuple[dict, dict]:
        async with websockets.connect(stack.local.ws_url) as socket:
            await socket.send(json.dumps({"action": "join", "channel": f"user:{user.id}", "token": user.token}))
            assert json.loads(await socket.recv())["event"] == "joined"
            # When the user imports a file: the S3 event runs the import function
            status, queued = await asyncio.to_thread(
                stack.request,
                "POST",
                "/transactions/import",
                user.token,
                {"source": "file", "file_format": "csv", "file_content": TRADES_CSV},
            )
            assert status == 202, queued
            while not events or events[-1]["data"].get("status") != "completed":
                events.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
            _, listed = await asyncio.to_thread(stack.request, "GET", "/transactions", user.token)
            ids = [t["id"] for t in listed["data"]]
            # ...and replays its two transactions with a 3 % stop instead of its own exit
            status, replay = await asyncio.to_thread(
                stack.request,
                "POST",
                "/transactions/replay",
                user.token,
                {
                    "transaction_ids": ids,
                    "symbol": SYMBOL,
                    "timeframe": "1h",
                    "window_before": "0",
                    "window_after": "2h",
                    "metadata": {"alternative_exit": "stop_loss:3"},
                },
            )
            assert status == 202, replay
            while events[-1]["event"] != "backtest:status_update" or events[-1]["data"]["status"] != "completed":
                events.append(json.loads(await asyncio.wait_for(socket.recv(), 60)))
            return queued, replay

    queued, replay = asyncio.run(follow())

    # The import ran in the function and said so on the user's channel
    imports = [e["data"] for e in events if e["event"] == "transaction:import_update"]
    assert [(e["import_id"], e["status"], e["count"]) for e in imports] == [
        (queued["import_id"], "running", 0),
        (queued["import_id"], "completed", 2),
    ]
    # The replay ran through the backtest state machine, which succeeded
    backtest_id = replay["backtest_id"]
    assert stack.wait_for_execution(backtest_id)["status"] == "SUCCEEDED"
    progress = [e["data"]["progress"] for e in events if e["event"] == "backtest:status_update"]
    assert progress == [5, 90, 95, 100]
    # Its backtest and trades are the actual ones
    _status, backtest = stack.request("GET", f"/backtests/{backtest_id}", user.token)
    actual_pnl = 106.5 - 100.5 - 0.1005 - 0.1065
    assert (backtest["status"], backtest["strategy_name"]) == ("completed", "Transaction replay")
    assert backtest["performance_summary"]["total_pnl"] == pytest.approx(actual_pnl)
    _, trades = stack.request("GET", f"/backtests/{backtest_id}/trades", user.token)
    assert [(t["entry_time"], t["exit_time"], t["pnl"]) for t in trades["data"]] == [
        ("2024-01-01T01:30:00.000Z", "2024-01-01T04:15:00.000Z", pytest.approx(actual_pnl))
    ]
    # ...and the comparison has the stop's outcome: 97.485 at 05:00, exit fee at the actual 0.1 %
    _, shown = stack.request("GET", f"/transactions/replays/{replay['replay_id']}", user.token)
    totals = shown["comparison"]["totals"]
    assert totals["alternative_pnl"] == pytest.approx(97.485 - 100.5 - 0.1005 - 0.097485, abs=1e-9)
    _, listed = stack.request("GET", "/transactions", user.token)
    assert all(t["is_replayed"] for t in listed["data"])
