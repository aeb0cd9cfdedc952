"""FIFO pairing of fills into round trips (entry -> exit), with partial fills.

Per symbol, fills are taken in time order (ties in the order given). A fill first closes open lots
of the opposite direction, oldest first; whatever is left opens a new lot in its own direction. So
a buy of 1.0 closed by sells of 0.4 and 0.6 gives two round trips of 0.4 and 0.6 from the same
entry; buys of 0.5 @ 100 and 0.5 @ 110 closed by one sell of 1.0 @ 120 give 0.5 (100 -> 120) and
0.5 (110 -> 120); a sell with nothing open opens a short, closed by later buys. Lots still open
at the end of the history are open round trips.

Fees are valued in the quote asset: a fee in the quote asset as is, a fee in the base asset at
the fill's price. A base-asset fee also changes how much of the asset the fill moves (Binance
takes a buy's fee from the coins bought): a buy of q with fee f opens q - f, a sell of q with fee
f disposes of q + f, so the round trips' pnl equals the cash that actually changed hands. A fee
in a third asset (BNB) cannot be valued without its price: it is left out of pnl and reported in
`unconverted_fees`. Each round trip carries the share of its entry and exit fills' fees that
matches its quantity.

Quantities are matched in decimal arithmetic (the values as written), so 0.1 + 0.2 closes 0.3
exactly and no dust lots appear from binary rounding.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from shared.transactions.jobs import ReplayFill
from shared.transactions.model import BUY, split_symbol

LONG, SHORT = "long", "short"


@dataclass(frozen=True)
class RoundTrip:
    """A quantity opened by one fill and closed by another (or still open: no exit)."""

    symbol: str
    side: str  # long | short
    quantity: float
    entry_time_ms: int
    entry_price: float
    entry_fee: float  # quote asset
    entry_transaction_id: str
    exit_time_ms: int | None = None
    exit_price: float | None = None
    exit_fee: float = 0.0
    exit_transaction_id: str | None = None
    unconverted_fees: dict[str, float] = field(default_factory=dict)  # asset -> amount, not in pnl

    @property
    def direction(self) -> int:
        return 1 if self.side == LONG else -1

    @property
    def is_open(self) -> bool:
        return self.exit_time_ms is None

    @property
    def pnl(self) -> float | None:
        """Realised profit in the quote asset after both fees; None while open."""
        if self.exit_price is None:
            return None
        return self.direction * self.quantity * (self.exit_price - self.entry_price) - self.entry_fee - self.exit_fee


@dataclass
class _Side:
    """One fill's part in the pairing: units it moves and its fees, apportioned as it is consumed."""

    fill: ReplayFill
    direction: int
    units: Decimal  # base units moved, net of a base-asset fee
    fee_value: Decimal  # quote asset
    unconverted: tuple[str, Decimal] | None
    remaining: Decimal

    def share(self, taken: Decimal) -> tuple[float, dict[str, float]]:
        """The fees of `taken` of this fill's units."""
        part = taken / self.units
        other = {self.unconverted[0]: float(self.unconverted[1] * part)} if self.unconverted else {}
        return float(self.fee_value * part), other


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _side(fill: ReplayFill) -> _Side:
    direction = 1 if fill.side == BUY else -1
    price, quantity, fee = _decimal(fill.price), _decimal(fill.quantity), _decimal(fill.fee)
    base, quote = split_symbol(fill.symbol) or (None, None)
    units, fee_value, unconverted = quantity, Decimal(0), None
    if fee and fill.fee_asset not in (None, quote):
        if fill.fee_asset == base:
            units = quantity - direction * fee
            fee_value = fee * price
        else:
            unconverted = (fill.fee_asset, fee)
    else:
        fee_value = fee
    return _Side(fill, direction, units, fee_value, unconverted, units)


def pair_round_trips(fills: Iterable[ReplayFill]) -> list[RoundTrip]:
    """Round trips of every symbol, ordered by entry time (then exit time, open ones last)."""
    by_symbol: dict[str, list[ReplayFill]] = defaultdict(list)
    for fill in fills:
        by_symbol[fill.symbol].append(fill)
    trips = [trip for symbol_fills in by_symbol.values() for trip in _pair_symbol(symbol_fills)]
    return sorted(trips, key=lambda t: (t.entry_time_ms, t.exit_time_ms is None, t.exit_time_ms or 0))


def _pair_symbol(fills: Sequence[ReplayFill]) -> list[RoundTrip]:
    open_lots: deque[_Side] = deque()
    trips = []
    for fill in sorted(fills, key=lambda f: f.time_ms):
        incoming = _side(fill)
        while incoming.remaining > 0 and open_lots and open_lots[0].direction == -incoming.direction:
            lot = open_lots[0]
            taken = min(incoming.remaining, lot.remaining)
            trips.append(_closed(lot, incoming, taken))
            lot.remaining -= taken
            incoming.remaining -= taken
            if lot.remaining == 0:
                open_lots.popleft()
        if incoming.remaining > 0:
            open_lots.append(incoming)
    trips.extend(_opened(lot, lot.remaining) for lot in open_lots)
    return trips


def _opened(lot: _Side, quantity: Decimal) -> RoundTrip:
    fee, unconverted = lot.share(quantity)
    fill = lot.fill
    return RoundTrip(
        symbol=fill.symbol,
        side=LONG if lot.direction > 0 else SHORT,
        quantity=float(quantity),
        entry_time_ms=fill.time_ms,
        entry_price=float(fill.price),
        entry_fee=fee,
        entry_transaction_id=fill.id,
        unconverted_fees=unconverted,
    )


def _closed(lot: _Side, closing: _Side, quantity: Decimal) -> RoundTrip:
    entry = _opened(lot, quantity)
    exit_fee, exit_unconverted = closing.share(quantity)
    unconverted = dict(entry.unconverted_fees)
    for asset, amount in exit_unconverted.items():
        unconverted[asset] = unconverted.get(asset, 0.0) + amount
    return RoundTrip(
        **{
            **vars(entry),
            "exit_time_ms": closing.fill.time_ms,
            "exit_price": float(closing.fill.price),
            "exit_fee": exit_fee,
            "exit_transaction_id": closing.fill.id,
            "unconverted_fees": unconverted,
        }
    )


def capital_needed(trips: Sequence[RoundTrip]) -> float:
    """The cash the round trips needed: the most ever tied up in open positions (entry notional
    plus entry fee) net of the profit realised before (exits first at the same millisecond). The
    default initial balance of a replay, so that its equity is the trader's own account."""
    events: list[tuple[int, int, float]] = []
    for trip in trips:
        events.append((trip.entry_time_ms, 1, trip.quantity * trip.entry_price + trip.entry_fee))
        if trip.exit_time_ms is not None and trip.pnl is not None:
            events.append((trip.exit_time_ms, 0, -(trip.quantity * trip.entry_price + trip.entry_fee) - trip.pnl))
    needed = peak = 0.0
    for _, _, change in sorted(events, key=lambda event: event[:2]):
        needed += change
        peak = max(peak, needed)
    return peak
