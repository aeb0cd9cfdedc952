"""Walk-forward analysis: optimise on a train window, trade the best parameters on the window after.

Windows are laid out from the start: test window k starts at start + train + k * step and lasts
`test`; its train window is the `train` before it (anchored: from the start up to it). Windows
whose test would pass the end are dropped. Each train window is an ordinary sweep of the
optimization state machine (all windows' batches in one Map); Finish takes each window's best
(the optimization's ranking: objective, direction, min_trades) and runs it on the test window as a
single backtest whose initial balance is the previous test window's final balance (capital
carried), so window k's out-of-sample result equals a separate backtest of those parameters over
that range with that balance.

Figures:
- walk_forward_efficiency = OOS annualised return / IS annualised return, where OOS is the CAGR of
  the stitched out-of-sample equity over the test windows' total span and IS the mean CAGR of the
  chosen results over their train windows (None when IS is 0 or undefined);
- parameter_stability, per parameter: the value chosen in each window, the most frequent one and
  the share of windows that chose it, and the coefficient of variation (population std / |mean|)
  of the chosen values (None for a mean of 0).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import FieldError, ValidationFailed
from shared.timeframes import YEAR_MS

if TYPE_CHECKING:
    from shared.candles import Candles
    from shared.engine import BacktestSettings

UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
MAX_WINDOWS = 200
MAX_EQUITY_POINTS = 5_000  # the stitched equity curve as served (evenly strided, last point kept)


@dataclass(frozen=True)
class Window:
    train_start_ms: int
    train_end_ms: int
    test_start_ms: int
    test_end_ms: int


def duration_ms(text: Any, field: str) -> int:
    """ "180d", "12h", "4w", "90m" -> milliseconds (ValidationFailed naming `field`)."""
    match = re.fullmatch(r"([1-9][0-9]{0,5})([mhdw])", text) if isinstance(text, str) else None
    if match is None:
        raise ValidationFailed(
            "invalid duration", [FieldError(field, 'must be a positive whole number of m, h, d or w, such as "180d"')]
        )
    return int(match.group(1)) * UNITS_MS[match.group(2)]


def lay_out(start_ms: int, end_ms: int, train: str, test: str, step: str | None, anchored: bool) -> list[Window]:
    """The windows of a walk-forward over [start_ms, end_ms); ValidationFailed when none fits."""
    train_ms, test_ms = duration_ms(train, "train"), duration_ms(test, "test")
    step_ms = test_ms if step is None else duration_ms(step, "step")
    windows: list[Window] = []
    test_start = start_ms + train_ms
    while test_start + test_ms <= end_ms and len(windows) <= MAX_WINDOWS:
        windows.append(
            Window(start_ms if anchored else test_start - train_ms, test_start, test_start, test_start + test_ms)
        )
        test_start += step_ms
    if not windows:
        raise ValidationFailed(
            "no walk-forward window fits",
            [FieldError("end_time", "the range is shorter than one train window followed by one test window")],
        )
    if len(windows) > MAX_WINDOWS:
        raise ValidationFailed(
            "too many walk-forward windows",
            [FieldError("step", f"the range holds more than {MAX_WINDOWS} windows: use a longer step")],
        )
    return windows


def walk_forward(
    strategy: Mapping[str, Any],
    windows: Sequence[Window],
    chosen: Sequence[Mapping[str, Any]],
    candles: Callable[[int, int], Candles],
    settings: BacktestSettings,
) -> dict[str, Any]:
    """Each window's chosen result (its params and in-sample summary) run on its test window, the
    capital carried from one to the next; the stitched out-of-sample equity and trades; the figures."""
    from dataclasses import replace

    from shared.engine import run_backtest
    from shared.strategy import validate_strategy, with_parameters

    balance, rows, trades, times, equity = settings.initial_balance, [], [], [], []
    for number, (window, best) in enumerate(zip(windows, chosen)):
        test_candles = candles(window.test_start_ms, window.test_end_ms)
        result = run_backtest(
            validate_strategy(with_parameters(strategy, best["params"])),
            test_candles,
            replace(settings, initial_balance=balance),
        )
        rows.append(
            {
                "window": number,
                "train_start_ms": window.train_start_ms,
                "train_end_ms": window.train_end_ms,
                "test_start_ms": window.test_start_ms,
                "test_end_ms": window.test_end_ms,
                "params": best["params"],
                "in_sample": best["performance_summary"],
                "out_of_sample": result.performance_summary,
                "initial_balance": balance,
                "final_balance": result.final_balance,
            }
        )
        trades += [record | {"window": number} for record in result.trades.to_records()]
        times += result.timestamps.tolist()
        equity += result.equity_curve.tolist()
        balance = result.final_balance
    test_span = sum(w.test_end_ms - w.test_start_ms for w in windows)
    oos = _annualised(settings.initial_balance, balance, test_span)
    in_sample = [row["in_sample"].get("cagr") for row in rows]
    is_mean = statistics.fmean(in_sample) if all(isinstance(v, (int, float)) for v in in_sample) else None
    stride = max(1, -(-len(times) // MAX_EQUITY_POINTS))
    kept = sorted(set(range(0, len(times), stride)) | {len(times) - 1})
    return {
        "windows": rows,
        "out_of_sample": {
            "initial_balance": settings.initial_balance,
            "final_balance": balance,
            "annualised_return": oos,
            "trades": trades,
            "equity": {
                "timestamps_ms": [times[i] for i in kept],
                "equity": [equity[i] for i in kept],
                "total_points": len(times),
            },
        },
        "in_sample_annualised_return": is_mean,
        "walk_forward_efficiency": None if oos is None or not is_mean else oos / is_mean,
        "parameter_stability": stability([row["params"] for row in rows]),
    }


def stability(chosen: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    answer = {}
    for name in chosen[0] if chosen else ():
        values = [params[name] for params in chosen]
        mode, count = Counter(values).most_common(1)[0]
        mean = statistics.fmean(values)
        answer[name] = {
            "values": values,
            "mode": mode,
            "mode_share": count / len(values),
            "coefficient_of_variation": statistics.pstdev(values) / abs(mean) if mean else None,
        }
    return answer


def _annualised(initial: float, final: float, span_ms: int) -> float | None:
    if span_ms <= 0:
        return None
    if final <= 0:
        return -100.0
    try:
        return 100.0 * ((final / initial) ** (YEAR_MS / span_ms) - 1.0)
    except OverflowError:
        return None
