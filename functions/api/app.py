"""REST API function: the FastAPI application behind API Gateway, adapted by Mangum."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from fastapi import FastAPI
from mangum import Mangum

from shared import __version__

logger = Logger()
tracer = Tracer()
metrics = Metrics()

app = FastAPI(
    title="Backtest Service API",
    version=__version__,
    description="Backtest crypto trading strategies written as JSON rules. Current version: v1 (`/api/v1`).",
    docs_url="/api/docs",
    openapi_url="/api/openapi.json",
    redoc_url=None,
)


@app.get("/api/v1/health", tags=["health"], summary="Liveness and version")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


_asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return _asgi(event, context)
