"""Load on the local stack: many signed-in users at once, each doing what a user of the dashboard does.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60]

Every user signs up and in, creates a strategy, joins its `user:{id}` channel over WebSocket,
then until --seconds are over: creates a backtest (on the sample BTCUSDT candles), joins its
`backtest:{id}` channel, polls it until it completed, pages its trades and lists its backtests.
All users run at once (one thread each). Reported: requests, 5xx count (must be 0), backtests
created and completed (every one must complete), p50/p99 latency per kind of request, and the
same reads' p50 with one user alone beforehand as the reference of this run (a ratio, not a
timed assertion). The stack runs with its rate limits raised (template parameters): 50 users
from one IP would otherwise spend the auth category's 20 sign-ins a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "load bench password"
STRATEGY = {
    "name": "load SMA cross",
    "entry_rules": {"operator": "and", "conditions": [
        {"indicator": "sma", "params": {"period": 10}, "comparator": "crosses_above",
         "value": {"indicator": "sma", "params": {"period": 30}}}]},
    "exit_rules": {"operator": "or", "conditions": [
        {"indicator": "sma", "params": {"period": 10}, "comparator": "crosses_below",
         "value": {"indicator": "sma", "params": {"period": 30}}}]},
}
BACKTEST = {"symbol": "BTCUSDT", "timeframe": "4h", "initial_balance": 10_000}
RAISED_LIMITS = {name: "1000000" for name in
                 ("AuthRateLimit", "GeneralRateLimit", "MarketDataRateLimit", "BacktestCreationRateLimit")}
TERMINAL = {"completed", "failed", "cancelled"}


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.server_errors: list[str] = []
        self.created: set[str] = set()
        self.completed: set[str] = set()
        self.not_completed: dict[str, str] = {}
        self.ws_events = 0
        self._lock = threading.Lock()

    def call(self, client, kind: str, method: str, path: str, **kwargs):
        started = time.perf_counter()
        response = client.request(method, path, **kwargs)
        elapsed = time.perf_counter() - started
        with self._lock:
            self.latencies[kind].append(elapsed)
            if response.status_code >= 500:
                self.server_errors.append(f"{method} {path} -> {response.status_code} {response.text[:200]}")
        return response


def _user(api_url: str, ws_url: str, recorder: Recorder, until: float, start_gate: threading.Barrier) -> None:
    import httpx
    import websockets.sync.client

    with httpx.Client(base_url=f"{api_url}/api/v1", timeout=120) as client:
        email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        start_gate.wait()
        recorder.call(client, "sign_up", "POST", "/users", json={"email": email, "password": PASSWORD, "name": "L"})
        session = recorder.call(client, "sign_in", "POST", "/sessions", json={"email": email, "password": PASSWORD})
        token, user_id = session.json()["token"], session.json()["user"]["id"]
        auth = {"Authorization": f"Bearer {token}"}
        strategy = recorder.call(client, "create_strategy", "POST", "/strategies", json=STRATEGY, headers=auth).json()
        with websockets.sync.client.connect(ws_url, open_timeout=60) as socket:
            socket.send(json.dumps({"action": "join", "channel": f"user:{user_id}", "token": token}))
            while time.monotonic() < until:
                body = {"strategy_id": strategy["id"], **BACKTEST, "start_time": "2024-01-01T00:00:00Z",
                        "end_time": "2024-07-01T00:00:00Z"}
                created = recorder.call(client, "create_backtest", "POST", "/backtests", json=body, headers=auth)
                if created.status_code != 202:
                    continue
                backtest_id = created.json()["id"]
                with recorder._lock:
                    recorder.created.add(backtest_id)
                socket.send(json.dumps({"action": "join", "channel": f"backtest:{backtest_id}", "token": token}))
                status = "pending"
                deadline = time.monotonic() + 300
                while status not in TERMINAL and time.monotonic() < deadline:
                    time.sleep(0.5)
                    status = recorder.call(client, "get_backtest", "GET", f"/backtests/{backtest_id}",
                                           headers=auth).json().get("status", status)
                with recorder._lock:
                    if status == "completed":
                        recorder.completed.add(backtest_id)
                    else:
                        recorder.not_completed[backtest_id] = status
                recorder.call(client, "page_trades", "GET", f"/backtests/{backtest_id}/trades",
                              params={"page": 1, "per_page": 50}, headers=auth)
                recorder.call(client, "list_backtests", "GET", "/backtests", headers=auth)
                socket.send(json.dumps({"action": "leave", "channel": f"backtest:{backtest_id}"}))
            try:
                while True:  # what the channels delivered meanwhile
                    socket.recv(timeout=0.2)
                    with recorder._lock:
                        recorder.ws_events += 1
            except TimeoutError:
                pass


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(users: int, seconds: float) -> dict:
    from local.stack import LocalStack

    with LocalStack(api_port=0, ws_port=0, parameters=RAISED_LIMITS) as stack:
        reference = Recorder()
        _user(stack.api_url, stack.ws_url, reference, time.monotonic() + 1, threading.Barrier(1))
        recorder = Recorder()
        gate = threading.Barrier(users)
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=_user, args=(stack.api_url, stack.ws_url, recorder, until, gate))
                   for _ in range(users)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - began
    by_kind = {kind: {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1),
                      "p99_ms": round(_percentile(values, 0.99) * 1000, 1)}
               for kind, values in sorted(recorder.latencies.items())}
    reference_p50 = {kind: round(statistics.median(values) * 1000, 1)
                     for kind, values in sorted(reference.latencies.items())}
    every = [value for values in recorder.latencies.values() for value in values]
    return {
        "users": users, "seconds": round(wall, 1), "requests": len(every),
        "server_errors": len(recorder.server_errors), "first_server_errors": recorder.server_errors[:5],
        "backtests_created": len(recorder.created), "backtests_completed": len(recorder.completed),
        "backtests_not_completed": recorder.not_completed, "websocket_events": recorder.ws_events,
        "p50_ms": round(statistics.median(every) * 1000, 1), "p99_ms": round(_percentile(every, 0.99) * 1000, 1),
        "by_request": by_kind, "one_user_alone_p50_ms": reference_p50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    result = run(args.users, args.seconds)
    print(json.dumps(result, indent=2))
    ok = result["server_errors"] == 0 and result["backtests_completed"] == result["backtests_created"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    main()
