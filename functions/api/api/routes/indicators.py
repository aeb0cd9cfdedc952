"""The indicator catalogue the dashboard's rule builder reads.

Served from the static `shared/indicators/catalogue.json` (checked against the registry by
tests/test_indicator_catalogue.py): the API never imports NumPy or TA-Lib for it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from fastapi import APIRouter

import shared
from api import PREFIX
from api.dependencies import CurrentUser
from api.errors import error_responses
from api.indicator_schemas import IndicatorList

router = APIRouter(prefix=PREFIX, tags=["indicators"], responses=error_responses(401, 429, 500))
CATALOGUE_PATH = Path(shared.__file__).parent / "indicators" / "catalogue.json"


@functools.cache
def _catalogue() -> IndicatorList:
    return IndicatorList(data=json.loads(CATALOGUE_PATH.read_text()))


@router.get(
    "/indicators",
    response_model=IndicatorList,
    summary="Every indicator a strategy can use",
    description="Name, group, parameters with defaults and ranges, outputs, `source` support and warm-up.",
)
def list_indicators(user: CurrentUser) -> IndicatorList:
    return _catalogue()
