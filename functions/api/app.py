"""REST API function: the FastAPI application behind API Gateway, adapted by Mangum.

Cold start imports FastAPI, Powertools and PynamoDB only; boto3 clients, pyarrow and NumPy load
on the first request that needs them (trades, backtest creation, strategy validation).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from api.application import create_app
from api.settings import ApiSettings
from api.wiring import build_services

logger = Logger()
tracer = Tracer()
metrics = Metrics()

settings = ApiSettings.from_env()
app = create_app(build_services(settings), allowed_origin=settings.cors_allowed_origin)
_asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return _asgi(event, context)
