"""Market data: what the candle store holds, candles out (by symbol and timeframe, and as market-data points), and
imports in (a base64 file, a presigned upload, a Binance fetch), each followed by its status record.

The service loads NumPy and pyarrow: it is made on the first market-data request (ApiServices), and
what these routes need from its modules is imported inside them, so the API's cold start does not
pay for them. Candles are answered as prepared JSON: validating up to 5000 of them through the
response model would cost more than reading them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse

from api import PREFIX
from api.dependencies import CurrentUser, Services
from api.errors import error_responses
from api.market_data_schemas import (
    SYMBOL_EXAMPLE,
    CandleFileImport,
    CandleList,
    Exchange,
    FetchRequest,
    FundingRateList,
    ImportList,
    ImportOut,
    Market,
    MarketDataPoint,
    MarketDataPointList,
    QualityOut,
    RepairOut,
    RepairRequest,
    Symbol,
    SymbolInfo,
    SymbolList,
    TimeframeList,
    UploadRequest,
    UploadTicketOut,
)
from api.schemas import Timeframe, UtcDateTimeInput
from shared.errors import ValidationFailed
from shared.market_data.contract import DEFAULT_CANDLE_LIMIT, MAX_CANDLE_LIMIT
from shared.pagination import MAX_PER_PAGE
from shared.timeframes import TIMEFRAMES

if TYPE_CHECKING:
    from shared.candles import Candles
    from shared.market_data.imports import ImportStatus
    from shared.market_data.service import MarketDataService

ROUTE = f"{PREFIX}/market_data"
router = APIRouter(prefix=ROUTE, tags=["market data"], responses=error_responses(401, 422, 429, 500))


def market_data_service(services: Services) -> MarketDataService:
    return services.market_data()


MarketData = Annotated[Any, Depends(market_data_service)]  # a MarketDataService (its module loads on first use)
SYMBOL = "Trading pair; lower case is upper-cased."
PathSymbol = Annotated[Symbol, Path(description=SYMBOL, examples=[SYMBOL_EXAMPLE])]
QuerySymbol = Annotated[Symbol, Query(description=SYMBOL, examples=[SYMBOL_EXAMPLE])]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_CANDLE_LIMIT,
        description=(
            f"At most this many candles (default {DEFAULT_CANDLE_LIMIT}): the first ones from the start when it is "
            "given, else the latest ones before the end (or the newest stored). To page forward, start the next "
            "request at the last candle's open time plus one timeframe."
        ),
    ),
]
DEFAULT_TIMEFRAME = "Default: the symbol's finest stored timeframe (1m when it has 1m candles)."
OptionalTimeframe = Annotated[Timeframe | None, Query(description=DEFAULT_TIMEFRAME)]
START = "First open time (inclusive), ISO-8601 with a timezone."
END = "Open times before this one (exclusive), ISO-8601 with a timezone."


def _queued_responses(status: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a route that queues an import: its status record's `Location`, and a 400
    for a body that is not JSON."""
    location = {"schema": {"type": "string"}, "description": "The import's status record."}
    return {**error_responses(400), status: {"headers": {"Location": location}}}


# ------------------------------------------------------------------ what the store holds
@router.get("/symbols", response_model=SymbolList, summary="List the symbols with stored candles")
def list_symbols(_: CurrentUser, market_data: MarketData) -> SymbolList:
    return SymbolList(data=market_data.list_symbols())


@router.get(
    "/timeframes",
    response_model=TimeframeList,
    responses=error_responses(404),
    summary="List timeframes",
    description="Every supported timeframe; with `symbol`, those its stored candles can serve (stored, "
    "or coarser ones resampled from them), finest first; 404 when nothing is stored for it.",
)
def list_timeframes(
    _: CurrentUser, market_data: MarketData, symbol: Annotated[Symbol | None, Query(examples=[SYMBOL_EXAMPLE])] = None
) -> TimeframeList:
    return TimeframeList(data=market_data.list_timeframes(symbol))


