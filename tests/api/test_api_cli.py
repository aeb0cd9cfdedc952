"""`backtest users create`: accounts made from the command line can sign in through the API."""

from __future__ import annotations

import io
import json
import uuid

from adapters.cli import main
from tests.api.conftest import PASSWORD


def _create(monkeypatch, api, argv: list[str], stdin: str) -> int:
    monkeypatch.setenv("USERS_TABLE", api.settings.users_table)
    monkeypatch.setenv("AWS_ENDPOINT_URL", api.endpoint_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", "create", *argv, "--password-stdin"])


def test_a_user_created_on_the_command_line_can_sign_in(api, monkeypatch, capsys):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    assert _create(monkeypatch, api, ["--email", email, "--name", "Cli User"], PASSWORD + "\n") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["email"] == email and printed["name"] == "Cli User" and printed["created_at"].endswith("Z")
    session = api.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    assert session.status_code == 200 and session.json()["user"]["id"] == printed["id"]


def test_invalid_input_exits_2_naming_the_field(api, monkeypatch, capsys):
    assert _create(monkeypatch, api, ["--email", "nobody", "--name", "X"], "short\n") == 2
    error = capsys.readouterr().err
    assert error.startswith("backtest users: error: ")
    assert "email: is not a valid email address" in error and "password: must be at least 10 characters" in error


def test_the_users_table_must_be_named(monkeypatch, capsys):
    monkeypatch.delenv("USERS_TABLE", raising=False)
    assert main(["users", "create", "--email", "a@b.co", "--name", "A", "--password-stdin"]) == 2
    assert "USERS_TABLE" in capsys.readouterr().err
