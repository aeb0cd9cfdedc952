"""Request and response bodies of the market-data routes.

Candles and import records are answered in the JSON the market-data WebSocket events carry
(`shared.market_data.wire`, `ImportStatus.to_dict`), so a client can merge REST history with live
events: timestamps like `2024-03-01T00:00:00Z` (milliseconds shown only when not zero), prices and
volumes exactly as stored (not rounded to 12 digits: Binance volumes have up to 16).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from api.errors import ErrorDetail
from api.schemas import RequestBody, Timeframe, UtcDateTimeInput
from shared.market_data.contract import (
    EXCHANGES,
    FILE_EXTENSIONS,
    FUNDING_SERIES,
    MARKETS,
    SOURCES,
    SYMBOL_REGEX,
    UPLOAD_URL_EXPIRES_S,
)
from shared.statuses import JOB_STATUSES
from shared.timeframes import TIMEFRAMES

# API Gateway refuses request bodies above 10 MB and base64 makes a file 4/3 larger: 7 MiB is the
# most a JSON body can carry. Larger files go through a presigned upload.
MAX_INLINE_FILE_BYTES = 7 * 1024 * 1024
UPLOADS_PATH = "/api/v1/market_data/uploads"


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _decode_base64(value: Any) -> Any:
    """The file's bytes; line breaks and spaces (`base64` wraps its output) are ignored."""
    if not isinstance(value, str):
        return value
    try:
        content = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise PydanticCustomError("base64", "not valid base64 ({reason})", {"reason": str(error)}) from error
    if len(content) > MAX_INLINE_FILE_BYTES:
        raise PydanticCustomError(
            "file_too_large",
            "the file has {size} bytes; files above {limit} bytes go through POST {uploads}",
            {"size": len(content), "limit": MAX_INLINE_FILE_BYTES, "uploads": UPLOADS_PATH},
        )
    return content


# A trading pair: upper-cased, then 2-20 letters or digits (plain constraints, so a Query() or Path()
# can describe it too; in this order the pattern shows in the OpenAPI document).
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_REGEX), BeforeValidator(_upper)]
SYMBOL_EXAMPLE = "BTCUSDT"
_SYMBOL = Field(
    description="Trading pair, 2-20 letters or digits; lower case is upper-cased.", examples=[SYMBOL_EXAMPLE]
)
WireDateTime = Annotated[
    str, WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2024-03-01T00:00:00Z"]})
]
FileFormat = Literal[tuple(FILE_EXTENSIONS)]  # type: ignore[valid-type]
Base64File = Annotated[
    bytes,
    BeforeValidator(_decode_base64),
    WithJsonSchema(
        {
            "type": "string",
            "contentEncoding": "base64",
            "examples": ["MTcwOTI1MTIwMDAwMCw2MjAwMC4wLDYyMTAwLjAsNjE5MDAuMCw2MjA1MC4wLDEyLjUK"],
            "description": f"The file, base64-encoded; at most {MAX_INLINE_FILE_BYTES} bytes before encoding "
            f"(larger files: `POST {UPLOADS_PATH}`).",
        }
    ),
]


# ------------------------------------------------------------------ candles
class SymbolList(BaseModel):
    data: list[str] = Field(examples=[["BTCUSDT", "ETHUSDT"]])


