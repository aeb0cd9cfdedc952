"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from api import PREFIX
from api.errors import error_responses
from api.schemas import Health
from shared import __version__

router = APIRouter(prefix=PREFIX, tags=["health"], responses=error_responses(429, 500))


@router.get("/health", response_model=Health, summary="Liveness and version")
def health() -> Health:
    return Health(status="ok", version=__version__)
