"""FIFO pairing of fills into round trips, partial fills included; every expectation computed by hand."""

from __future__ import annotations

import pytest

from shared.transactions.jobs import ReplayFill
from shared.transactions.pairing import LONG, SHORT, RoundTrip, capital_needed, pair_round_trips


def fill(
    id_: str,
    side: str,
    price: float,
    quantity: float,
    time_ms: int,
    fee: float = 0.0,
    fee_asset: str | None = "USDT",
    symbol: str = "BTCUSDT",
) -> ReplayFill:
    return ReplayFill(
        id=id_, symbol=symbol, side=side, price=price, quantity=quantity, fee=fee, fee_asset=fee_asset, time_ms=time_ms
    )


def summary(trips: list[RoundTrip]) -> list[tuple]:
    return [
        (t.side, t.quantity, t.entry_transaction_id, t.exit_transaction_id, t.entry_price, t.exit_price) for t in trips
    ]


def test_one_buy_closed_by_two_partial_sells_gives_two_round_trips_sharing_the_entry_fee():
    # Given a buy of 1.0 @ 100 (fee 0.1 USDT) and sells of 0.4 @ 110 (fee 0.044) and 0.6 @ 120 (fee 0.072)
    trips = pair_round_trips(
        [
            fill("b", "buy", 100, 1.0, 1, fee=0.1),
            fill("s1", "sell", 110, 0.4, 2, fee=0.044),
            fill("s2", "sell", 120, 0.6, 3, fee=0.072),
        ]
    )
    # Then the entry's fee splits 0.04 / 0.06, and pnl = q * (exit - entry) - fees
    assert summary(trips) == [(LONG, 0.4, "b", "s1", 100.0, 110.0), (LONG, 0.6, "b", "s2", 100.0, 120.0)]
    assert [t.entry_fee for t in trips] == pytest.approx([0.04, 0.06], abs=1e-15)
    assert [t.exit_fee for t in trips] == pytest.approx([0.044, 0.072], abs=1e-15)
    assert [t.pnl for t in trips] == pytest.approx([0.4 * 10 - 0.04 - 0.044, 0.6 * 20 - 0.06 - 0.072], abs=1e-12)
    assert [t.pnl for t in trips] == pytest.approx([3.916, 11.868], abs=1e-12)


def test_two_buys_closed_by_one_sell_oldest_first():
    trips = pair_round_trips(
        [fill("b1", "buy", 100, 0.5, 1), fill("b2", "buy", 110, 0.5, 2), fill("s", "sell", 120, 1.0, 3)]
    )
    assert summary(trips) == [(LONG, 0.5, "b1", "s", 100.0, 120.0), (LONG, 0.5, "b2", "s", 110.0, 120.0)]
    assert [t.pnl for t in trips] == [10.0, 5.0]


def test_a_sell_with_nothing_open_opens_a_short_that_later_buys_close():
    trips = pair_round_trips(
        [fill("s", "sell", 200, 2.0, 1), fill("b1", "buy", 190, 1.5, 2), fill("b2", "buy", 210, 0.5, 3)]
    )
    assert summary(trips) == [(SHORT, 1.5, "s", "b1", 200.0, 190.0), (SHORT, 0.5, "s", "b2", 200.0, 210.0)]
    assert [t.pnl for t in trips] == [15.0, -5.0]  # -1 * q * (exit - entry)


def test_a_sell_larger_than_the_position_closes_it_and_opens_a_short_with_the_rest():
    trips = pair_round_trips([fill("b", "buy", 100, 1.0, 1), fill("s", "sell", 105, 1.5, 2, fee=0.15)])
    assert summary(trips) == [(LONG, 1.0, "b", "s", 100.0, 105.0), (SHORT, 0.5, "s", None, 105.0, None)]
    # the sell's fee is shared by quantity: 1.0 of 1.5 closes, 0.5 opens
    assert (trips[0].exit_fee, trips[1].entry_fee) == pytest.approx((0.1, 0.05), abs=1e-15)
    assert trips[1].is_open and trips[1].pnl is None


