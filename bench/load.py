"""Load on the local stack: many signed-in users at once, each doing what a user of the dashboard does.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60]

Every user signs up and in, creates a strategy and joins its `user:{id}` channel over WebSocket
(set-up, before the window: sign-ups hash passwords with scrypt on purpose); then, all at once,
until --seconds are over: creates a backtest (on the sample BTCUSDT candles), joins its
`backtest:{id}` channel, polls it until it completed, pages its trades and lists its backtests.
All users run at once (one thread each). Reported: requests, 5xx count (must be 0), backtests
created and completed (every one must complete), p50/p99 latency per kind of request, and the
same reads' p50 with one user alone beforehand as the reference of this run (a ratio, not a
timed assertion). The stack runs with its rate limits raised (template parameters): 50 users
from one IP would otherwise spend the auth category's 20 sign-ins a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fanout.strategies import sma_cross  # noqa: E402

PASSWORD = "load bench password"
STRATEGY = {"name": "load SMA cross", **sma_cross(10, 30)}
BACKTEST = {"symbol": "BTCUSDT", "timeframe": "4h", "initial_balance": 10_000}
# 180 days of the sample candles the local stack seeds (hourly for the 730 days before its start).
_END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=40)
RANGE = {"start_time": (_END - timedelta(days=180)).isoformat(), "end_time": _END.isoformat()}
RAISED_LIMITS = dict.fromkeys(
    ("AuthRateLimit", "GeneralRateLimit", "MarketDataRateLimit", "BacktestCreationRateLimit"), "1000000"
)
TERMINAL = {"completed", "failed", "cancelled"}
SETUP = frozenset({"sign_up", "sign_in", "create_strategy"})


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.server_errors: list[str] = []
        self.created: set[str] = set()
        self.completed: set[str] = set()
        self.not_completed: dict[str, str] = {}
        self.ws_events = 0
        self.failures: list[str] = []
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


def _user(api_url: str, ws_url: str, recorder: Recorder, seconds: float, start_gate: threading.Barrier) -> None:
    """One user: signed up, in and with a strategy before the gate; then backtests for `seconds`."""
    import httpx
    import websockets.sync.client

    try:
        with httpx.Client(base_url=f"{api_url}/api/v1", timeout=300) as client:
            email = f"load-{uuid.uuid4().hex[:12]}@example.com"
            recorder.call(client, "sign_up", "POST", "/users", json={"email": email, "password": PASSWORD, "name": "L"})
            session = recorder.call(
                client, "sign_in", "POST", "/sessions", json={"email": email, "password": PASSWORD}
            ).json()
            token, user_id = session["token"], session["user"]["id"]
            auth = {"Authorization": f"Bearer {token}"}
            strategy = recorder.call(
                client, "create_strategy", "POST", "/strategies", json=STRATEGY, headers=auth
            ).json()
            with websockets.sync.client.connect(ws_url, open_timeout=120) as socket:
                socket.send(json.dumps({"action": "join", "channel": f"user:{user_id}", "token": token}))
                start_gate.wait()
                until = time.monotonic() + seconds
                while time.monotonic() < until:
                    _one_backtest(client, socket, recorder, auth, token, strategy["id"])
                _drain(socket, recorder)
    except Exception as error:  # noqa: BLE001 - a user that could not go on is a failure of the run
        with recorder._lock:
            recorder.failures.append(f"{type(error).__name__}: {error}")
        with contextlib.suppress(threading.BrokenBarrierError):
            start_gate.abort()


def _one_backtest(client, socket, recorder: Recorder, auth: dict, token: str, strategy_id: str) -> None:
    body = {"strategy_id": strategy_id, **BACKTEST, **RANGE}
    created = recorder.call(client, "create_backtest", "POST", "/backtests", json=body, headers=auth)
    if created.status_code != 202:
        raise RuntimeError(f"POST /backtests answered {created.status_code}: {created.text[:200]}")
    backtest_id = created.json()["id"]
    with recorder._lock:
        recorder.created.add(backtest_id)
    socket.send(json.dumps({"action": "join", "channel": f"backtest:{backtest_id}", "token": token}))
    status, deadline = "pending", time.monotonic() + 600
    while status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.5)
        status = (
            recorder.call(client, "get_backtest", "GET", f"/backtests/{backtest_id}", headers=auth)
            .json()
            .get("status", status)
        )
    with recorder._lock:
        if status == "completed":
            recorder.completed.add(backtest_id)
        else:
            recorder.not_completed[backtest_id] = status
    recorder.call(
        client,
        "page_trades",
        "GET",
        f"/backtests/{backtest_id}/trades",
        params={"page": 1, "per_page": 50},
        headers=auth,
    )
    recorder.call(client, "list_backtests", "GET", "/backtests", headers=auth)
    socket.send(json.dumps({"action": "leave", "channel": f"backtest:{backtest_id}"}))


def _drain(socket, recorder: Recorder) -> None:
    """Count what the channels delivered meanwhile."""
    try:
        while True:
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
        reference = Recorder()  # one user alone, first: the reference of this run
        _user(stack.api_url, stack.ws_url, reference, 1, threading.Barrier(1))
        recorder = Recorder()
        gate = threading.Barrier(users + 1)
        threads = [
            threading.Thread(target=_user, args=(stack.api_url, stack.ws_url, recorder, seconds, gate))
            for _ in range(users)
        ]
        for thread in threads:
            thread.start()
        # Every user signed in and joined: the timed window starts (a broken barrier is a user whose
        # set-up failed, recorded: the others go on).
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()
        began = time.monotonic()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - began
    by_kind = {
        kind: {
            "n": len(values),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(_percentile(values, 0.99) * 1000, 1),
        }
        for kind, values in sorted(recorder.latencies.items())
    }
    reference_p50 = {
        kind: round(statistics.median(values) * 1000, 1) for kind, values in sorted(reference.latencies.items())
    }
    # The window's requests (the set-up's sign-ups, sign-ins and strategies are listed apart).
    every = [value for kind, values in recorder.latencies.items() if kind not in SETUP for value in values]
    return {
        "users": users,
        "seconds": round(wall, 1),
        "requests": len(every),
        "server_errors": len(recorder.server_errors),
        "first_server_errors": recorder.server_errors[:5],
        "users_failed": recorder.failures[:5],
        "backtests_created": len(recorder.created),
        "backtests_completed": len(recorder.completed),
        "backtests_not_completed": recorder.not_completed,
        "websocket_events": recorder.ws_events,
        "p50_ms": round(statistics.median(every) * 1000, 1),
        "p99_ms": round(_percentile(every, 0.99) * 1000, 1),
        "by_request": by_kind,
        "one_user_alone_p50_ms": reference_p50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # no EMF lines between the figures
    result = run(args.users, args.seconds)
    print(json.dumps(result, indent=2))
    ok = (
        result["server_errors"] == 0
        and not result["users_failed"]
        and result["backtests_completed"] == result["backtests_created"] > 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
