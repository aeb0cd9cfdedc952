"""Kinds of backtest run: what the state machine's Prepare, Compute and Stitch steps do for a backtest.

The workflow (`shared.backtests.workflow`) chooses one `RunKind` per backtest and asks it; the
status checks, progress and events stay with the workflow, Persist, Notify and Fail are the same
for every kind (they read what Stitch stored in the `RunStore`).

- `ChunkedRun`, a strategy over candles: Prepare pins the candle series and plans chunks
  (`RunPlan`, partials/<id>/plan.json); each Compute runs `compute_chunk` on its window; Stitch
  turns the chunks into the single-pass result.
- A replay of a user's transactions (`shared.transactions.replays.ReplayRun`): one chunk whose
  Compute replays the trades and stores them as Stitch would; Stitch only reads them back.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from shared.backtest_settings import BacktestSettings
from shared.backtests.equity import EquitySeries
from shared.backtests.execution import (
    backtest_settings,
    check_fine_cover,
    check_intrabar,
    checked_funding,
    symbol_rules,
)
from shared.backtests.model import Backtest
from shared.backtests.ports import Computed, Planned, RunStore, Stitched
from shared.engine.chunks import ChunkSpan, chunk_count, compute_chunk, plan_chunks, stitch
from shared.engine.positions import MarketData
from shared.engine.result import BacktestResult
from shared.errors import FieldError, ValidationFailed
from shared.market_data.funding import FundingRates
from shared.market_data.ports import CandleStore, FundingStore, SymbolRulesStore
from shared.market_data.query import choose_source, derivable_timeframes, read_series, stored_series
from shared.market_data.store import SeriesManifest
from shared.market_data.symbol_rules import SymbolRules
from shared.strategy import validate_strategy


def stitched_document(result: BacktestResult) -> dict[str, Any]:
    """Balance, summary and the final `metrics_update` payload of a stitched result: the balance
    realised by closed trades, the equity with any open position marked at the last close, and
    the drawdown from the equity's peak at the end."""
    equity = result.equity_curve
    peak, final = float(np.max(equity)), float(equity[-1])
    closed = ~result.trades.is_open
    return {
        "final_balance": result.final_balance,
        "performance_summary": result.performance_summary,
        "metrics": {
            "current_balance": result.initial_balance + float(result.trades.pnl[closed].sum()),
            "equity": final,
            "drawdown": peak - final,
            "drawdown_percentage": 100.0 * (peak - final) / peak if peak > 0 else 0.0,
            "open_positions": int(np.count_nonzero(~closed)),
        },
    }


def store_stitched(runs: RunStore, backtest_id: str, result: BacktestResult, equity: EquitySeries) -> None:
    """What Persist and Notify read: the trades, their document and the equity series."""
    runs.put_stitched(backtest_id, result.trades, stitched_document(result))
    runs.put_equity(backtest_id, equity)


