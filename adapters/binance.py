"""Binance's public klines endpoint, paged and polite, with the standard library only (no
`requests` in Lambda).

- Pages through GET /api/v3/klines with limit=1000 and startTime/endTime (both inclusive open
  times on Binance's side), moving startTime past the last kline received.
- 429 (rate limited) and 418 (IP banned after ignoring 429s) wait for Retry-After, then retry;
  5xx and network errors retry with exponential backoff; MAX_ATTEMPTS per request in all.
- X-MBX-USED-WEIGHT-1M is watched on every response: past WEIGHT_SLOWDOWN_AT of the
  WEIGHT_LIMIT_PER_MINUTE budget the client waits for the next minute instead of drawing a 429.
- Other 4xx answers carry Binance's {"code", "msg"}: an unknown symbol is NotFound, the rest
  ValidationFailed, both naming Binance's message. 451 (Binance refuses the caller's region) is
  UpstreamRefused saying so: retrying cannot help, another base URL can.
- The default base URLs serve public market data from US regions too: api.binance.com answers
  451 there, data-api.binance.vision (spot market data only) does not. USD-M futures
  (fapi.binance.com) have no such mirror; BINANCE_FUTURES_BASE_URL points elsewhere when needed.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from email.message import Message
from typing import Any

import numpy as np

from adapters.settings import ExchangeSettings
from shared.errors import DomainError, FieldError, NotFound, UpstreamRefused, ValidationFailed
from shared.market_data.contract import MARKET_LINEAR, MARKET_SPOT
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import funding_rates
from shared.market_data.instruments import rule_value
from shared.market_data.parsing import OrdinalLocator, RawCandles, parse_kline_rows
from shared.market_data.symbol_rules import SymbolRules
from shared.timeframes import timeframe_ms
from shared.times import epoch_ms

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://data-api.binance.vision"
DEFAULT_FUTURES_BASE_URL = "https://fapi.binance.com"
KLINES_PATH = "/api/v3/klines"
FUTURES_KLINES_PATH = "/fapi/v1/klines"
FUNDING_PATH = "/fapi/v1/fundingRate"
FUNDING_LIMIT = 1000
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
FUTURES_EXCHANGE_INFO_PATH = "/fapi/v1/exchangeInfo"
PAGE_LIMIT = 1000
WEIGHT_LIMIT_PER_MINUTE = 6000
WEIGHT_SLOWDOWN_AT = 5000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
MAX_ATTEMPTS = 6
MAX_BACKOFF_S = 30.0
# A Retry-After longer than this (a long IP ban) is not waited out inside one import.
MAX_RETRY_AFTER_S = 120.0
UNKNOWN_SYMBOL_CODE = -1121


# params -> (query string, extra headers) of one request: how signed endpoints authenticate.
Signer = Callable[[dict[str, Any]], tuple[str, dict[str, str]]]


class BinanceUnavailable(UpstreamRefused):
    """Binance kept failing (rate limits, server errors, network) after every retry: the job fails
    (or the request answers 502) with that reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [FieldError("exchange", message)])