def test_what_is_left_open_at_the_end_is_an_open_round_trip():
    trips = pair_round_trips([fill("b", "buy", 100, 1.0, 1), fill("s", "sell", 110, 0.25, 2)])
    assert summary(trips) == [(LONG, 0.25, "b", "s", 100.0, 110.0), (LONG, 0.75, "b", None, 100.0, None)]
    assert trips[1].exit_time_ms is None


def test_a_base_asset_fee_shrinks_what_a_buy_opens_so_no_dust_is_left_and_pnl_is_the_cash_made():
    # Given a buy of 1 BTC @ 100 paying 0.001 BTC (so 0.999 BTC arrive), sold whole @ 110 paying 0.10989 USDT
    trips = pair_round_trips(
        [fill("b", "buy", 100, 1.0, 1, fee=0.001, fee_asset="BTC"), fill("s", "sell", 110, 0.999, 2, fee=0.10989)]
    )
    # Then one round trip of 0.999, entry fee 0.001 BTC valued at 100 = 0.1 USDT
    assert summary(trips) == [(LONG, 0.999, "b", "s", 100.0, 110.0)]
    assert trips[0].entry_fee == pytest.approx(0.1, abs=1e-15)
    # pnl = cash out - cash in = (0.999 * 110 - 0.10989) - 100 * 1
    assert trips[0].pnl == pytest.approx(0.999 * 110 - 0.10989 - 100, abs=1e-12)


def test_a_sell_paying_its_fee_in_the_base_asset_disposes_of_quantity_plus_fee():
    trips = pair_round_trips(
        [fill("b", "buy", 100, 1.0, 1), fill("s", "sell", 110, 0.99, 2, fee=0.01, fee_asset="BTC")]
    )
    assert summary(trips) == [(LONG, 1.0, "b", "s", 100.0, 110.0)]
    assert trips[0].pnl == pytest.approx(0.99 * 110 - 100, abs=1e-12)  # received 108.9 for 100 spent


def test_fees_in_a_third_asset_are_reported_not_counted():
    trips = pair_round_trips(
        [
            fill("b", "buy", 100, 1.0, 1, fee=0.002, fee_asset="BNB"),
            fill("s", "sell", 110, 0.5, 2, fee=0.001, fee_asset="BNB"),
        ]
    )
    assert [t.unconverted_fees for t in trips] == [{"BNB": pytest.approx(0.002)}, {"BNB": pytest.approx(0.001)}]
    assert trips[0].pnl == 5.0 and trips[0].entry_fee == 0.0


def test_quantities_match_in_decimal_so_no_binary_rounding_dust_remains():
    trips = pair_round_trips(
        [fill("b1", "buy", 100, 0.1, 1), fill("b2", "buy", 100, 0.2, 2), fill("s", "sell", 100, 0.3, 3)]
    )
    assert [t.quantity for t in trips] == [0.1, 0.2] and not any(t.is_open for t in trips)


def test_symbols_pair_separately_fills_at_one_time_keep_their_order_trips_sort_by_entry_then_exit():
    trips = pair_round_trips(
        [
            fill("e1", "buy", 10, 1, 5, symbol="ETHUSDT"),
            fill("b1", "buy", 100, 1, 5),
            fill("b2", "sell", 101, 1, 5),
            fill("e2", "sell", 12, 1, 6, symbol="ETHUSDT"),
        ]
    )
    assert [(t.symbol, t.entry_transaction_id, t.exit_transaction_id) for t in trips] == [
        ("BTCUSDT", "b1", "b2"),
        ("ETHUSDT", "e1", "e2"),
    ]


def test_capital_needed_is_the_most_cash_tied_up_net_of_profit_realised_before():
    # 1.0 @ 100 (+0.1 fee) open from t1; 1.0 @ 120 from t2 -> 220.1 tied up; the first closes at t3
    # with +19.9, freeing 100.1 + 19.9; a buy at t4 of 2 @ 130 ties 260 more: 120 + 260 - 19.9 = 360.1
    trips = pair_round_trips(
        [
            fill("a", "buy", 100, 1, 1, fee=0.1),
            fill("b", "buy", 120, 1, 2),
            fill("c", "sell", 120, 1, 3),
            fill("d", "buy", 130, 2, 4),
        ]
    )
    assert capital_needed(trips) == pytest.approx(360.1, abs=1e-9)
