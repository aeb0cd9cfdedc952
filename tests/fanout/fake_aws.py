"""The environment the test suite and the benches run in: fake AWS credentials and region (moto
accepts any, and nothing run here can reach a real account) and Powertools without X-Ray."""

from __future__ import annotations

import os

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "BacktestService",
    "POWERTOOLS_SERVICE_NAME": "backtest-service",
}


def use_fake_aws() -> None:
    os.environ.update(FAKE_AWS_ENVIRONMENT)