class TimeframeList(BaseModel):
    data: list[Timeframe] = Field(examples=[["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]])


_CANDLE_EXAMPLE = {
    "timestamp": "2024-03-01T00:00:00Z",
    "open": 61130.98,
    "high": 61320.0,
    "low": 61001.1,
    "close": 61249.99,
    "volume": 1234.56789,
}


class Candle(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CANDLE_EXAMPLE]})

    timestamp: WireDateTime = Field(description="Open time (UTC).")
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandleList(BaseModel):
    data: list[Candle]


class MarketDataPoint(Candle):
    """A candle with an id of its own: `SYMBOL:timeframe:epoch ms`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "BTCUSDT:1h:1709251200000", "symbol": "BTCUSDT", **_CANDLE_EXAMPLE}]}
    )

    id: str = Field(description="`SYMBOL:timeframe:open time in epoch milliseconds`: stable, one per candle.")
    symbol: str = Field(examples=["BTCUSDT"])


class MarketDataPointList(BaseModel):
    items: list[MarketDataPoint]


Exchange = Literal[EXCHANGES]  # type: ignore[valid-type]
Market = Literal[MARKETS]  # type: ignore[valid-type]


# ------------------------------------------------------------------ funding rates and symbol rules
class FundingRate(BaseModel):
    time: WireDateTime = Field(description="Funding time (UTC).")
    rate: float = Field(
        description="The rate paid at that time, as a fraction (0.0001 = 0.01 %); positive: "
        "longs pay shorts. Exactly as the exchange sent it.",
        examples=[0.0001],
    )


class FundingRateList(BaseModel):
    data: list[FundingRate]


class SymbolInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTCUSDT",
                    "exchange": "binance",
                    "market": "spot",
                    "tick_size": 0.01,
                    "lot_size": 1e-05,
                    "min_notional": 5.0,
                }
            ]
        }
    )

    symbol: str
    exchange: Exchange
    market: Market
    tick_size: float | None = Field(description="Price step; null when the exchange sets none.")
    lot_size: float | None = Field(description="Quantity step; null when the exchange sets none.")
    min_notional: float | None = Field(description="Smallest order value in quote currency; null when none.")


# ------------------------------------------------------------------ imports
ImportTimeframe = Annotated[
    Literal[(*TIMEFRAMES, FUNDING_SERIES)],
    Field(  # type: ignore[valid-type]
        description="The candles' timeframe, or `funding` for a funding-rate history file (time and rate columns: "
        "Binance's dumps and exports, Bybit's, JSON from their funding endpoints)."
    ),
]


class CandleFileImport(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTCUSDT",
                    "timeframe": "1m",
                    "file_format": "csv",
                    "file_content": "MTcwOTI1MTIwMDAwMCw2MjAwMC4wLDYyMTAwLjAsNjE5MDAuMCw2MjA1MC4wLDEyLjUK",
                }
            ]
        }
    )

    symbol: Symbol = _SYMBOL
    timeframe: ImportTimeframe
    file_format: FileFormat = Field(
        description="The extension the file is stored with; the content itself is "
        "detected (Binance kline CSV, OHLCV CSV, JSON, Parquet)."
    )
    file_content: Base64File


class UploadRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"symbol": "BTCUSDT", "timeframe": "1m", "filename": "BTCUSDT-1m-2024.csv"}]}
    )

    symbol: Symbol = _SYMBOL
    timeframe: ImportTimeframe
    filename: str = Field(
        min_length=1, max_length=255, description="Your file's name; kept (made safe) as the uploaded object's name."
    )


class FetchRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTCUSDT",
                    "timeframe": "1h",
                    "start_time": "2024-01-01T00:00:00Z",
                    "end_time": "2024-03-01T00:00:00Z",
                }
            ]
        }
    )

    symbol: Symbol = _SYMBOL
    timeframe: Timeframe
    start_time: UtcDateTimeInput = Field(description="First open time to fetch (inclusive).")
    end_time: UtcDateTimeInput = Field(description="Open times before this one (exclusive; capped at now).")
    exchange: Exchange = Field("binance", description="Where to fetch from: Binance or Bybit (v5 public API).")
    market: Market = Field(
        "spot",
        description="spot, or linear (USDT-margined perpetuals: their funding rates over the range are stored too).",
    )


class RepairRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-03-01T00:00:00Z", "exchange": "binance"}
            ]
        }
    )

    start_time: UtcDateTimeInput = Field(description="Look for missing candles from this open time (inclusive).")
    end_time: UtcDateTimeInput = Field(description="... to this one (exclusive; capped at the candle in progress).")
    exchange: Exchange = Field("binance", description="Where to fetch the missing candles from.")
    market: Market = "spot"


class GapOut(BaseModel):
    start: WireDateTime = Field(description="Open time of the first missing candle.")
    end: WireDateTime = Field(description="Open time of the next candle present.")
    missing_candles: int


class GapsOut(BaseModel):
    missing_candles: int = Field(description="Candles missing between the file's first and last.")
    gap_count: int
    gaps: list[GapOut] = Field(
        description="The first gaps, in time order (20 in import records, 100 in quality reports)."
    )


class ImportOut(BaseModel):
    """An import job's status record."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "import_id": "6f1c2b9e-3d4a-4c5b-8e7f-1a2b3c4d5e6f",
                    "status": "completed",
                    "symbol": "BTCUSDT",
                    "timeframe": "1m",
                    "source": "api",
                    "format": "binance_kline_csv",
                    "rows_in_file": 1440,
                    "rows_imported": 1438,
                    "rows_unchanged": 0,
                    "duplicates_dropped": 2,
                    "rows_without_trades": 0,
                    "gaps": {
                        "missing_candles": 2,
                        "gap_count": 1,
                        "gaps": [
                            {"start": "2024-03-01T10:00:00Z", "end": "2024-03-01T10:02:00Z", "missing_candles": 2}
                        ],
                    },
                    "errors": [],
                    "error_count": 0,
                    "first_timestamp": "2024-03-01T00:00:00Z",
                    "last_timestamp": "2024-03-01T23:59:00Z",
                    "created_at": "2024-03-02T08:00:00Z",
                    "updated_at": "2024-03-02T08:00:03Z",
                }
            ]
        }
    )

    import_id: UUID
    status: Literal[JOB_STATUSES]  # type: ignore[valid-type]
    symbol: str
    timeframe: str
    source: Literal[SOURCES] = Field(  # type: ignore[valid-type]
        description="api: POST /market_data/import; upload: presigned upload; s3: a file dropped in the "
        "imports bucket; binance: POST /market_data/fetch."
    )
    format: str | None = Field(
        description="The detected format (binance_kline_csv, ohlcv_csv, json, parquet, "
        "binance_api) once the file was read."
    )
    rows_in_file: int
    rows_imported: int = Field(description="New candles stored.")
    rows_unchanged: int = Field(description="Candles already stored identically.")
    duplicates_dropped: int = Field(description="Identical repeats within the file.")
    rows_without_trades: int = Field(
        description="Rows whose prices are all empty or NaN: periods without trades, skipped and counted in `gaps`."
    )
    funding_rates_imported: int = Field(description="Linear fetches: new funding rates stored beside the candles.")
    gaps: GapsOut
    errors: list[ErrorDetail] = Field(
        description="Why a failed import failed: the first 100 problems, each "
        "naming its place in the file (`line 12`, `row 5`)."
    )
    error_count: int = Field(description="All problems found, listed or not.")
    first_timestamp: WireDateTime | None
    last_timestamp: WireDateTime | None
    created_at: WireDateTime
    updated_at: WireDateTime


