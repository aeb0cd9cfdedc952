"""REST API latency on the local stack, the API handler's cold import, and trade pages of a 100k-trade backtest.

    .venv/bin/python bench/api_latency.py [--seconds 10] [--users 8] [--trades 100000]

1. Cold import: `import app` of functions/api in fresh processes with the function's template
   environment (median wall time of 5, plus `python -X importtime`'s heaviest modules).
2. GET /api/v1/backtests/{id} from one Python client (httpx, keep-alive) for --seconds against the
   local stack's REST gateway (moto behind it): p50/p90/p99. Requests rotate over --users users,
   each reading its own completed backtest, so the 120/min general rate limit is not what is measured.
3. GET /api/v1/backtests/{id}/trades on a backtest with --trades trades (Parquet in the results
   bucket): the first page, a deep page, a filtered deep page; and the cost of saving them.
Everything runs through the real gateway -> Mangum -> FastAPI -> DynamoDB/S3 path; moto adds its own
latency, so the absolute numbers are upper bounds of what the code costs.

The local stack's HTTP servers (REST gateway, AWS front) answer with two writes (headers, then body);
with Nagle's algorithm on, the client's delayed ACK holds the second one ~40 ms, on every hop. This
bench turns Nagle off for them (as API Gateway and DynamoDB effectively are) unless --keep-nagle.
"""

from __future__ import annotations

import argparse
import logging
import os
import socketserver
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fanout.fake_aws import use_fake_aws  # noqa: E402
from tests.fanout.strategies import sma_cross  # noqa: E402

PASSWORD = "bench password 123"
STRATEGY = {"name": "bench SMA cross", **sma_cross(stop_loss=2, take_profit=4)}
SUMMARY = {
    "total_trades": 0,
    "winning_trades": 0,
    "losing_trades": 0,
    "win_rate": None,
    "profit_factor": None,
    "max_drawdown": 0.0,
    "max_drawdown_percentage": 0.0,
    "sharpe_ratio": None,
    "sortino_ratio": None,
    "total_pnl": 0.0,
    "total_pnl_percentage": 0.0,
}


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return f"n={len(ordered)} p50={pick(0.50):.1f} ms p90={pick(0.90):.1f} ms p99={pick(0.99):.1f} ms"