@router.get(
    "",
    response_model=MarketDataPointList,
    responses=error_responses(404),
    summary="List candles as market-data points",
    description="Candles with open time in [`from`, `to`) as MarketDataPoints, whose `id` is "
    f"`SYMBOL:timeframe:epoch ms`. {DEFAULT_TIMEFRAME} Otherwise the same as "
    "`GET /market_data/{symbol}/{timeframe}`.",
)
def list_market_data(
    _: CurrentUser,
    market_data: MarketData,
    symbol: QuerySymbol,
    timeframe: OptionalTimeframe = None,
    from_: Annotated[UtcDateTimeInput | None, Query(alias="from", description=START)] = None,
    to: Annotated[UtcDateTimeInput | None, Query(description=END)] = None,
    limit: Limit = DEFAULT_CANDLE_LIMIT,
) -> JSONResponse:
    timeframe = timeframe or _finest_timeframe(market_data, symbol)
    try:
        candles = market_data.get_candles(symbol, timeframe, from_, to, limit)
    except ValidationFailed as error:
        raise _with_level2_names(error) from None
    return JSONResponse({"items": _market_data_points(symbol, timeframe, candles)})


# ------------------------------------------------------------------ imports
@router.post(
    "/import",
    status_code=202,
    response_model=ImportOut,
    responses=_queued_responses(202),
    summary="Import a candle file",
    description="Queues the file (status `pending`); follow it at `GET /market_data/imports/{import_id}` "
    "(the `Location` header). Every row is validated before anything is written, and the "
    "candles merge with those stored. Files above 7 MiB: `POST /market_data/uploads`.",
)
def import_candle_file(
    body: CandleFileImport, user: CurrentUser, market_data: MarketData, response: Response
) -> dict[str, Any]:
    status = market_data.submit_file(user.id, body.symbol, body.timeframe, body.file_format, body.file_content)
    _point_to_status(response, status)
    return status.to_dict()


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadTicketOut,
    responses=_queued_responses(201),
    summary="Get an upload URL for a large candle file",
    description="For files too large for `POST /market_data/import`: PUT the file to `upload_url` before "
    "it expires; its arrival starts the import, followed like any other.",
)
def create_upload(
    body: UploadRequest, user: CurrentUser, market_data: MarketData, response: Response
) -> dict[str, Any]:
    ticket = market_data.create_upload(user.id, body.symbol, body.timeframe, body.filename)
    _point_to_status(response, ticket.status)
    return ticket.to_dict()


@router.post(
    "/fetch",
    status_code=202,
    response_model=ImportOut,
    responses=_queued_responses(202),
    summary="Fetch candles from an exchange",
    description="Queues a fetch of Binance's or Bybit's klines (spot or linear perpetuals) with open time in "
    "[start_time, end_time) (at most about two years of 1m candles per request); they are "
    "imported like a file. A linear fetch stores the range's funding rates too.",
)
def fetch_candles(body: FetchRequest, user: CurrentUser, market_data: MarketData, response: Response) -> dict[str, Any]:
    status = market_data.start_fetch(
        user.id, body.symbol, body.timeframe, body.start_time, body.end_time, body.exchange, body.market
    )
    _point_to_status(response, status)
    return status.to_dict()


@router.get("/imports", response_model=ImportList, summary="List your imports", description="Newest first.")
def list_imports(
    user: CurrentUser,
    market_data: MarketData,
    limit: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="At most this many.")] = 20,
) -> dict[str, Any]:
    return {"data": [status.to_dict() for status in market_data.list_imports(user.id, limit)]}


@router.get(
    "/imports/{import_id}",
    response_model=ImportOut,
    responses=error_responses(404),
    summary="Get an import's status",
    description="pending -> running -> completed | failed, with the rows imported, the gaps and, for a "
    "failed import, its problems by place in the file. Only its creator sees it (404 for "
    "anyone else).",
)
def get_import(import_id: UUID, user: CurrentUser, market_data: MarketData) -> dict[str, Any]:
    return market_data.get_import(str(import_id), user.id).to_dict()


