"""The composition root: the use-cases of `shared/<feature>/` wired to their DynamoDB/S3/Step Functions adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, cached_property, partial
from typing import TYPE_CHECKING, Any

from adapters.backtest_launcher import StepFunctionsLauncher
from adapters.market_catalog import CandleStoreCatalog
from adapters.models.backtests import BacktestItem
from adapters.models.optimizations import OptimizationItem
from adapters.models.rate_limits import RateLimitItem
from adapters.models.sessions import SessionItem
from adapters.models.strategies import StrategyItem
from adapters.models.users import UserItem
from adapters.optimization_store import S3OptimizationStore
from adapters.repositories.backtests import DynamoBacktestRepository
from adapters.repositories.binding import bind
from adapters.repositories.equity import S3EquityStore
from adapters.repositories.optimizations import DynamoOptimizationRepository
from adapters.repositories.rate_limits import DynamoRateLimitCounter
from adapters.repositories.sessions import DynamoSessionRepository
from adapters.repositories.strategies import DynamoStrategyRepository
from adapters.repositories.trades import S3TradeExports, S3TradeStore
from adapters.repositories.users import DynamoUserRepository
from api.settings import ApiSettings
from shared.accounts.rate_limits import RateLimiter
from shared.accounts.service import Accounts
from shared.backtests.analyses import Analyses
from shared.backtests.results import BacktestResults
from shared.backtests.service import Backtests
from shared.backtests.trades import Trades
from shared.optimizations.service import Optimizations
from shared.strategies.service import Strategies

if TYPE_CHECKING:
    from shared.events import EventPublisher
    from shared.market_data.service import MarketDataService
    from shared.transactions.history import TransactionHistory
    from shared.transactions.imports import TransactionImports
    from shared.transactions.replays import Replays


class LazyClient:
    """A boto3 client made on first use: creating one costs ~50 ms, which requests that only
    touch DynamoDB (most of them) should not pay at cold start."""

    def __init__(self, service: str, endpoint_url: str | None, signature_version: str | None = None) -> None:
        self._service = service
        self._endpoint_url = endpoint_url
        self._signature_version = signature_version  # "s3v4" for presigned URLs (boto3 presigns V2 by default)

    @cached_property
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            self._service, endpoint_url=self._endpoint_url, config=Config(signature_version=self._signature_version)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class ApiServices:
    accounts: Accounts
    strategies: Strategies
    backtests: Backtests
    trades: Trades
    # Trade CSVs over `trades_csv_inline_max_bytes` go to the results bucket behind a presigned GET.
    trade_exports: S3TradeExports
    trades_csv_inline_max_bytes: int
    results: BacktestResults
    rate_limiter: RateLimiter
    # Made on the first market-data request: it loads NumPy and pyarrow, which other routes do without.
    market_data: Callable[[], MarketDataService]
    optimizations: Optimizations
    analyses: Analyses
    # Made on the first transaction request: queuing an import reaches the candle store's module.
    transactions: Callable[[], TransactionServices]


@dataclass
class TransactionServices:
    imports: TransactionImports
    history: TransactionHistory
    replays: Replays


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
    equity = S3EquityStore(s3, settings.results_bucket)
    return ApiServices(
        accounts=Accounts(
            users=DynamoUserRepository(bind(UserItem, settings.users_table, endpoint_url)),
            sessions=DynamoSessionRepository(bind(SessionItem, settings.sessions_table, endpoint_url)),
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        ),
        strategies=Strategies(strategies),
        backtests=backtests,
        trades=Trades(backtests, backtests.trades),
        trade_exports=S3TradeExports(LazyClient("s3", endpoint_url, signature_version="s3v4"), settings.results_bucket),
        trades_csv_inline_max_bytes=settings.trades_csv_inline_max_bytes,
        results=BacktestResults(backtests, equity),
        rate_limiter=RateLimiter(
            DynamoRateLimitCounter(bind(RateLimitItem, settings.rate_limits_table, endpoint_url)),
            limits=dict(settings.rate_limits),
        ),
        market_data=cache(partial(build_market_data, settings, endpoint_url)),
        optimizations=Optimizations(
            repository=DynamoOptimizationRepository(bind(OptimizationItem, settings.optimizations_table, endpoint_url)),
            strategies=strategies,
            catalog=backtests.catalog,
            launcher=StepFunctionsLauncher(
                LazyClient("stepfunctions", endpoint_url),
                settings.optimization_state_machine_arn,
                input_key="optimization_id",
            ),
            store=S3OptimizationStore(s3, settings.results_bucket),
            max_concurrency=settings.map_max_concurrency,
            max_combinations=settings.max_combinations,
            batch_memory_mb=settings.optimization_batch_memory_mb,
        ),
        transactions=cache(partial(build_transactions, settings, endpoint_url, backtests)),
        analyses=Analyses(backtests, equity),
    )


def build_transactions(settings: ApiSettings, endpoint_url: str | None, backtests: Backtests) -> TransactionServices:
    """Transactions as the API uses them: imports queued into the imports bucket (run by the
    transaction import function), credentials into Secrets Manager, listings, and replays queued
    through the backtests service (its repository, catalog and state machine)."""
    from adapters.candle_store import S3ImportInbox
    from adapters.models.transactions import TransactionItem, TransactionJobItem
    from adapters.repositories.transactions import (
        DynamoImportJobRepository,
        DynamoReplayRecordRepository,
        DynamoTransactionRepository,
        S3ReplayStore,
    )
    from adapters.secrets import SecretsManagerVault
    from shared.transactions.history import TransactionHistory
    from shared.transactions.imports import TransactionImports
    from shared.transactions.replays import Replays

    s3 = LazyClient("s3", endpoint_url)
    jobs = bind(TransactionJobItem, settings.transaction_jobs_table, endpoint_url)
    transactions = DynamoTransactionRepository(bind(TransactionItem, settings.transactions_table, endpoint_url))
    vault = SecretsManagerVault(LazyClient("secretsmanager", endpoint_url), settings.exchange_secrets_prefix)
    return TransactionServices(
        imports=TransactionImports(DynamoImportJobRepository(jobs), S3ImportInbox(s3, settings.imports_bucket), vault),
        history=TransactionHistory(transactions),
        replays=Replays(
            transactions, DynamoReplayRecordRepository(jobs), backtests, S3ReplayStore(s3, settings.results_bucket)
        ),
    )


def build_market_data(settings: ApiSettings, endpoint_url: str | None = None) -> MarketDataService:
    """The market-data service as the API uses it: it reads candles and queues imports (files and
    fetch requests into the imports bucket, whose S3 events run them in the import function)."""
    import boto3
    from botocore.config import Config

    from adapters.candle_store import S3CandleStore, S3ImportInbox, exchange_clients
    from adapters.funding_store import S3FundingStore
    from adapters.models.market_data import CandleImportItem, DynamoImportRecords
    from adapters.settings import ExchangeSettings
    from adapters.symbol_rules_store import S3SymbolRulesStore
    from shared.market_data.service import MarketDataService

    s3 = boto3.client("s3", endpoint_url=endpoint_url, config=Config(signature_version="s3v4"))  # v4: presigned URLs
    return MarketDataService(
        store=S3CandleStore(s3, settings.candles_bucket),
        records=DynamoImportRecords(bind(CandleImportItem, settings.imports_table, endpoint_url)),
        inbox=S3ImportInbox(s3, settings.imports_bucket),
        publisher=PublisherOnFirstUse(),
        exchanges=exchange_clients(ExchangeSettings.from_env()),
        funding=S3FundingStore(s3, settings.candles_bucket),
        symbol_rules=S3SymbolRulesStore(s3, settings.candles_bucket),
    )


class PublisherOnFirstUse:
    """THE publisher (`adapters.publisher.publisher_from_env`), made when something first publishes:
    the import function publishes an import's progress, the API only queues it, so API requests
    should not pay for the publisher's clients."""

    @cached_property
    def _publisher(self) -> EventPublisher:
        from adapters.publisher import publisher_from_env

        return publisher_from_env()

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None:
        self._publisher.publish(channel, event, data)