# ---------------------------------------------------------------- a strategy over candles, in chunks
@dataclass(frozen=True)
class RunPlan:
    """What Prepare decides and every later step reads (partials/<id>/plan.json)."""

    backtest_id: str
    owner_id: str
    strategy: dict[str, Any]  # the backtest's strategy snapshot, validated
    settings: BacktestSettings
    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    source: SeriesManifest  # the stored series, pinned: every step reads these month objects
    n_bars: int
    chunks: tuple[ChunkSpan, ...]
    read_from_ms: tuple[int, ...]  # open time of each chunk's first bar read (its warm-up start)
    end_before_ms: tuple[int, ...]  # open time of the bar after each chunk (end_ms for the last)
    symbol_rules: SymbolRules = SymbolRules()  # the exchange rules applied (metadata.exchange)
    fine_source: SeriesManifest | None = None  # the finer candles pinned (metadata.intrabar_timeframe)

    def to_json(self) -> bytes:
        document = {
            "symbol_rules": asdict(self.symbol_rules),
            "fine_source": json.loads(self.fine_source.to_json()) if self.fine_source else None,
            "backtest_id": self.backtest_id,
            "owner_id": self.owner_id,
            "strategy": self.strategy,
            "settings": asdict(self.settings),
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "source": json.loads(self.source.to_json()),
            "n_bars": self.n_bars,
            "chunks": [asdict(span) for span in self.chunks],
            "read_from_ms": list(self.read_from_ms),
            "end_before_ms": list(self.end_before_ms),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RunPlan:
        document = json.loads(data)
        return cls(
            backtest_id=document["backtest_id"],
            owner_id=document["owner_id"],
            strategy=document["strategy"],
            settings=BacktestSettings(**document["settings"]),
            symbol=document["symbol"],
            timeframe=document["timeframe"],
            start_ms=document["start_ms"],
            end_ms=document["end_ms"],
            source=SeriesManifest.from_json(json.dumps(document["source"]).encode(), version=None),
            n_bars=document["n_bars"],
            chunks=tuple(ChunkSpan(**span) for span in document["chunks"]),
            read_from_ms=tuple(document["read_from_ms"]),
            end_before_ms=tuple(document["end_before_ms"]),
            symbol_rules=SymbolRules(**document["symbol_rules"]),
            fine_source=None
            if document["fine_source"] is None
            else SeriesManifest.from_json(json.dumps(document["fine_source"]).encode(), version=None),
        )


@dataclass
class ChunkedRun:
    """A strategy over a symbol's candles, computed in parallel chunks and stitched into the exact
    single-pass result (`shared.engine.chunks`)."""

    runs: RunStore
    candles: CandleStore
    bars_per_chunk: int
    funding: FundingStore | None = None  # funding rates (metadata.funding)
    symbol_rules: SymbolRulesStore | None = None  # exchange rules (metadata.exchange)

    def claims(self, backtest: Backtest) -> bool:
        return True  # every backtest no other kind claims

    def plan(self, backtest: Backtest) -> Planned:
        """Validate the strategy snapshot and settings, pin the candles (and finer candles,
        funding) and split the bars into chunks; ValidationFailed naming the field otherwise."""
        strategy = validate_strategy(backtest.strategy)
        settings = backtest_settings(backtest.initial_balance, backtest.timeframe, backtest.metadata)
        rules = symbol_rules(backtest.symbol, backtest.metadata, self._stored_rules)
        start_ms, end_ms = _epoch_ms(backtest.start_time), _epoch_ms(backtest.end_time)
        series = stored_series(self.candles, backtest.symbol)
        source = choose_source(series, backtest.symbol, backtest.timeframe, start_ms, end_ms)
        ts = read_series(self.candles, source, backtest.timeframe, start_ms, end_ms).ts
        if len(ts) == 0:
            raise ValidationFailed(
                "no candles in the requested range",
                [
                    FieldError(
                        "start_time",
                        f"no {backtest.symbol} {backtest.timeframe} candles between the start and end times",
                    )
                ],
            )
        fine_source = None
        if settings.intrabar_timeframe is not None:
            check_intrabar(backtest.symbol, settings, derivable_timeframes(set(series)))
            fine_source = choose_source(series, backtest.symbol, settings.intrabar_timeframe, start_ms, end_ms)
            fine_ts = read_series(self.candles, fine_source, settings.intrabar_timeframe, start_ms, end_ms).ts
            check_fine_cover(backtest.symbol, settings, int(ts[0]), int(ts[-1]), fine_ts)
        if settings.funding:
            self._funding_rates(backtest.symbol, start_ms, end_ms)
        spans = plan_chunks(
            strategy, len(ts), chunk_count(len(ts), self.bars_per_chunk, backtest.metadata.get("chunks"))
        )
        plan = RunPlan(
            backtest_id=backtest.id,
            owner_id=backtest.owner_id,
            strategy=backtest.strategy,
            settings=settings,
            symbol=backtest.symbol,
            timeframe=backtest.timeframe,
            start_ms=start_ms,
            end_ms=end_ms,
            source=source,
            n_bars=len(ts),
            chunks=tuple(spans),
            read_from_ms=tuple(int(ts[span.read_bar]) for span in spans),
            end_before_ms=tuple(int(ts[span.end_bar]) if span.end_bar < len(ts) else end_ms for span in spans),
            symbol_rules=rules,
            fine_source=fine_source,
        )
        return Planned(len(spans), f"planned {len(spans)} chunk(s) over {len(ts)} bars", plan.to_json())

    def compute(self, backtest: Backtest, index: int) -> Computed:
        """Chunk `index`: read its window, compute, store the result (NotFound without a plan)."""
        plan = RunPlan.from_json(self.runs.plan(backtest.id))
        started = time.perf_counter()
        window = read_series(
            self.candles, plan.source, plan.timeframe, plan.read_from_ms[index], plan.end_before_ms[index]
        )
        market = self._market(plan, plan.read_from_ms[index], plan.end_before_ms[index], with_funding=False)
        read = time.perf_counter()
        result = compute_chunk(validate_strategy(plan.strategy), window, plan.chunks[index], plan.settings, market)
        seconds = time.perf_counter() - read
        self.runs.put_chunk(backtest.id, result, seconds)
        done = self.runs.chunks_done(backtest.id)
        return Computed(
            done,
            len(plan.chunks),
            f"computed {done} of {len(plan.chunks)} chunk(s)",
            {
                "candidates": len(result.candidates),
                "read_seconds": round(read - started, 6),
                "compute_seconds": round(seconds, 6),
            },
        )

    def discard(self, backtest_id: str, index: int, now: Backtest | None) -> None:
        """The chunk finished after a cancel (which may have cleaned up before this write)."""
        self.runs.delete_chunk(backtest_id, index)

    def stitch(self, backtest: Backtest) -> Stitched:
        """The single-pass result from the chunks, stored for Persist and Notify."""
        plan = RunPlan.from_json(self.runs.plan(backtest.id))
        loaded = [self.runs.chunk(backtest.id, span.index) for span in plan.chunks]
        candles = read_series(self.candles, plan.source, plan.timeframe, plan.start_ms, plan.end_ms)
        if len(candles) != plan.n_bars:
            raise ValueError(f"the pinned candles changed: {len(candles)} bars, planned {plan.n_bars}")
        strategy = validate_strategy(plan.strategy)
        started = time.perf_counter()
        market = self._market(plan, plan.start_ms, plan.end_ms, with_funding=plan.settings.funding)
        result = stitch(candles, [chunk for chunk, _ in loaded], strategy.config, plan.settings, market)
        stitch_seconds = time.perf_counter() - started
        store_stitched(
            self.runs, backtest.id, result, EquitySeries.of(result.equity_curve, candles, plan.settings.initial_balance)
        )
        return Stitched(
            len(result.trades), result.final_balance, tuple(seconds for _, seconds in loaded), stitch_seconds
        )

    # ------------------------------------------------------------ market data beyond candles
    def _stored_rules(self, symbol: str, exchange: str, market: str) -> SymbolRules | None:
        if self.symbol_rules is None:
            raise RuntimeError("this workflow has no symbol-rules store")
        return self.symbol_rules.get_rules(symbol, exchange, market)

    def _funding_rates(self, symbol: str, start_ms: int, end_ms: int) -> FundingRates:
        if self.funding is None:
            raise RuntimeError("this workflow has no funding store")
        return checked_funding(symbol, self.funding.get_funding(symbol, start_ms, end_ms), start_ms, end_ms)

    def _market(self, plan: RunPlan, start_ms: int, end_ms: int, with_funding: bool) -> MarketData:
        """Exchange rules, funding (the stitch sizes positions) and finer candles of a range."""
        fine = None
        if plan.fine_source is not None and plan.settings.intrabar_timeframe is not None:
            fine = read_series(self.candles, plan.fine_source, plan.settings.intrabar_timeframe, start_ms, end_ms)
        funding = self._funding_rates(plan.symbol, plan.start_ms, plan.end_ms) if with_funding else None
        return MarketData(rules=plan.symbol_rules, funding=funding, fine=fine)


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
