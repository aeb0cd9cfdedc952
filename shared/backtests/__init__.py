"""Backtests: a strategy run over a symbol's candles, created by the API and computed by the state machine.

- `model`: the records the use-cases read and write (backtests, trades) and the run statuses;
- `ports`: what the use-cases need from storage and the state machine;
- `service`: `Backtests`, the API's use-case (create, read, cancel, delete);
- `workflow`: the backtest state machine's steps; `batches`: backtests in bulk from an S3 file;
- `trades`, `trade_ids`: reading a completed backtest's trades;
- `equity`, `results`: its equity curve (downsampled, beside buy-and-hold) and drawdown periods.

Each use-case takes its ports and raises `shared.errors`; the HTTP layer turns those into status
codes. The API-side modules import no boto3, NumPy or pyarrow, so the API's cold start stays small.
"""