# ------------------------------------------------------------------ candles, funding and rules of one symbol
# Declared after /imports/{import_id}, and latest_candle, funding and info before {timeframe}: these
# patterns match them too.
@router.get(
    "/{symbol}/funding",
    response_model=FundingRateList,
    responses=error_responses(404),
    summary="Get funding-rate history",
    description="The symbol's stored perpetual funding rates with funding time in [`start_time`, `end_time`), "
    "oldest first (fetched from Binance or Bybit, or imported from a file). 404 when none is "
    "stored for the symbol.",
)
def get_funding(
    symbol: PathSymbol,
    _: CurrentUser,
    market_data: MarketData,
    start_time: Annotated[
        UtcDateTimeInput | None, Query(description="First funding time (inclusive), ISO-8601 with a timezone.")
    ] = None,
    end_time: Annotated[
        UtcDateTimeInput | None, Query(description="Funding times before this one (exclusive).")
    ] = None,
) -> JSONResponse:
    from shared.market_data.funding_history import funding_dicts

    return JSONResponse({"data": funding_dicts(market_data.get_funding(symbol, start_time, end_time))})


@router.get(
    "/{symbol}/info",
    response_model=SymbolInfo,
    responses=error_responses(404, 502),
    summary="Get a symbol's trading rules",
    description="Tick size, lot size (quantity step) and minimum order value on the exchange's market, from "
    "its instrument endpoint (Binance `exchangeInfo`, Bybit `instruments-info`); fetched once, "
    "then served from the store. 404 when the exchange does not list the symbol; 502 when "
    "the exchange refuses to answer.",
)
def get_symbol_info(
    symbol: PathSymbol,
    _: CurrentUser,
    market_data: MarketData,
    exchange: Annotated[Exchange, Query(description="The exchange whose rules apply.")] = "binance",
    market: Annotated[Market, Query(description="spot, or linear (USDT-margined perpetuals).")] = "spot",
) -> dict[str, Any]:
    return market_data.symbol_info(symbol, exchange, market)


@router.get(
    "/{symbol}/latest_candle",
    response_model=MarketDataPoint,
    responses=error_responses(404),
    summary="Get the newest candle",
    description="The newest candle of the symbol as a market-data point. "
    f"{DEFAULT_TIMEFRAME} A resampled newest candle may still be forming: it is built from "
    "the candles stored so far, as exchanges report an unfinished candle.",
)
def get_latest_candle(
    symbol: PathSymbol, _: CurrentUser, market_data: MarketData, timeframe: OptionalTimeframe = None
) -> JSONResponse:
    timeframe = timeframe or _finest_timeframe(market_data, symbol)
    [latest] = _market_data_points(symbol, timeframe, market_data.get_candles(symbol, timeframe, limit=1))
    return JSONResponse(latest)


@router.get(
    "/{symbol}/{timeframe}/quality",
    response_model=QualityOut,
    responses=error_responses(404),
    summary="Check a stored series' quality",
    description="Over the series stored at exactly this timeframe, in [`start_time`, `end_time`) (default: all "
    "of it): gaps (ranges, counts), zero-volume runs, price spikes (close-to-close returns beyond "
    "`k` robust deviations), flat stretches (5+ candles repeating the last close with no range) "
    "and a stale end (closed candles missing after the last one). 404 when the series is not "
    "stored at this timeframe.",
)
def get_quality(
    symbol: PathSymbol,
    timeframe: Annotated[Timeframe, Path(description="A stored timeframe.", examples=["1h"])],
    _: CurrentUser,
    market_data: MarketData,
    start_time: Annotated[UtcDateTimeInput | None, Query(description=START)] = None,
    end_time: Annotated[UtcDateTimeInput | None, Query(description=END)] = None,
    k: Annotated[float, Query(gt=0, le=1000, description="Spike threshold in robust deviations.")] = 10.0,
) -> dict[str, Any]:
    return market_data.quality(symbol, timeframe, start_time, end_time, k)


