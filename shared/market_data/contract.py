"""The market-data service's vocabulary and bounds, importable without NumPy or pyarrow: the API
validates requests and writes its OpenAPI document with them at cold start, before any route
has loaded the service itself."""

from __future__ import annotations

# Symbols as the store names them; the API upper-cases what it is sent first.
SYMBOL_REGEX = r"^[A-Z0-9]{2,20}$"

# Where an import came from.
SOURCE_API, SOURCE_UPLOAD, SOURCE_S3, SOURCE_BINANCE, SOURCE_BYBIT = "api", "upload", "s3", "binance", "bybit"
SOURCES = (SOURCE_API, SOURCE_UPLOAD, SOURCE_S3, SOURCE_BINANCE, SOURCE_BYBIT)

# Exchanges candles, funding rates and symbol rules are fetched from, and their markets: spot, and
# linear (USDT-margined) perpetual futures, which pay funding.
EXCHANGE_BINANCE, EXCHANGE_BYBIT = "binance", "bybit"
EXCHANGES = (EXCHANGE_BINANCE, EXCHANGE_BYBIT)
MARKET_SPOT, MARKET_LINEAR = "spot", "linear"
MARKETS = (MARKET_SPOT, MARKET_LINEAR)

# The timeframe segment that names a funding-rate history file among imports (API, upload, S3 drop).
FUNDING_SERIES = "funding"

# File formats an API upload may declare, and the extension its object in the imports bucket gets
# (the content is detected regardless).
FILE_EXTENSIONS = {"csv": "csv", "json": "json", "parquet": "parquet"}
# A file is read into memory whole; the import function's memory is sized for this (see README).
MAX_IMPORT_BYTES = 256 * 1024 * 1024
UPLOAD_URL_EXPIRES_S = 900

DEFAULT_CANDLE_LIMIT = 500
MAX_CANDLE_LIMIT = 5000
