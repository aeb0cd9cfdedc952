"""Chunked execution of one backtest: chunks computed in parallel, stitched into exactly the
result of a single pass of `run_backtest` over the whole range.

A chunk owns the bars [first_bar, end_bar) and the candidate trades that fill there. In parallel,
each chunk (`compute_chunk`) evaluates the rules on its bars plus the warm-up before them, finds
its candidates and resolves every exit that happens inside the chunk (the heavy, vectorised
work), links each candidate to the next one it leaves room for (`next_candidates`), and follows
its own chain from its first candidate. It also notes the first exit signal at or after the bar
before it: the exit of a position that enters the chunk still open.

Stitching (`stitch`) is sequential and short. A candidate's exit never depends on earlier trades
(see `exits`), so the only state one chunk hands the next is where the trade chain enters it:
- flat (the last trade closed before the chunk): the chain starts at the chunk's first candidate,
  which is exactly the chunk's own chain, already followed;
- a trade that closes at bar e inside the chunk: the chain continues at the first candidate
  filling after e; chains merge (`chain`), so following pointers from there soon lands on a
  candidate of the chunk's own chain, the resynchronisation point, after which the own chain is
  taken as computed. Only the few trades before that point are replayed;
- a trade still open when the chunk ends: its exit is the first exit signal of a later chunk or
  a stop before it, resolved by `resolve_exits` on that one candidate (the same function the
  single pass runs on it, so the same bar, price and reason).
The stitched chain then goes through `settle_chain`, the single pass's own sizing, equity curve,
trades and metrics: identical inputs, identical result.

Warm-up. Rules at the bar before the chunk must equal the single pass's, so a chunk reads
`Strategy.lookback` bars before it, rounded down to the indicator kernels' prefix-sum block
grid: window sums restart every block counted from the first bar read, so only a read starting on
the single pass's grid reproduces its sums bit for bit (and its comparisons on flat stretches,
where rounding decides them). Recursive filters (EMA, RSI, MACD, ATR, ADX) and OBV never forget
exactly: on a flat or one-sided stretch an RSI keeps the ratio of gains it had hours earlier, so
for them a chunk reads from the backtest's first bar (its indicator pass then differs from the
single pass only by the rounding of the blocked scans, a few ulps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.backtest_settings import BacktestSettings
from shared.candles import Candles
from shared.engine.chain import follow_chain, next_candidates
from shared.engine.exits import CandidateExits, resolve_exits
from shared.engine.positions import (
    SIGNAL_NAMES,
    Book,
    MarketData,
    Position,
    Sizer,
    needs_positions,
    own_chain,
    positions_from_arrays,
    positions_to_arrays,
    shifted,
    walk,
)
from shared.engine.result import BacktestResult
from shared.engine.rules import EngineRules
from shared.engine.simulate import settle_chain, settle_walk
from shared.indicators._kernels import _PREFIX_BLOCK  # the window-sum block grid a warm-up must keep
from shared.strategy import Signals, Strategy, StrategyConfig

NO_SIGNAL = -1


@dataclass(frozen=True)
class ChunkSpan:
    """Bars (global indices into the backtest's candles) a chunk owns and reads."""

    index: int
    first_bar: int
    end_bar: int  # exclusive
    read_bar: int  # first bar read: the warm-up starts here

    def __post_init__(self) -> None:
        if not 0 <= self.read_bar <= self.first_bar < self.end_bar:
            raise ValueError(f"invalid chunk span {self}")


def chunk_count(n_bars: int, bars_per_chunk: int, forced: int | None = None) -> int:
    """How many chunks `n_bars` candles are split into: `forced` (a backtest's `metadata.chunks`)
    or one per `bars_per_chunk` bars, never more than there are bars."""
    if n_bars < 1:
        raise ValueError("a backtest needs at least one bar")
    wanted = forced if forced is not None else math.ceil(n_bars / bars_per_chunk)
    return max(1, min(wanted, n_bars))


def plan_chunks(strategy: Strategy, n_bars: int, count: int) -> list[ChunkSpan]:
    """`count` contiguous chunks of near-equal size covering [0, n_bars), each with its warm-up."""
    bounds = [round(i * n_bars / count) for i in range(count + 1)]
    return [ChunkSpan(i, bounds[i], bounds[i + 1], warmup_start(strategy, bounds[i])) for i in range(count)]


def warmup_start(strategy: Strategy, first_bar: int) -> int:
    """The first bar a chunk starting at `first_bar` must read (see the module docstring).

    Rules are needed from bar first_bar - 1 (its entry signal fills at first_bar); a value at
    bar t depends on bars t - lookback + 1 .. t.
    """
    lookback = strategy.lookback
    if first_bar == 0 or lookback is None or _remembers_everything(strategy):
        return 0
    grid = max(_PREFIX_BLOCK, 1 << max(0, lookback - 1).bit_length())
    return max(0, (first_bar - lookback) // grid * grid)


def _remembers_everything(strategy: Strategy) -> bool:
    """True when a series depends on every earlier bar (a recursive filter or a running sum):
    its memory is unbounded or longer than its window (warm-up + 1)."""
    return strategy.lookback is None or any(
        ref.memory is None or ref.memory > ref.warmup + 1 for ref in strategy.series()
    )


@dataclass(frozen=True, eq=False)
class ChunkResult:
    """What a chunk hands to the stitcher; bars are global.

    `candidates` fill in [first_bar, end_bar), sorted by fill bar; one whose exit lies beyond the
    chunk is pending: exit_bar == end_bar (for the last chunk that is the single pass's "open at
    the end", already final). `next_index[i]`: the candidate the chain takes after i (len when
    it leaves the chunk). `own_chain`: the chain from candidate 0. `first_exit_signal`: the first
    bar in [first_bar - 1, end_bar - 2] whose exit rules hold (an open position's signal exit in
    this chunk fills at the next bar's open), NO_SIGNAL if none.
    """

    span: ChunkSpan
    candidates: CandidateExits
    next_index: NDArray[Any]
    own_chain: NDArray[Any]
    first_exit_signal: int
    # Backtests resolved position by position (`positions`): the chunk's signals (global bars in
    # [first_bar - 1, end_bar - 1), per `positions.SIGNAL_NAMES`) and its own chain's positions
    # that close inside the chunk. None for the vectorised pass.
    signal_bars: dict[str, NDArray[Any]] | None = None
    positions: list[Position] | None = None

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """Flat named arrays (for an .npz object); `from_arrays` reads them back."""
        span, found = self.span, self.candidates
        walked = {}
        if self.positions is not None and self.signal_bars is not None:
            walked = {f"signal_{name}": bars for name, bars in self.signal_bars.items()}
            walked |= positions_to_arrays(self.positions)
        return walked | {
            "span": np.array([span.index, span.first_bar, span.end_bar, span.read_bar], dtype=np.int64),
            "first_exit_signal": np.array(self.first_exit_signal, dtype=np.int64),
            "fill_bar": found.fill_bar,
            "entry_price": found.entry_price,
            "exit_bar": found.exit_bar,
            "exit_price": found.exit_price,
            "exit_reason": found.exit_reason,
            "ambiguous": found.ambiguous,
            "next_index": self.next_index,
            "own_chain": self.own_chain,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> ChunkResult:
        index, first_bar, end_bar, read_bar = (int(value) for value in arrays["span"])
        candidates = CandidateExits(
            arrays["fill_bar"],
            arrays["entry_price"],
            arrays["exit_bar"],
            arrays["exit_price"],
            arrays["exit_reason"],
            arrays["ambiguous"],
        )
        walked = "position_head" in arrays
        return cls(
            ChunkSpan(index, first_bar, end_bar, read_bar),
            candidates,
            arrays["next_index"],
            arrays["own_chain"],
            int(arrays["first_exit_signal"]),
            signal_bars={name: arrays[f"signal_{name}"] for name in SIGNAL_NAMES} if walked else None,
            positions=positions_from_arrays(arrays) if walked else None,
        )


def compute_chunk(
    strategy: Strategy, window: Candles, span: ChunkSpan, settings: BacktestSettings, market: MarketData | None = None
) -> ChunkResult:
    """The parallel part for one chunk. `window` holds the candles of bars [read_bar, end_bar);
    `market.fine`, when intrabar resolution is on, at least the finer candles of those bars."""
    if len(window) != span.end_bar - span.read_bar:
        raise ValueError(f"chunk {span.index} needs {span.end_bar - span.read_bar} candles, got {len(window)}")
    market = market or MarketData()
    signals = strategy.signals(window, timeframe=settings.timeframe)
    # From the bar before the chunk (its entry signal fills at first_bar) to the chunk's end.
    start = max(span.first_bar - 1, span.read_bar) - span.read_bar
    offset = span.read_bar + start
    rules = EngineRules.from_config(strategy.config, settings)
    if needs_positions(strategy.config, settings, market):
        return _walked_chunk(
            strategy, window.slice(start, len(window)), signals, start, offset, span, settings, market, rules
        )
    found = resolve_exits(window.slice(start, len(window)), signals.entry[start:], signals.exit[start:], rules)
    candidates = CandidateExits(
        found.fill_bar + offset,
        found.entry_price,
        found.exit_bar + offset,
        found.exit_price,
        found.exit_reason,
        found.ambiguous,
    )
    next_index = next_candidates(candidates.fill_bar, candidates.exit_bar)
    exit_signals = np.flatnonzero(signals.exit[start:-1])
    return ChunkResult(
        span=span,
        candidates=candidates,
        next_index=next_index,
        own_chain=follow_chain(next_index),
        first_exit_signal=int(exit_signals[0]) + offset if len(exit_signals) else NO_SIGNAL,
    )


def _walked_chunk(
    strategy: Strategy,
    candles: Candles,
    signals: Signals,
    start: int,
    offset: int,
    span: ChunkSpan,
    settings: BacktestSettings,
    market: MarketData,
    rules: EngineRules,
) -> ChunkResult:
    """A chunk of a backtest resolved position by position: its signals and its own chain."""
    own = {name: getattr(signals, name)[start:] for name in SIGNAL_NAMES if getattr(signals, name) is not None}
    book = Book(candles, Signals(**own), strategy.config, settings, market, rules)
    positions = [shifted(position, offset) for position in own_chain(book) if not position.reached_end]
    signal_bars = {
        name: np.flatnonzero(own[name][:-1]) + offset if name in own else np.empty(0, dtype=np.int64)
        for name in SIGNAL_NAMES
    }
    empty = np.empty(0, dtype=np.int64)
    nothing = CandidateExits(
        empty, np.empty(0), empty, np.empty(0), np.empty(0, dtype=np.int8), np.empty(0, dtype=bool)
    )
    return ChunkResult(span, nothing, empty, empty, NO_SIGNAL, signal_bars=signal_bars, positions=positions)


def _stitch_walked(
    candles: Candles,
    chunks: Sequence[ChunkResult],
    config: StrategyConfig,
    settings: BacktestSettings,
    market: MarketData,
    rules: EngineRules,
) -> BacktestResult:
    """Walk the whole range with the chunks' positions as a cache (see `positions`)."""
    n = len(candles)
    columns = {name: np.zeros(n, dtype=bool) for name in SIGNAL_NAMES}
    cache: dict[int, Position] = {}
    for chunk in chunks:
        assert chunk.signal_bars is not None and chunk.positions is not None
        for name, bars in chunk.signal_bars.items():
            columns[name][bars] = True
        cache.update((position.signal_bar, position) for position in chunk.positions)
    both = config.direction == "both"
    signals = Signals(
        columns["entry"],
        columns["exit"],
        short_entry=columns["short_entry"] if both else None,
        short_exit=columns["short_exit"] if both else None,
    )
    book = Book(candles, signals, config, settings, market, rules)
    sizer = Sizer(book, settings.initial_balance)
    return settle_walk(book, walk(book, sizer, cache), sizer)


def stitch(
    candles: Candles,
    chunks: Sequence[ChunkResult],
    config: StrategyConfig,
    settings: BacktestSettings,
    market: MarketData | None = None,
) -> BacktestResult:
    """The single-pass result from the chunks' results (`candles`: the whole range; `market`:
    the exchange rules, funding and finer candles of the whole range)."""
    _check_cover(chunks, len(candles))
    market = market or MarketData()
    rules = EngineRules.from_config(config, settings)
    if needs_positions(config, settings, market):
        return _stitch_walked(candles, chunks, config, settings, market, rules)
    taken: list[CandidateExits] = []
    last_exit = -1  # exit bar of the last trade taken: the next one fills after it
    for position, chunk in enumerate(chunks):
        fills = chunk.candidates.fill_bar
        start = int(np.searchsorted(fills, last_exit, side="right"))
        if start == len(fills):
            continue
        rows = _take(chunk.candidates, _chain_from(chunk, start))
        if rows.exit_bar[-1] == chunk.span.end_bar and position + 1 < len(chunks):
            rows = _with_last_exit(rows, _carried_exit(candles, rows.fill_bar[-1], chunks[position + 1 :], rules))
        taken.append(rows)
        last_exit = int(rows.exit_bar[-1])
    chain = _concatenate(taken)
    return settle_chain(candles, chain, np.arange(len(chain)), config, rules, settings)


def _check_cover(chunks: Sequence[ChunkResult], n_bars: int) -> None:
    ends = [0] + [chunk.span.end_bar for chunk in chunks]
    firsts = [chunk.span.first_bar for chunk in chunks]
    if not chunks or firsts != ends[:-1] or ends[-1] != n_bars:
        raise ValueError(f"the chunks do not cover the {n_bars} bars contiguously: {[c.span for c in chunks]}")


def _chain_from(chunk: ChunkResult, start: int) -> NDArray[Any]:
    """Candidates the chain takes in this chunk when it enters at `start`: replay pointers until
    the chunk's own chain is reached (or the chunk is left), then the own chain from there."""
    own, pointers = chunk.own_chain, chunk.next_index
    replayed: list[int] = []
    position = start
    while position < len(pointers):
        rank = int(np.searchsorted(own, position))
        if rank < len(own) and own[rank] == position:
            return np.concatenate((np.array(replayed, dtype=np.intp), own[rank:]))
        replayed.append(position)
        position = int(pointers[position])
    return np.array(replayed, dtype=np.intp)


def _carried_exit(candles: Candles, fill_bar: int, later: Sequence[ChunkResult], rules: EngineRules) -> CandidateExits:
    """The exit of the trade filled at `fill_bar` that is still open at its chunk's end: the
    first later exit signal fills it at the following open unless a stop comes first."""
    signal = next((chunk.first_exit_signal for chunk in later if chunk.first_exit_signal != NO_SIGNAL), None)
    stop = len(candles) if signal is None else signal + 2  # the bar the signal exit fills at, included
    window = candles.slice(fill_bar - 1, stop)
    entry = np.zeros(len(window), dtype=bool)
    entry[0] = True
    exit_ = np.zeros(len(window), dtype=bool)
    if signal is not None:
        exit_[signal - (fill_bar - 1)] = True
    found = resolve_exits(window, entry, exit_, rules)
    return CandidateExits(
        found.fill_bar + fill_bar - 1,
        found.entry_price,
        found.exit_bar + fill_bar - 1,
        found.exit_price,
        found.exit_reason,
        found.ambiguous,
    )


def _take(candidates: CandidateExits, rows: NDArray[Any]) -> CandidateExits:
    return CandidateExits(*(column[rows] for column in _columns(candidates)))


def _with_last_exit(rows: CandidateExits, resolved: CandidateExits) -> CandidateExits:
    """`rows` with its last trade's exit replaced by `resolved` (one row for the same entry)."""
    exit_bar, exit_price, exit_reason = rows.exit_bar.copy(), rows.exit_price.copy(), rows.exit_reason.copy()
    ambiguous = rows.ambiguous.copy()
    exit_bar[-1], exit_price[-1], exit_reason[-1] = (
        resolved.exit_bar[0],
        resolved.exit_price[0],
        resolved.exit_reason[0],
    )
    ambiguous[-1] = resolved.ambiguous[0]
    return CandidateExits(rows.fill_bar, rows.entry_price, exit_bar, exit_price, exit_reason, ambiguous)


def _concatenate(parts: list[CandidateExits]) -> CandidateExits:
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return CandidateExits(
            empty, np.empty(0), empty, np.empty(0), np.empty(0, dtype=np.int8), np.empty(0, dtype=bool)
        )
    return CandidateExits(*(np.concatenate(columns) for columns in zip(*(_columns(part) for part in parts))))


def _columns(candidates: CandidateExits) -> tuple[NDArray[Any], ...]:
    return (
        candidates.fill_bar,
        candidates.entry_price,
        candidates.exit_bar,
        candidates.exit_price,
        candidates.exit_reason,
        candidates.ambiguous,
    )
