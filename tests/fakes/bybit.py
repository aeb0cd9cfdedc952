"""A fake Bybit v5 public market API on 127.0.0.1, speaking Bybit's wire format, for tests.

Every answer is HTTP 200 `{"retCode", "retMsg", "result", "retExtInfo": {}, "time"}` with the
headers X-Bapi-Limit (requests per window), X-Bapi-Limit-Status (left) and
X-Bapi-Limit-Reset-Timestamp (ms), as Bybit sends them:

- GET /v5/market/kline (category spot|linear, symbol, interval 1 5 15 30 60 240 D W, start, end,
  limit default 200 max 1000): the NEWEST `limit` klines with start <= open time <= end, newest
  first, each [startTime, open, high, low, close, volume, turnover] as strings. An unknown symbol
  is retCode 10001 "Not supported symbols".
- GET /v5/market/funding/history (category linear, symbol, startTime, endTime, limit max 200):
  newest first, {symbol, fundingRate, fundingRateTimestamp} strings.
- GET /v5/market/instruments-info (category, symbol): the symbol's priceFilter and lotSizeFilter
  (spot: basePrecision, minOrderAmt; linear: qtyStep, minNotionalValue); an empty list when unknown.
- `fail_next(ret_code=10006 | http_status=403 | ..., times, retry_after, after)` answers `times`
  requests, after the next `after` ones, with that error (a 10006 or 403 with a reset timestamp
  `reset_in_s` ahead of the fake's clock; an HTTP error with Retry-After when given).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from shared.candles import Candles
from shared.market_data.funding import FundingRates
from tests.fakes.serving import LocalServer, QuietHandler, next_failure

INTERVALS = {"1": "1m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "240": "4h", "D": "1d", "W": "1w"}
LIMIT_PER_WINDOW = 600
NOW_MS = 1_709_251_200_000


@dataclass
class _Failure:
    ret_code: int | None
    http_status: int | None
    remaining: int
    retry_after: float | None = None
    skip: int = 0


@dataclass
class FakeBybit:
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    limit_status: int = LIMIT_PER_WINDOW
    reset_in_s: float = 1.0
    _klines: dict[tuple[str, str, str], Candles] = field(default_factory=dict)
    _funding: dict[str, FundingRates] = field(default_factory=dict)
    _rules: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = LocalServer(self._handler_class(), "fake-bybit")
        self.url = self._server.url

    def __enter__(self) -> FakeBybit:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def add_klines(self, category: str, symbol: str, timeframe: str, candles: Candles) -> None:
        self._klines[(category, symbol, timeframe)] = candles

    def add_funding(self, symbol: str, rates: FundingRates) -> None:
        self._funding[symbol] = rates

    def add_symbol_rules(self, category: str, symbol: str, tick: str, step: str, min_value: str) -> None:
        self._rules[(category, symbol)] = (tick, step, min_value)

    def fail_next(
        self,
        ret_code: int | None = None,
        http_status: int | None = None,
        times: int = 1,
        retry_after: float | None = None,
        after: int = 0,
    ) -> None:
        self._failures.append(_Failure(ret_code, http_status, times, retry_after, after))

    def calls(self, path: str) -> list[dict[str, str]]:
        return [params for request_path, params in self.requests if request_path == path]

    # ------------------------------------------------------------ endpoints
    def _kline(self, params: dict[str, str]) -> tuple[int, str, Any]:
        interval = INTERVALS.get(params.get("interval", ""))
        if interval is None:
            return 10001, "Invalid period!", {}
        candles = self._klines.get((params.get("category", ""), params.get("symbol", ""), interval))
        if candles is None:
            return 10001, "Not supported symbols", {}
        limit = min(int(params.get("limit", 200)), 1000)
        lo = int(np.searchsorted(candles.ts, int(params.get("start", -(2**62))), side="left"))
        hi = int(np.searchsorted(candles.ts, int(params.get("end", 2**62)), side="right"))
        rows = [
            [
                str(int(candles.ts[i])),
                repr(float(candles.open[i])),
                repr(float(candles.high[i])),
                repr(float(candles.low[i])),
                repr(float(candles.close[i])),
                repr(float(candles.volume[i])),
                repr(float(candles.volume[i] * candles.close[i])),
            ]
            for i in range(hi - 1, max(lo, hi - limit) - 1, -1)
        ]
        return 0, "OK", {"category": params["category"], "symbol": params["symbol"], "list": rows}

    def _funding_history(self, params: dict[str, str]) -> tuple[int, str, Any]:
        rates = self._funding.get(params.get("symbol", ""))
        if params.get("category") != "linear" or rates is None:
            return 10001, "params error: symbol invalid", {}
        limit = min(int(params.get("limit", 200)), 200)
        lo = int(np.searchsorted(rates.times, int(params.get("startTime", -(2**62))), side="left"))
        hi = int(np.searchsorted(rates.times, int(params.get("endTime", 2**62)), side="right"))
        items = [
            {
                "symbol": params["symbol"],
                "fundingRate": repr(float(rates.rates[i])),
                "fundingRateTimestamp": str(int(rates.times[i])),
            }
            for i in range(hi - 1, max(lo, hi - limit) - 1, -1)
        ]
        return 0, "OK", {"category": "linear", "list": items}

    def _instruments(self, params: dict[str, str]) -> tuple[int, str, Any]:
        category, symbol = params.get("category", ""), params.get("symbol", "")
        found = self._rules.get((category, symbol))
        listed = []
        if found is not None:
            tick, step, min_value = found
            lot = (
                {
                    "basePrecision": step,
                    "quotePrecision": "0.00000001",
                    "minOrderQty": step,
                    "maxOrderQty": "71.73956243",
                    "minOrderAmt": min_value,
                    "maxOrderAmt": "2000000",
                }
                if category == "spot"
                else {
                    "maxOrderQty": "1190.000",
                    "minOrderQty": step,
                    "qtyStep": step,
                    "postOnlyMaxOrderQty": "1190.000",
                    "maxMktOrderQty": "500.000",
                    "minNotionalValue": min_value,
                }
            )
            listed.append(
                {
                    "symbol": symbol,
                    "baseCoin": symbol[:-4],
                    "quoteCoin": symbol[-4:],
                    "status": "Trading",
                    "priceFilter": {"tickSize": tick}
                    | ({} if category == "spot" else {"minPrice": "0.10", "maxPrice": "199999.80"}),
                    "lotSizeFilter": lot,
                }
            )
        return 0, "OK", {"category": category, "list": listed, "nextPageCursor": ""}

    # ------------------------------------------------------------ HTTP
    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append((path, params))
            self.limit_status = max(0, self.limit_status - 1)
            failure = next_failure(self._failures)
            if failure is not None:
                if failure.http_status is not None:
                    headers = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
                    return failure.http_status, {}, headers
                messages = {10006: "Too many visits!", 10016: "Server error.", 10000: "Server Timeout"}
                return 200, self._envelope(failure.ret_code or 10016, messages.get(failure.ret_code, "error"), {}), {}
            handler = {
                "/v5/market/kline": self._kline,
                "/v5/market/funding/history": self._funding_history,
                "/v5/market/instruments-info": self._instruments,
            }.get(path)
            if handler is None:
                return 404, {}, {}
            return 200, self._envelope(*handler(params)), {}

    @staticmethod
    def _envelope(code: int, message: str, result: Any) -> dict[str, Any]:
        return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": NOW_MS}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                status, payload, headers = fake._answer(url.path, dict(parse_qsl(url.query)))
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Bapi-Limit", str(LIMIT_PER_WINDOW))
                self.send_header("X-Bapi-Limit-Status", str(fake.limit_status))
                self.send_header("X-Bapi-Limit-Reset-Timestamp", str(int(NOW_MS + fake.reset_in_s * 1000)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture
def fake_bybit(monkeypatch):
    """A running FakeBybit; BYBIT_BASE_URL points at it for the test."""
    with FakeBybit() as fake:
        monkeypatch.setenv("BYBIT_BASE_URL", fake.url)
        yield fake