class BinanceClient:
    """The KlineSource port on Binance. `sleep` and `clock` are injectable so tests run instantly."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        futures_base_url: str | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.futures_base_url = (futures_base_url or DEFAULT_FUTURES_BASE_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.clock = clock

    def fetch_klines(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, market: str = MARKET_SPOT
    ) -> RawCandles:
        """Every kline with open time in [start_ms, end_ms), in Binance's order (oldest first):
        spot's, or USD-M futures' for linear."""
        step = timeframe_ms(timeframe)
        path, base_url = (
            (FUTURES_KLINES_PATH, self.futures_base_url) if market == MARKET_LINEAR else (KLINES_PATH, None)
        )
        rows: list[list[Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            page = self.get_json(
                path,
                {
                    "symbol": symbol,
                    "interval": timeframe,
                    "startTime": cursor,
                    "endTime": end_ms - 1,
                    "limit": PAGE_LIMIT,
                },
                base_url=base_url,
            )
            rows.extend(page)
            if len(page) < PAGE_LIMIT:
                break
            cursor = int(page[-1][0]) + step
        return parse_kline_rows(rows, OrdinalLocator("kline"))

    def fetch_funding(self, symbol: str, start_ms: int, end_ms: int) -> FundingRates:
        """USD-M perpetual funding rates with funding time in [start_ms, end_ms), oldest first
        (`/fapi/v1/fundingRate`, 1000 per page, paged by startTime)."""
        items: list[dict[str, Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            page = self.get_json(
                FUNDING_PATH,
                {"symbol": symbol, "startTime": cursor, "endTime": end_ms - 1, "limit": FUNDING_LIMIT},
                base_url=self.futures_base_url,
            )
            items.extend(page)
            if len(page) < FUNDING_LIMIT:
                break
            cursor = int(page[-1]["fundingTime"]) + 1
        return funding_rates(
            np.array([int(item["fundingTime"]) for item in items], dtype=np.int64),
            np.array([float(item["fundingRate"]) for item in items], dtype=np.float64),
        )

    def fetch_symbol_rules(self, symbol: str, market: str = MARKET_SPOT) -> SymbolRules:
        """Tick size (PRICE_FILTER), quantity step (LOT_SIZE) and minimum order value (NOTIONAL, or
        MIN_NOTIONAL on older listings) from exchangeInfo: spot's, or USD-M futures' for linear."""
        if market == MARKET_LINEAR:
            listed = self.get_json(FUTURES_EXCHANGE_INFO_PATH, {}, base_url=self.futures_base_url)["symbols"]
        else:
            listed = self.get_json(EXCHANGE_INFO_PATH, {"symbol": symbol})["symbols"]
        info = next((item for item in listed if item.get("symbol") == symbol), None)
        if info is None:
            raise NotFound(
                f"Binance does not list {symbol}", [FieldError("symbol", f"Binance {market} has no {symbol}")]
            )
        filters = {item["filterType"]: item for item in info.get("filters", [])}
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        return SymbolRules(
            tick_size=rule_value(filters.get("PRICE_FILTER", {}).get("tickSize")),
            lot_size=rule_value(filters.get("LOT_SIZE", {}).get("stepSize")),
            min_notional=rule_value(notional.get("minNotional", notional.get("notional"))),
        )

    def get_json(
        self, path: str, params: dict[str, Any], sign: Signer | None = None, base_url: str | None = None
    ) -> Any:
        """GET an endpoint, retrying what Binance says to retry. `sign` (account endpoints) turns
        the params into the query string and headers of each attempt, so every retry carries a
        fresh timestamp and signature."""
        attempt = 0
        while True:
            attempt += 1
            query, headers = (urllib.parse.urlencode(params), {}) if sign is None else sign(params)
            request = urllib.request.Request(
                f"{base_url or self.base_url}{path}?{query}",
                headers={"Accept": "application/json", "User-Agent": "backtest-service", **headers},
            )
            try:
                # the base URLs are the template's Binance parameters (deployment config, https)
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # nosec B310
                    body = response.read()
                    self._respect_weight(response.headers)
                return json.loads(body)
            except urllib.error.HTTPError as error:
                self._respect_weight(error.headers)
                retryable = error.code in (418, 429) or error.code >= 500
                if not retryable:
                    raise _client_error(error) from None
                delay = self._retry_delay(error, attempt)
                reason = f"HTTP {error.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                delay, reason = self._backoff(attempt), f"network error: {error}"
            if attempt == self.max_attempts:
                raise BinanceUnavailable(f"{path} failed {attempt} times, last: {reason}")
            log.warning(
                "Binance %s: %s; retrying in %.1fs (attempt %d/%d)", path, reason, delay, attempt, self.max_attempts
            )
            self.sleep(delay)

    def _retry_delay(self, error: urllib.error.HTTPError, attempt: int) -> float:
        retry_after = error.headers.get("Retry-After") if error.headers else None
        if retry_after is None:
            return self._backoff(attempt)
        seconds = float(retry_after)
        if seconds > MAX_RETRY_AFTER_S:
            raise BinanceUnavailable(f"Binance asks to wait {seconds:.0f}s (HTTP {error.code}); try again later")
        return seconds

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1))

    def _respect_weight(self, headers: Message | None) -> None:
        used = headers.get(WEIGHT_HEADER) if headers else None
        if used is not None and int(used) >= WEIGHT_SLOWDOWN_AT:
            wait = 60.0 - self.clock() % 60.0 + 0.5
            log.warning(
                "Binance request weight %s of %d used this minute; waiting %.1fs", used, WEIGHT_LIMIT_PER_MINUTE, wait
            )
            self.sleep(wait)


def _client_error(error: urllib.error.HTTPError) -> DomainError:
    if error.code == 451:
        message = (
            f"Binance refuses requests from this region (HTTP 451) at {error.url.split('?')[0]}; "
            "point the BinanceBaseUrl parameter at a host that serves it"
        )
        return UpstreamRefused(message, [FieldError("exchange", message)])
    try:
        payload = json.loads(error.read())
        code, message = payload.get("code"), payload.get("msg", "")
    except (ValueError, AttributeError):
        code, message = None, f"HTTP {error.code}"
    if code == UNKNOWN_SYMBOL_CODE:
        return NotFound(f"Binance: {message}", [FieldError("symbol", f"Binance does not list it ({message})")])
    return ValidationFailed(f"Binance: {message}", [FieldError("binance", f"{message} (code {code})")])


def fetch_historical_data(
    symbol: str, timeframe: str, start: datetime | int, end: datetime | int, client: BinanceClient | None = None
) -> RawCandles:
    """Klines of `symbol` at `timeframe` with open time in [start, end), from Binance (the seed's
    internal `fetch_historical_data`; Binance at BINANCE_BASE_URL when set). Import them with
    CandleImporter.import_raw."""
    client = client or BinanceClient(ExchangeSettings.from_env().binance_base_url)
    return client.fetch_klines(symbol, timeframe, epoch_ms(start), epoch_ms(end))
