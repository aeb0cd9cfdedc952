"""Binance account trade history: signed `GET /api/v3/myTrades`, paged, on `BinanceClient`'s
retrying HTTP (Retry-After on 429/418, backoff on 5xx and network errors, request-weight pacing).

Signing (Binance's SIGNED endpoints): the query string carries `timestamp` (ms) and `recvWindow`,
`signature` is the hex HMAC-SHA256 of that query string keyed with the API secret, appended last;
the API key travels in the `X-MBX-APIKEY` header. Each attempt is signed afresh, so a retry after a
long Retry-After is not refused as stale. Neither the secret nor the key is ever logged.

Paging: Binance lists trades per symbol, at most MY_TRADES_LIMIT (1000) per call. From the first trade
(fromId=0), or from the first trade at or after `start_ms`, which is found by asking day by day
(Binance answers a startTime/endTime range of at most 24 hours, oldest trades first); then by
`fromId` = last id + 1 until a page comes back short.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from adapters.binance import BinanceClient, BinanceUnavailable, Signer
from shared.errors import DomainError, FieldError
from shared.transactions.jobs import ExchangeCredentials

MY_TRADES_PATH = "/api/v3/myTrades"
ACCOUNT_BASE_URL = "https://api.binance.com"
MY_TRADES_LIMIT = 1000
RECV_WINDOW_MS = 10_000
DAY_MS = 86_400_000
API_KEY_HEADER = "X-MBX-APIKEY"


def signer(credentials: ExchangeCredentials, clock: Callable[[], float] = time.time) -> Signer:
    """The Signer of `BinanceClient.get_json` for these credentials."""

    def sign(params: dict[str, Any]) -> tuple[str, dict[str, str]]:
        query = urllib.parse.urlencode({**params, "recvWindow": RECV_WINDOW_MS, "timestamp": int(clock() * 1000)})
        signature = hmac.new(credentials.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        return f"{query}&signature={signature}", {API_KEY_HEADER: credentials.api_key}

    return sign


class BinanceAccountClient:
    """The TradeHistorySource port on Binance."""

    def __init__(
        self, http: BinanceClient | None = None, page_limit: int = MY_TRADES_LIMIT, base_url: str | None = None
    ) -> None:
        # Account endpoints live on the API host only, not on the public market-data mirror.
        self.http = http or BinanceClient(base_url or ACCOUNT_BASE_URL)
        self.page_limit = page_limit

    def my_trades(self, credentials: ExchangeCredentials, symbol: str, start_ms: int | None) -> list[dict[str, Any]]:
        sign = signer(credentials, self.http.clock)
        try:
            from_id = 0 if start_ms is None else self._first_id_since(sign, symbol, start_ms)
            trades: list[dict[str, Any]] = []
            while from_id is not None:
                page = self.http.get_json(
                    MY_TRADES_PATH, {"symbol": symbol, "fromId": from_id, "limit": self.page_limit}, sign
                )
                trades += page
                from_id = int(page[-1]["id"]) + 1 if len(page) == self.page_limit else None
        except BinanceUnavailable as error:
            raise DomainError(f"Binance is unavailable: {error}", [FieldError("exchange", str(error))]) from None
        return trades

    def _first_id_since(self, sign: Signer, symbol: str, start_ms: int) -> int | None:
        now_ms = int(self.http.clock() * 1000)
        window_start = start_ms
        while window_start <= now_ms:
            window_end = min(window_start + DAY_MS - 1, now_ms)
            first = self.http.get_json(
                MY_TRADES_PATH, {"symbol": symbol, "startTime": window_start, "endTime": window_end, "limit": 1}, sign
            )
            if first:
                return int(first[0]["id"])
            window_start += DAY_MS
        return None
