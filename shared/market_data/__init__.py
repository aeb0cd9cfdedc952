"""Market data: candle files in, validated; candles out of the store, resampled on demand.

- `parsing`: format detection and reading (Binance kline CSV, OHLCV CSV, JSON, Parquet)
- `validation`: the one validator; `merge`: agreement with stored candles
- `pipeline`: `CandleImporter`, the one import pipeline every way in calls
- `ports`: what the use-cases need from storage and the exchanges (`CandleStore`, ...)
- `store`: the candle series' manifest; `query`: reading and resampling (`get_candles`)
- `imports`: import jobs (status records, imports-bucket keys); `service`: `MarketDataService`,
  what the API and the import function call
- `contract`: statuses, formats and bounds, light enough for the API's cold start
- `resample`, `gaps`, `wire`: helpers; `sample`: SYNTHETIC sample data for the local stack
"""
