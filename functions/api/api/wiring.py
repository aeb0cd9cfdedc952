"""The composition root: services of `shared.services` wired to their DynamoDB/S3/Step Functions adapters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from adapters.backtest_launcher import StepFunctionsLauncher
from adapters.market_catalog import CandleStoreCatalog
from adapters.models.backtests import BacktestItem
from adapters.models.rate_limits import RateLimitItem
from adapters.models.sessions import SessionItem
from adapters.models.strategies import StrategyItem
from adapters.models.users import UserItem
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.rate_limits import DynamoRateLimitCounter
from adapters.repositories.sessions import DynamoSessionRepository
from adapters.repositories.strategies import DynamoStrategyRepository
from adapters.repositories.trades import S3TradeStore
from adapters.repositories.users import DynamoUserRepository
from api.settings import ApiSettings
from shared.services.accounts import Accounts
from shared.services.backtests import Backtests
from shared.services.rate_limits import RateLimiter
from shared.services.strategies import Strategies
from shared.services.trades import Trades


class LazyClient:
    """A boto3 client made on first use: creating one costs ~50 ms, which requests that only
    touch DynamoDB (most of them) should not pay at cold start."""

    def __init__(self, service: str, endpoint_url: str | None) -> None:
        self._service = service
        self._endpoint_url = endpoint_url

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client(self._service, endpoint_url=self._endpoint_url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class ApiServices:
    accounts: Accounts
    strategies: Strategies
    backtests: Backtests
    trades: Trades
    rate_limiter: RateLimiter


def build_services(settings: ApiSettings, endpoint_url: str | None = None) -> ApiServices:
    """Everything the routes call. `endpoint_url` points every AWS client at one endpoint (a test's
    moto); None lets the SDK resolve it (AWS_ENDPOINT_URL on the local stack, AWS itself in Lambda)."""
    s3 = LazyClient("s3", endpoint_url)
    strategies = DynamoStrategyRepository(bind(StrategyItem, settings.strategies_table, endpoint_url))
    backtests = Backtests(
        repository=DynamoBacktestRepository(bind(BacktestItem, settings.backtests_table, endpoint_url)),
        strategies=strategies,
        catalog=CandleStoreCatalog(s3, settings.candles_bucket),
        launcher=StepFunctionsLauncher(LazyClient("stepfunctions", endpoint_url), settings.state_machine_arn),
        trades=S3TradeStore(s3, settings.results_bucket),
    )
    return ApiServices(
        accounts=Accounts(
            users=DynamoUserRepository(bind(UserItem, settings.users_table, endpoint_url)),
            sessions=DynamoSessionRepository(bind(SessionItem, settings.sessions_table, endpoint_url)),
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        ),
        strategies=Strategies(strategies),
        backtests=backtests,
        trades=Trades(backtests, backtests.trades),
        rate_limiter=RateLimiter(DynamoRateLimitCounter(bind(RateLimitItem, settings.rate_limits_table, endpoint_url))),
    )