# ---------------------------------------------------------------- 1. cold import
def cold_import() -> None:
    from local.template import Template

    env = {
        **os.environ,
        **Template.load().function_environment("ApiFunction"),
        "PYTHONPATH": str(ROOT),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    code = (
        "import sys, time; sys.path.insert(0, 'functions/api'); t = time.perf_counter(); import app; "
        "print((time.perf_counter() - t) * 1000); "
        "print(','.join(m for m in ('numpy', 'pyarrow', 'boto3') if m in sys.modules))"
    )
    runs, heavy = [], ""
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        runs.append(float(out[0]))
        heavy = out[1] if len(out) > 1 else ""
    print(
        f"cold import of the API handler (functions/api/app.py): median {statistics.median(runs):.0f} ms "
        f"(runs: {', '.join(f'{r:.0f}' for r in runs)}); numpy/pyarrow/boto3 loaded: {heavy or 'none'}"
    )
    profile = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sys; sys.path.insert(0, 'functions/api'); import app"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr.splitlines()
    top = {}
    for line in profile:
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if name.split(".")[0] in (
                "fastapi",
                "aws_xray_sdk",
                "pynamodb",
                "mangum",
                "pydantic",
                "api",
                "starlette",
                "aws_lambda_powertools",
                "botocore",
            ):
                top[name] = int(parts[1]) / 1000
    packages = {
        name: ms
        for name, ms in top.items()
        if "." not in name or name in ("aws_xray_sdk.core", "pynamodb.models", "api.application")
    }
    print(
        "  cumulative import time by package (-X importtime, inflated by the profiler): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(packages.items(), key=lambda kv: -kv[1])[:8])
    )


# ---------------------------------------------------------------- 2 and 3: on the local stack
def on_local_stack(seconds: float, users: int, trade_count: int) -> None:
    import httpx
    import numpy as np

    from local.stack import LocalStack

    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one INFO line per request would flood the terminal
    with LocalStack(api_port=0, ws_port=0) as stack:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the stack set the template's level; read at first request
        sys.path.insert(0, str(ROOT / "functions" / "api"))
        from api.settings import ApiSettings
        from api.wiring import build_services
        from shared.backtests.service import record_results
        from shared.engine import Trades
        from shared.times import utc_now

        services = build_services(ApiSettings.from_env())
        repository, store = services.backtests.repository, services.backtests.trades
        client = httpx.Client(base_url=stack.api_url, timeout=30)
        readers = []
        for index in range(users + 1):  # the last one owns the large backtest
            email = f"bench-{index}-{uuid.uuid4().hex[:6]}@example.com"
            client.post(
                "/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Bench"}
            ).raise_for_status()
            token = client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            strategy = client.post("/api/v1/strategies", json=STRATEGY, headers=headers).json()
            backtest = client.post(
                "/api/v1/backtests",
                headers=headers,
                json={
                    "strategy_id": strategy["id"],
                    "symbol": "BTCUSDT",
                    "timeframe": "1h",
                    "start_time": "2024-01-01T00:00:00Z",
                    "end_time": "2024-06-01T00:00:00Z",
                    "initial_balance": 10000,
                },
            )
            backtest_id = backtest.json()["id"]
            repository.mark_running(backtest_id, utc_now())
            readers.append((headers, backtest_id))

        rng = np.random.default_rng(1)
        entry = np.arange(trade_count, dtype=np.int64) * 3
        exit_bar = entry + 2
        hour, start = 3_600_000, 1_704_067_200_000
        pnl = rng.normal(0.0, 40.0, trade_count)
        trades = Trades(
            entry_bar=entry,
            exit_bar=exit_bar,
            entry_time=start + entry * hour,
            exit_time=start + exit_bar * hour,
            side=rng.choice(np.array([1, -1], dtype=np.int8), trade_count),
            entry_price=40_000 + rng.normal(0, 500, trade_count),
            exit_price=40_000 + rng.normal(0, 500, trade_count),
            quantity=rng.uniform(0.01, 0.5, trade_count),
            pnl=pnl,
            pnl_percentage=pnl / 100,
            fees=rng.uniform(1, 20, trade_count),
            exit_reason=rng.integers(0, 4, trade_count).astype(np.int8),
        )
        big_headers, big_id = readers.pop()
        begun = time.perf_counter()
        record_results(
            repository,
            store,
            big_id,
            final_balance=12_345.678,
            performance_summary=SUMMARY,
            trade_columns=trades,
            now=utc_now(),
        )
        saved = time.perf_counter() - begun
        few = Trades(**{name: getattr(trades, name)[:10] for name in Trades.__dataclass_fields__})
        for _, backtest_id in readers:
            record_results(
                repository,
                store,
                backtest_id,
                final_balance=10_500.0,
                performance_summary=SUMMARY,
                trade_columns=few,
                now=utc_now(),
            )

        samples, statuses, index = [], {}, 0
        client.get(f"/api/v1/backtests/{readers[0][1]}", headers=readers[0][0])  # warm: imports done
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            headers, backtest_id = readers[index % users]
            index += 1
            begun = time.perf_counter()
            response = client.get(f"/api/v1/backtests/{backtest_id}", headers=headers)
            elapsed = (time.perf_counter() - begun) * 1000
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                samples.append(elapsed)
        print(
            f"GET /api/v1/backtests/{{id}} for {seconds:.0f} s, one client over {users} users: {percentiles(samples)} "
            f"({len(samples) / seconds:.0f} req/s; statuses {statuses})"
        )

        s3 = services.backtests.trades._objects.client
        sizes = {
            o["Key"].rsplit("/", 1)[1]: o["Size"]
            for o in s3.list_objects_v2(Bucket=os.environ["RESULTS_BUCKET"], Prefix=f"backtests/{big_id}/")["Contents"]
        }
        print(
            f"{trade_count} trades saved in {saved * 1000:.0f} ms: "
            + ", ".join(f"{key} {size / 1024:.0f} KiB" for key, size in sizes.items())
        )
        # 4 x 25 requests: under the owner's 120 requests/min.
        pages = trade_count // 100
        some_trade = client.get(
            f"/api/v1/backtests/{big_id}/trades?per_page=1&page={trade_count // 2}", headers=big_headers
        ).json()["data"][0]["id"]
        for label, path in (
            ("first page", f"/api/v1/backtests/{big_id}/trades?per_page=100"),
            ("middle page", f"/api/v1/backtests/{big_id}/trades?per_page=100&page={pages // 2}"),
            ("filtered page", f"/api/v1/backtests/{big_id}/trades?per_page=100&page=100&side=short&result=win"),
            ("one trade by id", f"/api/v1/trades/{some_trade}"),
        ):
            times = []
            for _ in range(25):
                begun = time.perf_counter()
                client.get(path, headers=big_headers).raise_for_status()
                times.append((time.perf_counter() - begun) * 1000)
            print(f"  {label}: {percentiles(times)}")
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=8, help="at most 9: two sign-in requests each, 20/min per IP")
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--keep-nagle", action="store_true", help="measure the local stack's servers as they are")
    args = parser.parse_args()
    socketserver.StreamRequestHandler.disable_nagle_algorithm = not args.keep_nagle
    # The local state machine fails its Configure step until the fan-out lands; moto logs each failure.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    use_fake_aws()
    cold_import()
    on_local_stack(args.seconds, args.users, args.trades)


if __name__ == "__main__":
    main()