class RepairOut(BaseModel):
    missing_candles: int = Field(description="Candles missing from the stored series in the range.")
    ranges: list[GapOut] = Field(description="Every missing range, fetched exactly.")
    # Named `import` on the wire (a Python keyword).
    import_: ImportOut | None = Field(alias="import", description="The queued fetch; null when nothing is missing.")


class RunOut(BaseModel):
    start: WireDateTime
    end: WireDateTime = Field(description="Open time after the run's last candle.")
    candles: int


class RunsOut(BaseModel):
    count: int
    candles: int
    runs: list[RunOut] = Field(description="The first 100, in time order.")


class StretchesOut(BaseModel):
    min_candles: int = Field(description="Shortest run counted.")
    count: int
    candles: int
    stretches: list[RunOut] = Field(description="The first 100, in time order.")


class SpikeOut(BaseModel):
    timestamp: WireDateTime = Field(description="Open time of the candle whose close jumped.")
    return_: float = Field(alias="return", description="Close-to-close simple return (0.3 = +30 %).")
    deviations: float = Field(description="Robust deviations (1.4826 x MAD of log returns) from the median.")


class SpikesOut(BaseModel):
    k: float
    count: int
    spikes: list[SpikeOut] = Field(description="The first 100, in time order.")


class StaleEndOut(BaseModel):
    stale: bool
    candles_behind: int = Field(description="Closed candles missing after the last stored one, up to the end.")
    until: WireDateTime | None = Field(description="The end checked against: end_time, or now's candle.")


class QualityOut(BaseModel):
    symbol: str
    timeframe: str
    start_time: WireDateTime | None
    end_time: WireDateTime | None
    candles: int
    first_timestamp: WireDateTime | None
    last_timestamp: WireDateTime | None
    gaps: GapsOut
    zero_volume_runs: RunsOut
    spikes: SpikesOut
    flat_stretches: StretchesOut
    stale_end: StaleEndOut


class ImportList(BaseModel):
    data: list[ImportOut]


class UploadTicketOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "import_id": "6f1c2b9e-3d4a-4c5b-8e7f-1a2b3c4d5e6f",
                    "status": "pending",
                    "method": "PUT",
                    "upload_url": "https://backtest-imports.s3.amazonaws.com/imports/candles/BTCUSDT/1m/"
                    "6f1c2b9e-3d4a-4c5b-8e7f-1a2b3c4d5e6f-BTCUSDT-1m-2024.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&...",
                    "expires_in": UPLOAD_URL_EXPIRES_S,
                }
            ]
        }
    )

    import_id: UUID
    status: Literal[JOB_STATUSES]  # type: ignore[valid-type]
    upload_url: str = Field(description="PUT the file's bytes here (no other headers needed).")
    method: Literal["PUT"]
    expires_in: int = Field(description="Seconds the URL stays valid.")
