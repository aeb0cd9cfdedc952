"""A trader's own fills as the service keeps them, and the identity that makes imports idempotent.

A transaction is one fill (a trade on an exchange), whatever way it came in. It is identified by
(owner, exchange, symbol, transaction_id): Binance numbers trades per symbol, so the symbol is
part of the identity. Its `id` is a UUID derived from that identity (version 5), so importing the
same fill twice yields the same id, and the store refuses the second copy.

Fills without an exchange id (Binance's trade-history export has none) get a `transaction_id`
derived from their content: the hash of time, symbol, side, price, quantity and fee, plus the
fill's rank among identical rows of the same file, so re-importing a file maps every row to the
same id again while two genuinely identical fills in one file stay two transactions.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

BUY, SELL = "buy", "sell"
SIDES = (BUY, SELL)
TRADE = "trade"  # transaction_type of every imported fill (deposits, transfers are not imported)

# Quote assets, longest first so that `BTCUSDT` splits as BTC/USDT and not BTCUSD/T.
QUOTE_ASSETS = tuple(
    sorted(
        (
            "USDT",
            "USDC",
            "FDUSD",
            "BUSD",
            "TUSD",
            "USDP",
            "DAI",
            "USD",
            "BTC",
            "ETH",
            "BNB",
            "EUR",
            "GBP",
            "TRY",
            "BRL",
            "AUD",
            "JPY",
            "RUB",
            "UAH",
            "IDR",
            "ZAR",
            "PLN",
            "RON",
            "ARS",
            "MXN",
            "CZK",
            "INR",
            "XRP",
            "TRX",
            "DOGE",
        ),
        key=len,
        reverse=True,
    )
)

_ID_NAMESPACE = uuid.UUID("6f1c3a52-8a4e-4d47-9d1b-6a3f0f2c7e10")


def split_symbol(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of a pair such as BTCUSDT; None when no known quote asset ends it."""
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return None


@dataclass(frozen=True)
class Fill:
    """One fill as read from a file or an exchange. Prices in the quote asset; `fee` in `fee_asset`."""

    exchange: str
    transaction_id: str
    symbol: str
    side: str  # buy | sell
    price: float
    quantity: float  # base asset, > 0
    fee: float
    fee_asset: str | None  # None: the quote asset
    time_ms: int  # epoch milliseconds, UTC
    transaction_type: str = TRADE

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.exchange, self.symbol, self.transaction_id


def transaction_uuid(owner_id: str, exchange: str, symbol: str, transaction_id: str) -> str:
    """The stored id of a fill: the same for every import of it by the same owner."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{owner_id}\x1f{exchange}\x1f{symbol}\x1f{transaction_id}"))


def content_transaction_id(
    time_ms: int, symbol: str, side: str, price: float, quantity: float, fee: float, fee_asset: str | None, rank: int
) -> str:
    """The transaction_id of a fill its source did not number: `row-` + a hash of its content and
    its rank among identical rows (0 for the first)."""
    text = f"{time_ms}|{symbol}|{side}|{price!r}|{quantity!r}|{fee!r}|{fee_asset or ''}|{rank}"
    return "row-" + hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, kw_only=True)
class Transaction(Fill):
    """A stored fill: its owner, its id, the import that brought it and whether a replay used it."""

    id: str
    owner_id: str
    import_id: str
    created_at: datetime
    is_replayed: bool = False

    @classmethod
    def of(cls, fill: Fill, owner_id: str, import_id: str, created_at: datetime) -> Transaction:
        return cls(
            **vars(fill),
            id=transaction_uuid(owner_id, *fill.identity),
            owner_id=owner_id,
            import_id=import_id,
            created_at=created_at,
        )
