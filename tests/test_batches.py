"""Backtest batch files (shared.backtests.batches): what a file and an entry must be (an entry is
validated by the API's body model, adapters.contracts), with every problem named by its field
(`backtests[i].<field>`), and the ids that make a batch run once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.contracts import backtest_request
from shared.backtests.batches import entry_id, parse_batch, status_key
from shared.errors import ValidationFailed

ENTRY = {
    "strategy_id": "0b7e3c1e-4f5a-4d8b-9c1e-2f3a4b5c6d7e",
    "symbol": "btcusdt",
    "timeframe": "1h",
    "start_time": "2024-01-01T01:00:00+01:00",
    "end_time": "2024-02-01T00:00:00Z",
    "initial_balance": 10000,
    "metadata": {"leverage": 2, "chunks": 4},
}


def fields_of(error: ValidationFailed) -> list[str]:
    return [detail.field for detail in error.errors]


def test_an_entry_is_what_the_rest_api_takes_times_in_utc():
    request = backtest_request(ENTRY, "backtests[0]")
    assert request.start_time == datetime(2024, 1, 1, tzinfo=UTC)
    assert (request.metadata.leverage, request.metadata.commission, request.metadata.chunks) == (2.0, 0.1, 4)
    assert request.initial_balance == 10000.0


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"initial_balance": "lots"}, ["backtests[3].initial_balance"]),
        ({"start_time": "yesterday"}, ["backtests[3].start_time"]),
        ({"start_time": "2024-01-01T00:00:00"}, ["backtests[3].start_time"]),  # no timezone
        ({"timeframe": "7m"}, ["backtests[3].timeframe"]),
        ({"metadata": {"lever": 2}}, ["backtests[3].metadata.lever"]),
        ({"metadata": {"chunks": 2.5}}, ["backtests[3].metadata.chunks"]),
        ({"owner": "x"}, ["backtests[3].owner"]),
    ],
)
def test_a_bad_entry_names_each_field(change, fields):
    with pytest.raises(ValidationFailed) as error:
        backtest_request(ENTRY | change, "backtests[3]")
    assert fields_of(error.value) == fields


def test_missing_fields_are_each_named():
    with pytest.raises(ValidationFailed) as error:
        backtest_request({"symbol": "BTCUSDT"}, "backtests[0]")
    assert fields_of(error.value) == [
        f"backtests[0].{name}" for name in ("strategy_id", "timeframe", "start_time", "end_time", "initial_balance")
    ]


@pytest.mark.parametrize(
    ("content", "fields"),
    [
        (b"{not json", ["file"]),
        (b"[]", ["file"]),
        (json.dumps({"backtests": [ENTRY]}).encode(), ["owner"]),
        (json.dumps({"owner": "a@example.com", "backtests": []}).encode(), ["backtests"]),
        (json.dumps({"owner": "a@example.com", "backtests": [ENTRY], "priority": 1}).encode(), ["priority"]),
    ],
)
def test_a_bad_file_is_refused_whole(content, fields):
    with pytest.raises(ValidationFailed) as error:
        parse_batch(content)
    assert fields_of(error.value) == fields


def test_a_json_error_names_its_line():
    with pytest.raises(ValidationFailed) as error:
        parse_batch(b'{"owner": "a@example.com",\n "backtests": [}')
    assert error.value.errors[0].message == "line 2 column 16: Expecting value"


def test_entry_ids_are_the_same_for_the_same_event_and_new_for_a_new_upload():
    first = entry_id("imports", "imports/batches/q1.json", "0055AED6DCD90281E5", 0)
    assert first == entry_id("imports", "imports/batches/q1.json", "0055AED6DCD90281E5", 0)
    assert first != entry_id("imports", "imports/batches/q1.json", "0055AED6DCD90281E5", 1)
    assert first != entry_id("imports", "imports/batches/q1.json", "0055AED6DCD90281F0", 0)  # uploaded again


def test_the_status_object_sits_outside_the_batches_prefix():
    assert status_key("imports/batches/2024/q1.json") == "imports/batch-status/2024/q1.json"
