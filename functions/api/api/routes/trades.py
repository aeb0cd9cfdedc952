"""A backtest's trades, by page or one at a time."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import RedirectResponse

from api import PREFIX
from api.dependencies import CurrentUser, Pagination, Services
from api.errors import error_responses
from api.schemas import TradeList, TradeOut
from shared.backtests.model import LONG, LOSS, SHORT, WIN

router = APIRouter(prefix=PREFIX, tags=["trades"], responses=error_responses(401, 404, 422, 429, 500))

Side = Annotated[Literal[LONG, SHORT] | None, Query(description="Only long or only short trades.")]
Result = Annotated[
    Literal[WIN, LOSS] | None,
    Query(description="win: closed with pnl > 0; loss: closed with pnl < 0 (open trades match neither)."),
]


Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="csv: every matching trade in one download (also with `Accept: text/csv`)."),
]
CSV_TYPE = "text/csv"


def _listing(
    services: Services, user: CurrentUser, backtest_id: UUID, side: str | None, result: str | None, page: Pagination
) -> TradeList:
    found = services.trades.list(user, str(backtest_id), side, result, page)
    return TradeList(data=[TradeOut.model_validate(t) for t in found.items], meta=found.meta())


def _csv_download(
    services: Services, user: CurrentUser, backtest_id: UUID, side: str | None, result: str | None
) -> Response:
    """The JSON fields as columns, one row per trade, values as JSON shows them (empty for null).
    Up to `trades_csv_inline_max_bytes` the answer itself; larger, a 303 to a presigned GET of the
    file in the results bucket (Lambda answers at most 6 MB, API Gateway waits at most 29 s)."""
    sink = io.StringIO()
    writer = csv.DictWriter(sink, fieldnames=list(TradeOut.model_fields), lineterminator="\r\n")
    writer.writeheader()
    for trade in services.trades.every(user, str(backtest_id), side, result):
        writer.writerow(TradeOut.model_validate(trade).model_dump(mode="json"))
    content = sink.getvalue().encode()
    filename = "-".join(["backtest", str(backtest_id), "trades", *filter(None, (side, result))]) + ".csv"
    media_type = f"{CSV_TYPE}; charset=utf-8"
    if len(content) > services.trades_csv_inline_max_bytes:
        url = services.trade_exports.publish(str(backtest_id), filename, content, media_type)
        return RedirectResponse(url, status_code=303)
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/backtests/{backtest_id}/trades",
    response_model=TradeList,
    summary="List a backtest's trades",
    description="In entry order. Empty until the backtest completed. With `format=csv` or "
    "`Accept: text/csv`: every matching trade as one CSV download (header row, the JSON "
    "fields as columns; pagination does not apply). A CSV over the API's inline limit "
    "(1 MiB by default) is answered 303 with a `Location` to follow: a presigned URL of the "
    "file, valid 5 minutes.",
    responses={
        200: {"content": {CSV_TYPE: {"schema": {"type": "string"}}}},
        303: {
            "description": "The CSV is large: GET it at `Location` (no Authorization header).",
            "headers": {
                "Location": {
                    "schema": {"type": "string", "format": "uri"},
                    "description": "Presigned URL of the CSV, valid 5 minutes.",
                }
            },
        },
    },
)
def list_backtest_trades(
    backtest_id: UUID,
    user: CurrentUser,
    services: Services,
    page: Pagination,
    side: Side = None,
    result: Result = None,
    format: Format = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TradeList | Response:
    wants_csv = format == "csv" or (format is None and CSV_TYPE in (accept or "").lower())
    if wants_csv:
        return _csv_download(services, user, backtest_id, side, result)
    return _listing(services, user, backtest_id, side, result, page)


@router.get(
    "/trades",
    response_model=TradeList,
    summary="List a backtest's trades by query",
    description="The same as `GET /backtests/{backtest_id}/trades`, the backtest named by the `backtest_id` query parameter.",
)
def list_trades(
    backtest_id: UUID, user: CurrentUser, services: Services, page: Pagination, side: Side = None, result: Result = None
) -> TradeList:
    return _listing(services, user, backtest_id, side, result, page)


@router.get("/trades/{trade_id}", response_model=TradeOut, summary="Get one trade")
def get_trade(trade_id: UUID, user: CurrentUser, services: Services) -> TradeOut:
    return TradeOut.model_validate(services.trades.get(user, str(trade_id)))
