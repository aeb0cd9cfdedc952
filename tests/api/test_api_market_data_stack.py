"""Market data end to end on the local stack: over HTTP through the REST gateway, files land in the
imports bucket, its S3 events run the import function, and the candles come back over REST.

The stack seeds SYNTHETIC BTCUSDT and ETHUSDT candles; the files imported here are small and
hand-valued: hour i of NEWCOIN opens at 10 + i, closes at 11 + i, has high 12 + i, low 9 + i
and volume 5 + i.
"""

from __future__ import annotations

import base64
import time
import urllib.request
import uuid

import httpx
import pytest

from local.stack import LocalStack
from tests.api.conftest import PASSWORD, bearer

pytestmark = pytest.mark.stack

MARKET = "/api/v1/market_data"
IMPORT_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def http(moto_server):
    """A client of a fresh local stack. moto keeps its state in module globals shared by every moto
    server of this process: the stack starts on an empty AWS and leaves one behind."""

    def reset_moto() -> None:
        urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()

    reset_moto()
    try:
        with LocalStack(api_port=0, ws_port=0) as stack, httpx.Client(base_url=stack.api_url, timeout=30) as client:
            yield client
    finally:
        reset_moto()


@pytest.fixture(scope="module")
def token(http) -> str:
    email = f"market-{uuid.uuid4().hex[:10]}@example.com"
    assert http.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Market"}).status_code == 201
    return http.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).json()["token"]


def _candle(i: int) -> dict:
    return {
        "timestamp": f"2024-03-01T{i:02d}:00:00Z",
        "open": 10.0 + i,
        "high": 12.0 + i,
        "low": 9.0 + i,
        "close": 11.0 + i,
        "volume": 5.0 + i,
    }


def _csv(candles: list[dict]) -> bytes:
    return (
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"{c['timestamp']},{c['open']},{c['high']},{c['low']},{c['close']},{c['volume']}\n" for c in candles)
    ).encode()