@router.post(
    "/{symbol}/{timeframe}/repair",
    status_code=202,
    response_model=RepairOut,
    responses={
        **_queued_responses(202),
        **error_responses(404),
        200: {"model": RepairOut, "description": "Nothing is missing: nothing queued (`import` is null)."},
    },
    summary="Fetch the candles missing from a stored series",
    description="Finds the candles missing from the series stored at this timeframe in [start_time, end_time) "
    "and queues a fetch of exactly those ranges from the exchange, imported through the same "
    "pipeline as any file (follow it at the `Location`). 200 with `import` null when nothing is "
    "missing; 404 when the series is not stored at this timeframe.",
)
def repair_series(
    symbol: PathSymbol,
    timeframe: Annotated[Timeframe, Path(description="A stored timeframe.", examples=["1h"])],
    body: RepairRequest,
    user: CurrentUser,
    market_data: MarketData,
    response: Response,
) -> JSONResponse:
    ranges, status = market_data.start_repair(
        user.id, symbol, timeframe, body.start_time, body.end_time, body.exchange, body.market
    )
    content = {
        "missing_candles": sum(gap.missing for gap in ranges),
        "ranges": [gap.to_dict() for gap in ranges],
        "import": None if status is None else status.to_dict(),
    }
    if status is None:
        return JSONResponse(content, status_code=200)
    return JSONResponse(content, status_code=202, headers={"Location": f"{ROUTE}/imports/{status.import_id}"})


@router.get(
    "/{symbol}/{timeframe}",
    response_model=CandleList,
    responses=error_responses(404),
    summary="Get candles",
    description="Candles with open time in [`start_time`, `end_time`), oldest first. 404 when nothing is "
    "stored for the symbol or the timeframe is unknown; 422 for a timeframe finer than the "
    "stored candles, an end not after the start, or a limit out of range.",
)
def get_candles(
    symbol: PathSymbol,
    timeframe: Annotated[
        str,
        Path(
            description=f"One of {', '.join(TIMEFRAMES)}: stored, or resampled from a finer stored series.",
            examples=["1h"],
        ),
    ],
    _: CurrentUser,
    market_data: MarketData,
    start_time: Annotated[UtcDateTimeInput | None, Query(description=START)] = None,
    end_time: Annotated[UtcDateTimeInput | None, Query(description=END)] = None,
    limit: Limit = DEFAULT_CANDLE_LIMIT,
) -> JSONResponse:
    from shared.market_data.wire import candle_dicts

    return JSONResponse({"data": candle_dicts(market_data.get_candles(symbol, timeframe, start_time, end_time, limit))})


def _finest_timeframe(market_data: MarketDataService, symbol: str) -> str:
    """The symbol's finest stored timeframe (NotFound when nothing is stored for it)."""
    return market_data.list_timeframes(symbol)[0]


def _market_data_points(symbol: str, timeframe: str, candles: Candles) -> list[dict[str, Any]]:
    from shared.market_data.wire import candle_dicts

    return [
        {"id": f"{symbol}:{timeframe}:{ts}", "symbol": symbol, **candle}
        for ts, candle in zip(candles.ts.tolist(), candle_dicts(candles), strict=True)
    ]


def _point_to_status(response: Response, status: ImportStatus) -> None:
    response.headers["Location"] = f"{ROUTE}/imports/{status.import_id}"


_LEVEL2_NAMES = {"start_time": "from", "end_time": "to"}
_SEED_NAME = re.compile(r"\b(start_time|end_time)\b")


def _with_level2_names(error: ValidationFailed) -> ValidationFailed:
    """The error in the names of the market-data points query (`from`, `to`), which the caller sent."""

    def rename(text: str) -> str:
        return _SEED_NAME.sub(lambda match: _LEVEL2_NAMES[match[1]], text)

    details = [replace(detail, field=rename(detail.field), message=rename(detail.message)) for detail in error.errors]
    return ValidationFailed(rename(error.message), details)
