"""Trade ids that name their backtest, so trades need no table of their own.

A backtest's trades live in one Parquet object (see `adapters.repositories.trades`); giving each of
100k trades an item only so `GET /trades/{id}` can find it would cost 100k writes per backtest.
Instead a trade id is an RFC 9562 version-8 (custom) UUID:

    bits 127..64  the backtest id's high 64 bits, version nibble replaced by 8  -> the backtest's `trade_key`
    bits  63..62  the RFC 9562 variant (0b10)
    bits  61..0   the trade's sequence number in its backtest (0-based, entry order)

The backtests table indexes `trade_key` (the high 64 bits with the version nibble zeroed), so a
trade id resolves to its backtest with one index query. Ids are deterministic: persisting the
same trades again yields the same ids, and event producers can name a trade before it is stored.
"""

from __future__ import annotations

import uuid

_VERSION_SHIFT = 76  # the version nibble of a UUID, counted from its least significant bit
_VERSION_MASK = 0xF << _VERSION_SHIFT
_LOW_BITS = 64
_VARIANT = 0b10 << 62
_SEQ_MASK = (1 << 62) - 1
_TRADE_VERSION = 8


def trade_key(backtest_id: str) -> str:
    """The 16 hex digits every trade id of this backtest starts with (version nibble zeroed)."""
    high = (uuid.UUID(backtest_id).int & ~_VERSION_MASK) >> _LOW_BITS
    return f"{high:016x}"


def trade_id(backtest_id: str, seq: int) -> str:
    if not 0 <= seq <= _SEQ_MASK:
        raise ValueError(f"trade sequence number out of range: {seq}")
    high = (uuid.UUID(backtest_id).int & ~_VERSION_MASK) | (_TRADE_VERSION << _VERSION_SHIFT)
    return str(uuid.UUID(int=(high >> _LOW_BITS << _LOW_BITS) | _VARIANT | seq))


def parse_trade_id(value: str) -> tuple[str, int] | None:
    """(trade_key, seq) of a trade id; None for anything that is not one."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    if parsed.version != _TRADE_VERSION or parsed.int & (0b11 << 62) != _VARIANT:
        return None
    high = (parsed.int & ~_VERSION_MASK) >> _LOW_BITS
    return f"{high:016x}", parsed.int & _SEQ_MASK