def _finished(http: httpx.Client, token: str, import_id: str) -> dict:
    """The import's status record once it completed or failed."""
    deadline = time.monotonic() + IMPORT_TIMEOUT_S
    while True:
        status = http.get(f"{MARKET}/imports/{import_id}", headers=bearer(token)).json()
        if status["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_the_sample_data_is_there_to_read(http, token):
    assert {"BTCUSDT", "ETHUSDT"} <= set(http.get(f"{MARKET}/symbols", headers=bearer(token)).json()["data"])
    candles = http.get(f"{MARKET}/BTCUSDT/1h", params={"limit": 2}, headers=bearer(token)).json()["data"]
    latest = http.get(f"{MARKET}/BTCUSDT/latest_candle", params={"timeframe": "1h"}, headers=bearer(token)).json()
    assert len(candles) == 2 and latest == {"id": latest["id"], "symbol": "BTCUSDT", **candles[-1]}


def test_an_imported_file_is_served_once_its_import_completed(http, token):
    # Given a six-hour CSV for a symbol the store does not hold yet
    content = _csv([_candle(i) for i in range(6)])
    body = {
        "symbol": "NEWCOIN",
        "timeframe": "1h",
        "file_format": "csv",
        "file_content": base64.b64encode(content).decode(),
    }

    # When it is posted and its import runs
    queued = http.post(f"{MARKET}/import", json=body, headers=bearer(token))
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    status = _finished(http, token, queued.json()["import_id"])

    # Then its status tells what was imported, and the candles are served, resampled too
    assert status["status"] == "completed", status
    assert (status["format"], status["rows_in_file"], status["rows_imported"]) == ("ohlcv_csv", 6, 6)
    assert status["gaps"] == {"missing_candles": 0, "gap_count": 0, "gaps": []}
    assert (status["first_timestamp"], status["last_timestamp"]) == ("2024-03-01T00:00:00Z", "2024-03-01T05:00:00Z")
    assert "NEWCOIN" in http.get(f"{MARKET}/symbols", headers=bearer(token)).json()["data"]
    hourly = http.get(f"{MARKET}/NEWCOIN/1h", headers=bearer(token)).json()["data"]
    assert hourly == [_candle(i) for i in range(6)]
    four_hourly = http.get(f"{MARKET}/NEWCOIN/4h", headers=bearer(token)).json()["data"]
    assert four_hourly == [
        {
            "timestamp": "2024-03-01T00:00:00Z",
            "open": 10.0,
            "high": 15.0,
            "low": 9.0,
            "close": 14.0,
            "volume": 5.0 + 6 + 7 + 8,
        },
        {
            "timestamp": "2024-03-01T04:00:00Z",
            "open": 14.0,
            "high": 17.0,
            "low": 13.0,
            "close": 16.0,
            "volume": 9.0 + 10,
        },
    ]

    # And importing the same file again changes nothing
    again = http.post(f"{MARKET}/import", json=body, headers=bearer(token)).json()["import_id"]
    repeated = _finished(http, token, again)
    assert (repeated["status"], repeated["rows_imported"], repeated["rows_unchanged"]) == ("completed", 0, 6)
    listed = http.get(f"{MARKET}/imports", headers=bearer(token)).json()["data"]
    assert {again, queued.json()["import_id"]} <= {record["import_id"] for record in listed}


def test_a_bad_file_uploaded_to_its_url_fails_naming_its_lines_and_stores_nothing(http, token):
    # Given a file with a high below its close (line 3), a word for a price (line 5) and an
    # open time off the hour (line 6)
    rows = _csv([_candle(i) for i in range(4)]).decode().splitlines()
    rows[2] = "2024-03-01T01:00:00Z,11.0,10.5,9.0,10.0,5.0"
    rows[4] = "2024-03-01T03:00:00Z,13.0,15.0,12.0,eleven,8.0"
    rows.append("2024-03-01T04:30:00Z,14.0,16.0,13.0,15.0,9.0")
    content = ("\n".join(rows) + "\n").encode()

    # When it goes through a presigned upload, as a large file would
    ticket = http.post(
        f"{MARKET}/uploads", json={"symbol": "BADCOIN", "timeframe": "1h", "filename": "bad.csv"}, headers=bearer(token)
    ).json()
    assert httpx.put(ticket["upload_url"], content=content, headers={"Content-Type": "text/csv"}).status_code == 200
    status = _finished(http, token, ticket["import_id"])

    # Then the import failed, naming each problem by line, and nothing was stored
    assert status["status"] == "failed", status
    assert [error["field"] for error in status["errors"]] == ["line 3", "line 5", "line 6"]
    assert status["error_count"] == 3 and status["rows_imported"] == 0
    missing = http.get(f"{MARKET}/BADCOIN/1h", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["error"]["details"][0]["field"] == "symbol"


def test_every_exporter_layout_imports_through_the_api_the_s3_drop_and_the_cli_to_the_same_candles(
    http, token, tmp_path
):
    """Acceptance: each layout of tests/fakes/exporter_files.py, posted to the API, dropped into the
    imports bucket (its S3 event runs the import function) and read by the CLI, gives the same candles."""
    import os

    import boto3

    from adapters.cli import read_candles
    from shared.market_data.wire import candle_dicts
    from tests.fakes.exporter_files import LAYOUTS

    s3 = boto3.client("s3")  # the stack's AWS_ENDPOINT_URL
    queued = {}
    for i, (name, sample) in enumerate(LAYOUTS.items()):
        api_symbol, s3_symbol = f"{sample.symbol}{i:02d}API", f"{sample.symbol}{i:02d}S3"
        body = {
            "symbol": api_symbol,
            "timeframe": "1h",
            "file_format": "csv",
            "file_content": base64.b64encode(sample.content).decode(),
        }
        response = http.post(f"{MARKET}/import", json=body, headers=bearer(token))
        assert response.status_code == 202, (name, response.text)
        s3.put_object(
            Bucket=os.environ["IMPORTS_BUCKET"], Key=f"imports/candles/{s3_symbol}/1h/{name}.dat", Body=sample.content
        )
        queued[name] = (response.json()["import_id"], api_symbol, s3_symbol)

    for name, (import_id, api_symbol, s3_symbol) in queued.items():
        sample = LAYOUTS[name]
        status = _finished(http, token, import_id)
        assert status["status"] == "completed", (name, status)
        assert status["rows_without_trades"] == sample.rows_without_trades, name
        path = tmp_path / f"{name}.dat"
        path.write_bytes(sample.content)
        cli = candle_dicts(read_candles(str(path), "1h", sample.symbol))
        assert [c["volume"] for c in cli] == list(sample.volume), name
        assert http.get(f"{MARKET}/{api_symbol}/1h", headers=bearer(token)).json()["data"] == cli, name
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        while (dropped := http.get(f"{MARKET}/{s3_symbol}/1h", headers=bearer(token))).status_code == 404:
            assert time.monotonic() < deadline, f"{name}: the S3 drop was not imported"
            time.sleep(0.1)
        assert dropped.json()["data"] == cli, name
