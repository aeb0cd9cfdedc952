"""Each function's settings (adapters.settings): read once from the environment, every missing or
malformed variable named, and satisfied by the template's environment of every function using them."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import pytest

from adapters.settings import (
    BacktestWorkflowSettings,
    BatchImportSettings,
    CandleImportSettings,
    IdempotencySettings,
    OptimizationWorkflowSettings,
    PublisherSettings,
    RunWatchdogSettings,
    SettingsError,
    TransactionImportSettings,
    WebSocketSettings,
)
from local.template import Template

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions" / "api"))
from api.settings import ApiSettings

# Which functions build what, as their composition roots do (functions/*/app.py, adapters.workflow;
# ComputeFunction and OptimizationBatchFunction share functions/compute, one handler each).
USED_BY = {
    ApiSettings: ["ApiFunction"],
    WebSocketSettings: ["WebSocketFunction"],
    PublisherSettings: [
        "MarketFeedFunction",
        "ComputeFunction",
        "WorkflowFunction",
        "OptimizationBatchFunction",
        "RunWatchdogFunction",
        "CandleImportFunction",
        "TransactionImportFunction",
    ],
    BacktestWorkflowSettings: ["ComputeFunction", "WorkflowFunction", "RunWatchdogFunction"],
    OptimizationWorkflowSettings: ["WorkflowFunction", "OptimizationBatchFunction", "RunWatchdogFunction"],
    RunWatchdogSettings: ["RunWatchdogFunction"],
    IdempotencySettings: ["CandleImportFunction", "BatchImportFunction", "TransactionImportFunction"],
    CandleImportSettings: ["CandleImportFunction"],
    BatchImportSettings: ["BatchImportFunction"],
    TransactionImportSettings: ["TransactionImportFunction"],
}


@pytest.mark.parametrize("settings_class", list(USED_BY), ids=lambda cls: cls.__name__)
def test_the_template_gives_every_function_what_its_settings_need(settings_class):
    template = Template.load()
    for logical_id in USED_BY[settings_class]:
        environment = template.function_environment(logical_id)
        settings = settings_class.from_env(environment)
        for spec in fields(settings_class):
            variable = spec.name.upper()
            value = getattr(settings, spec.name)
            if variable in environment:  # else an optional one, at its default
                assert value == type(value)(environment[variable])


def test_values_are_typed_and_optional_ones_default():
    settings = CandleImportSettings.from_env({"CANDLES_BUCKET": "c", "IMPORTS_BUCKET": "i"})
    assert settings == CandleImportSettings("c", "i", "candle-imports")
    backtests = BacktestWorkflowSettings.from_env(
        {"BACKTESTS_TABLE": "b", "RESULTS_BUCKET": "r", "CANDLES_BUCKET": "c", "BARS_PER_CHUNK": "5000"}
    )
    assert backtests.bars_per_chunk == 5000 and isinstance(backtests.bars_per_chunk, int)
    websocket = WebSocketSettings.from_env(
        {
            "CONNECTIONS_TABLE": "k",
            "USERS_TABLE": "u",
            "SESSIONS_TABLE": "s",
            "BACKTESTS_TABLE": "b",
            "CANDLES_BUCKET": "c",
            "SESSION_TTL_HOURS": "1.5",
        }
    )
    assert websocket.session_ttl_hours == 1.5


def test_what_is_missing_or_malformed_is_named_with_the_function():
    with pytest.raises(SettingsError) as raised:
        BacktestWorkflowSettings.from_env({"BACKTESTS_TABLE": "b", "CANDLES_BUCKET": "", "BARS_PER_CHUNK": "many"})
    assert str(raised.value) == (
        "the backtest workflow cannot start: missing environment variables RESULTS_BUCKET, "
        "CANDLES_BUCKET; BARS_PER_CHUNK='many' is not an integer"
    )
    with pytest.raises(
        SettingsError, match=r"the WebSocket function cannot start: .*SESSION_TTL_HOURS='a day' is not a number"
    ):
        WebSocketSettings.from_env(
            {
                "CONNECTIONS_TABLE": "k",
                "USERS_TABLE": "u",
                "SESSIONS_TABLE": "s",
                "BACKTESTS_TABLE": "b",
                "CANDLES_BUCKET": "c",
                "SESSION_TTL_HOURS": "a day",
            }
        )
    with pytest.raises(
        SettingsError, match=r"^the API function cannot start: missing environment variables USERS_TABLE, "
    ):
        ApiSettings.from_env({})


def test_the_process_environment_is_read_when_none_is_given(monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idem")
    assert IdempotencySettings.from_env().idempotency_table == "idem"
    monkeypatch.delenv("IDEMPOTENCY_TABLE")
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TABLE"):
        IdempotencySettings.from_env()
