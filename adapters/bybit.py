"""Bybit's public v5 market endpoints (spot and linear perpetuals), paged and polite, standard library only.

- Klines: GET /v5/market/kline?category&symbol&interval&start&end&limit=1000. Bybit answers the
  NEWEST `limit` klines in [start, end] (both inclusive open times), newest first, as
  [startTime, open, high, low, close, volume, turnover] strings; paging moves `end` to the oldest
  open time received minus one, until a page is short or reaches `start`.
- Funding: GET /v5/market/funding/history?category=linear&symbol&startTime&endTime&limit=200, newest
  first, paged by `endTime` the same way.
- Instruments: GET /v5/market/instruments-info?category&symbol: priceFilter.tickSize,
  lotSizeFilter.basePrecision (spot) or qtyStep (linear), minOrderAmt (spot) or minNotionalValue.
- Errors: HTTP 200 with {"retCode", "retMsg"}. retCode 10006 (too many visits) and HTTP 403
  (Bybit's IP limit: 600 requests per 5 s) wait until X-Bapi-Limit-Reset-Timestamp (or back off),
  then retry; HTTP 429 (a throttling front) waits for its Retry-After; 10016 / 10000 (server error, timeout), HTTP 5xx and network errors back off; 10001
  (parameter error: unknown symbol, bad interval) is NotFound for the symbol or ValidationFailed.
  X-Bapi-Limit-Status (requests left in the window) is watched: at 1 or less the client waits for
  the window's reset instead of drawing a 10006.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shared.errors import FieldError, NotFound, UpstreamRefused, ValidationFailed
from shared.market_data.contract import MARKET_LINEAR, MARKET_SPOT
from shared.market_data.funding import FundingRates
from shared.market_data.funding_history import funding_rates
from shared.market_data.instruments import rule_value
from shared.market_data.parsing import OrdinalLocator, RawCandles, parse_kline_rows
from shared.market_data.symbol_rules import SymbolRules

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bybit.com"
KLINE_PATH = "/v5/market/kline"
FUNDING_PATH = "/v5/market/funding/history"
INSTRUMENTS_PATH = "/v5/market/instruments-info"
KLINE_LIMIT = 1000
FUNDING_LIMIT = 200
INTERVALS = {"1m": "1", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "4h": "240", "1d": "D", "1w": "W"}
RATE_LIMITED = 10006
PARAMETER_ERROR = 10001
RETRYABLE_CODES = {RATE_LIMITED, 10000, 10016}  # rate limit, server timeout, server error
MAX_ATTEMPTS = 6
MAX_BACKOFF_S = 30.0
MAX_WAIT_S = 120.0


class BybitUnavailable(UpstreamRefused):
    """Bybit kept failing (rate limits, server errors, network) after every retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [FieldError("exchange", message)])


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None) -> None:
        self.reason = reason
        self.delay = delay


