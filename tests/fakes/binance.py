"""A fake Binance REST API on 127.0.0.1, speaking Binance's wire format, for tests.

`FakeBinance` serves from a background thread on a free port:

- GET /api/v3/klines (symbol, interval, startTime, endTime, limit: default 500, max 1000):
  klines with startTime <= open time <= endTime, oldest first (the latest `limit` when no
  startTime), each as Binance sends it: [open time ms, "open", "high", "low", "close", "volume",
  close time ms, "quote volume", trades, "taker buy base", "taker buy quote", "0"]. An unknown
  symbol is 400 {"code": -1121, "msg": "Invalid symbol."}, a bad interval 400 {"code": -1120}.
- GET /api/v3/exchangeInfo?symbol= (spot) and GET /fapi/v1/exchangeInfo (USD-M futures, every
  symbol): the symbols `add_symbol_rules` listed, with Binance's filters (PRICE_FILTER tickSize,
  LOT_SIZE stepSize, spot NOTIONAL minNotional, futures MIN_NOTIONAL notional) as decimal strings.
  An unknown spot symbol is 400 {"code": -1121}.
- GET /fapi/v1/fundingRate (symbol, startTime, endTime, limit: default 100, max 1000): the rates
  `add_funding` stored, oldest first, as {symbol, fundingTime, fundingRate, markPrice}.
- Every response carries X-MBX-USED-WEIGHT-1M (`used_weight`, +2 per klines request; tests may
  set it to exercise back-off).
- `fail_next(status, times, retry_after, after)` answers `times` requests, after the next `after`
  ones, with an error (429, 418, 451, 5xx) in Binance's shape, with Retry-After when given.
- `route(method, path, handler)` adds an endpoint (e.g. signed /api/v3/myTrades): the handler gets
  the `FakeRequest` and returns (status, JSON-able body). `requests` logs every request.

Use the `fake_binance` fixture (import it into a test module), which also points
BINANCE_BASE_URL at the fake.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from shared.candles import Candles
from shared.timeframes import TIMEFRAME_MS
from tests.fakes.serving import LocalServer, QuietHandler, next_failure

KLINES_WEIGHT = 2
UNKNOWN_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
RATE_LIMITED = {
    "code": -1003,
    "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
}
RESTRICTED_LOCATION = {
    "code": 0,
    "msg": "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.",
}
INTERNAL_ERROR = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: float | None
    skip: int  # requests to answer normally first


@dataclass
class FakeBinance:
    used_weight: int = 0
    requests: list[FakeRequest] = field(default_factory=list)
    _klines: dict[tuple[str, str], Candles] = field(default_factory=dict)
    _rules: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    _funding: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _routes: dict[tuple[str, str], Callable[[FakeRequest], tuple[int, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.route("GET", "/api/v3/klines", self._serve_klines)
        self.route("GET", "/api/v3/exchangeInfo", self._serve_spot_info)
        self.route("GET", "/fapi/v1/exchangeInfo", self._serve_futures_info)
        self.route("GET", "/fapi/v1/fundingRate", self._serve_funding)
        self._server = LocalServer(self._handler_class(), "fake-binance")
        self.url = self._server.url

    def __enter__(self) -> FakeBinance:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def add_klines(self, symbol: str, interval: str, candles: Candles) -> None:
        self._klines[(symbol, interval)] = candles

    def add_symbol_rules(self, symbol: str, market: str, tick_size: str, step_size: str, min_notional: str) -> None:
        """List `symbol` on `market` (spot | linear) with these filters, written as Binance writes them."""
        self._rules[(symbol, market)] = (tick_size, step_size, min_notional)

    def add_funding(self, symbol: str, times: list[int], rates: list[str]) -> None:
        """Funding rates of a USD-M perpetual, times ascending, rates as Binance writes them."""
        self._funding[symbol] = list(zip(times, rates, strict=True))

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None, after: int = 0) -> None:
        self._failures.append(_Failure(status, times, retry_after, after))

    def route(self, method: str, path: str, handler: Callable[[FakeRequest], tuple[int, Any]]) -> None:
        self._routes[(method, path)] = handler

    def calls(self, path: str) -> list[FakeRequest]:
        return [request for request in self.requests if request.path == path]

    # ------------------------------------------------------------ endpoints
    def _serve_klines(self, request: FakeRequest) -> tuple[int, Any]:
        self.used_weight += KLINES_WEIGHT
        interval = request.params.get("interval", "")
        if interval not in TIMEFRAME_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        candles = self._klines.get((request.params.get("symbol", ""), interval))
        if candles is None:
            return 400, UNKNOWN_SYMBOL
        limit = min(int(request.params.get("limit", 500)), 1000)
        start = int(request.params.get("startTime", np.iinfo(np.int64).min))
        end = int(request.params.get("endTime", np.iinfo(np.int64).max))
        lo = int(np.searchsorted(candles.ts, start, side="left"))
        hi = int(np.searchsorted(candles.ts, end, side="right"))
        window = range(lo, min(hi, lo + limit)) if "startTime" in request.params else range(max(lo, hi - limit), hi)
        step = TIMEFRAME_MS[interval]
        return 200, [self._kline(candles, i, step) for i in window]

    def _serve_spot_info(self, request: FakeRequest) -> tuple[int, Any]:
        symbol = request.params.get("symbol", "")
        if (symbol, "spot") not in self._rules:
            return 400, UNKNOWN_SYMBOL
        tick, step, notional = self._rules[(symbol, "spot")]
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "NOTIONAL",
                "minNotional": notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ]
        return 200, {
            "timezone": "UTC",
            "serverTime": 1709251200000,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": symbol,
                    "status": "TRADING",
                    "baseAsset": symbol[:-4],
                    "quoteAsset": symbol[-4:],
                    "filters": filters,
                }
            ],
        }

    def _serve_funding(self, request: FakeRequest) -> tuple[int, Any]:
        rows = self._funding.get(request.params.get("symbol", ""), [])
        start = int(request.params.get("startTime", 0))
        end = int(request.params.get("endTime", 2**62))
        limit = min(int(request.params.get("limit", 100)), 1000)
        selected = [(t, r) for t, r in rows if start <= t <= end][:limit]
        return 200, [
            {"symbol": request.params["symbol"], "fundingTime": t, "fundingRate": r, "markPrice": "61000.00000000"}
            for t, r in selected
        ]

    def _serve_futures_info(self, request: FakeRequest) -> tuple[int, Any]:
        symbols = [
            {
                "symbol": symbol,
                "pair": symbol,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "filters": [
                    {"minPrice": "556.80", "maxPrice": "4529764", "filterType": "PRICE_FILTER", "tickSize": tick},
                    {"stepSize": step, "filterType": "LOT_SIZE", "maxQty": "1000", "minQty": step},
                    {"stepSize": step, "filterType": "MARKET_LOT_SIZE", "maxQty": "120", "minQty": step},
                    {"filterType": "MIN_NOTIONAL", "notional": notional},
                ],
            }
            for (symbol, market), (tick, step, notional) in self._rules.items()
            if market == "linear"
        ]
        return 200, {"timezone": "UTC", "serverTime": 1709251200000, "rateLimits": [], "assets": [], "symbols": symbols}

    @staticmethod
    def _kline(candles: Candles, i: int, step: int) -> list[Any]:
        volume, close = float(candles.volume[i]), float(candles.close[i])
        return [
            int(candles.ts[i]),
            f"{candles.open[i]:.8f}",
            f"{candles.high[i]:.8f}",
            f"{candles.low[i]:.8f}",
            f"{close:.8f}",
            f"{volume:.8f}",
            int(candles.ts[i]) + step - 1,
            f"{volume * close:.8f}",
            100,
            f"{volume / 2:.8f}",
            f"{volume * close / 2:.8f}",
            "0",
        ]

    # ------------------------------------------------------------ HTTP
    def _answer(self, request: FakeRequest) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            failure = next_failure(self._failures)
            if failure is not None:
                headers = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
                body = {418: RATE_LIMITED, 429: RATE_LIMITED, 451: RESTRICTED_LOCATION}.get(
                    failure.status, INTERNAL_ERROR
                )
                return failure.status, body, headers
            handler = self._routes.get((request.method, request.path))
            if handler is None:
                return 404, {"code": -1, "msg": "Not found."}, {}
            status, body = handler(request)
            return status, body, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params = dict(parse_qsl(url.query)) | (dict(parse_qsl(body.decode())) if body else {})
                request = FakeRequest(self.command, url.path, params, dict(self.headers), body)
                status, payload, headers = fake._answer(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-MBX-USED-WEIGHT-1M", str(fake.used_weight))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815 - http.server naming

        return Handler


@pytest.fixture
def fake_binance(monkeypatch):
    """A running FakeBinance; BINANCE_BASE_URL points at it for the test."""
    with FakeBinance() as fake:
        monkeypatch.setenv("BINANCE_BASE_URL", fake.url)
        monkeypatch.setenv("BINANCE_FUTURES_BASE_URL", fake.url)
        yield fake
