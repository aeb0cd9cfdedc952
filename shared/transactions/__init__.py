"""A trader's own transactions: imported from files or an exchange, listed, and replayed as backtests.

- `model`: the stored fill and the identity that makes imports idempotent;
- `parsing`: trade-history files (Binance exports, a generic CSV/JSON, saved myTrades) -> fills;
- `pairing`: FIFO pairing of fills into round trips, partial fills included;
- `rules`: durations ("4h") and alternative entry/exit rules ("stop_loss:2", a strategy id);
- `replay`: round trips + candles -> a backtest result and the alternative beside it;
- `jobs`, `ports`, `imports`, `history`, `replays`: the use-cases and what they need from AWS.

Pure Python; `parsing` and `replay` load NumPy/pyarrow, so the API imports them only on first use.
"""