class BybitClient:
    """The ExchangeSource port on Bybit. `sleep` and `clock` are injectable so tests run instantly."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.clock = clock

    def fetch_klines(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, market: str = MARKET_SPOT
    ) -> RawCandles:
        """Every kline with open time in [start_ms, end_ms), oldest first."""
        rows: list[list[Any]] = []
        for page in self._pages(
            KLINE_PATH,
            {"category": market, "symbol": symbol, "interval": INTERVALS[timeframe], "limit": KLINE_LIMIT},
            "start",
            "end",
            start_ms,
            end_ms - 1,
            KLINE_LIMIT,
            lambda item: int(item[0]),
        ):
            rows.extend(page)
        rows.reverse()
        return parse_kline_rows(rows, OrdinalLocator("kline"), "bybit_api")

    def fetch_funding(self, symbol: str, start_ms: int, end_ms: int) -> FundingRates:
        """Linear perpetual funding rates with funding time in [start_ms, end_ms)."""
        items: list[dict[str, Any]] = []
        for page in self._pages(
            FUNDING_PATH,
            {"category": MARKET_LINEAR, "symbol": symbol, "limit": FUNDING_LIMIT},
            "startTime",
            "endTime",
            start_ms,
            end_ms - 1,
            FUNDING_LIMIT,
            lambda item: int(item["fundingRateTimestamp"]),
        ):
            items.extend(page)
        return funding_rates(
            np.array([int(item["fundingRateTimestamp"]) for item in items], dtype=np.int64),
            np.array([float(item["fundingRate"]) for item in items], dtype=np.float64),
        )

    def fetch_symbol_rules(self, symbol: str, market: str = MARKET_SPOT) -> SymbolRules:
        listed = self.get_result(INSTRUMENTS_PATH, {"category": market, "symbol": symbol})["list"]
        info = next((item for item in listed if item.get("symbol") == symbol), None)
        if info is None:
            raise NotFound(f"Bybit does not list {symbol}", [FieldError("symbol", f"Bybit {market} has no {symbol}")])
        lot = info.get("lotSizeFilter", {})
        return SymbolRules(
            tick_size=rule_value(info.get("priceFilter", {}).get("tickSize")),
            lot_size=rule_value(lot.get("qtyStep", lot.get("basePrecision"))),
            min_notional=rule_value(lot.get("minNotionalValue", lot.get("minOrderAmt"))),
        )

    def _pages(
        self,
        path: str,
        params: dict[str, Any],
        start_name: str,
        end_name: str,
        start_ms: int,
        last_ms: int,
        limit: int,
        time_of: Callable[[Any], int],
    ):
        """Pages of a newest-first listing over [start_ms, last_ms], walking `end` back in time."""
        end = last_ms
        while end >= start_ms:
            page = self.get_result(path, {**params, start_name: start_ms, end_name: end})["list"]
            page = [item for item in page if start_ms <= time_of(item) <= end]
            if not page:
                return
            yield page
            oldest = min(time_of(item) for item in page)
            if len(page) < limit:
                return
            end = oldest - 1

    def get_result(self, path: str, params: dict[str, Any]) -> Any:
        """The `result` of a GET, retrying what Bybit says to retry."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._get_once(path, params)
            except _Retry as retry:
                if attempt == self.max_attempts:
                    raise BybitUnavailable(f"Bybit {path} failed {attempt} times, last: {retry.reason}") from None
                delay = retry.delay if retry.delay is not None else min(MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1))
                if delay > MAX_WAIT_S:
                    raise BybitUnavailable(
                        f"Bybit asks to wait {delay:.0f}s ({retry.reason}); try again later"
                    ) from None
                log.warning(
                    "Bybit %s: %s; retrying in %.1fs (attempt %d/%d)",
                    path,
                    retry.reason,
                    delay,
                    attempt,
                    self.max_attempts,
                )
                self.sleep(delay)

    def _get_once(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "backtest-service"})
        try:
            # the base URL is the template's BybitBaseUrl parameter (deployment config, https)
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # nosec B310
                body, headers = response.read(), response.headers
        except urllib.error.HTTPError as error:
            if error.code == 403:  # Bybit's IP rate limit
                raise _Retry("HTTP 403 (IP rate limit)", self._until_reset(error.headers)) from None
            if error.code == 429:  # a throttling front (CDN, gateway): its Retry-After, else the window's reset
                raise _Retry(
                    "HTTP 429 (rate limited)", _retry_after(error.headers) or self._until_reset(error.headers)
                ) from None
            if error.code == 451 or error.code == 401:
                message = f"Bybit refuses requests from this region (HTTP {error.code}); point BybitBaseUrl elsewhere"
                raise UpstreamRefused(message, [FieldError("exchange", message)]) from None
            if error.code >= 500:
                raise _Retry(f"HTTP {error.code}", None) from None
            raise ValidationFailed(
                f"Bybit: HTTP {error.code}", [FieldError("exchange", f"HTTP {error.code}")]
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise _Retry(f"network error: {error}", None) from None
        payload = json.loads(body)
        code, message = payload.get("retCode"), payload.get("retMsg", "")
        if code == 0:
            self._respect_limit(headers)
            return payload["result"]
        if code == RATE_LIMITED:
            raise _Retry(f"retCode {code} {message}", self._until_reset(headers))
        if code in RETRYABLE_CODES:
            raise _Retry(f"retCode {code} {message}", None)
        if code == PARAMETER_ERROR and "symbol" in message.lower():
            symbol = params.get("symbol")
            raise NotFound(f"Bybit: {message}", [FieldError("symbol", f"Bybit does not list {symbol} ({message})")])
        raise ValidationFailed(f"Bybit: {message}", [FieldError("exchange", f"{message} (retCode {code})")])

    def _until_reset(self, headers: Mapping[str, str] | None) -> float | None:
        reset = headers.get("X-Bapi-Limit-Reset-Timestamp") if headers else None
        return None if reset is None else max(0.0, int(reset) / 1000 - self.clock())

    def _respect_limit(self, headers: Mapping[str, str]) -> None:
        left = headers.get("X-Bapi-Limit-Status")
        if left is not None and int(left) <= 1:
            wait = self._until_reset(headers) or 0.0
            log.warning("Bybit request limit reached; waiting %.1fs for the window to reset", wait)
            self.sleep(min(wait, MAX_WAIT_S))


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After in seconds (the delta form HTTP throttling answers carry), None when absent."""
    value = headers.get("Retry-After") if headers else None
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
