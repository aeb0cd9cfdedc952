"""Sign-up, sign-in, tokens and sign-out (issue 6, Auth)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest

from shared.accounts.auth import PasswordHasher, Unauthenticated, new_token, token_digest
from shared.accounts.service import INVALID_CREDENTIALS, Accounts
from shared.errors import ValidationFailed
from tests.api.conftest import PASSWORD, bearer


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


# ---------------------------------------------------------------- passwords and tokens
def test_password_hashes_are_salted_scrypt_with_the_documented_default_cost():
    hasher = PasswordHasher()
    assert (hasher.n, hasher.r, hasher.p) == (2**14, 8, 5)  # OWASP's scrypt row with 16 MiB of memory
    first, second = hasher.hash("a password!"), hasher.hash("a password!")
    assert first != second  # a fresh salt each time
    scheme, n, r, p, _, _ = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "5")
    assert hasher.verify("a password!", first) and not hasher.verify("a password?", first)


def test_a_hash_made_with_another_cost_still_verifies():
    cheap = PasswordHasher(n=2**8, r=8, p=1).hash("old password")
    assert PasswordHasher().verify("old password", cheap)
    assert not PasswordHasher().verify("old password", "not$a$hash")


def test_tokens_carry_256_random_bits_and_only_their_sha256_is_stored():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 for t in tokens)  # 32 bytes in URL-safe base64, unpadded
    token = tokens.pop()
    assert token_digest(token) == hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- sign-up
def test_sign_up_creates_a_user(api):
    email = _email()
    response = api.client.post("/api/v1/users", json={"email": email.upper(), "password": PASSWORD, "name": " Ada "})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email and body["name"] == "Ada"
    assert uuid.UUID(body["id"]).version == 4
    assert body["created_at"].endswith("Z")
    assert "password" not in response.text


def test_the_users_table_holds_a_scrypt_hash_not_the_password(api):
    email = _email()
    api.client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Bo"})
    item = api.aws("dynamodb").get_item(TableName=api.settings.users_table, Key={"email": {"S": email}})["Item"]
    assert item["password_hash"]["S"].startswith("scrypt$")
    assert PASSWORD not in str(item)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": "short", "name": "Ada"}, "password"),
        ({"password": PASSWORD, "name": ""}, "name"),
        ({"password": PASSWORD, "name": "Ada", "email": "not-an-email"}, "email"),
    ],
)
def test_sign_up_rejects_invalid_fields_with_422_naming_them(api, body, field):
    response = api.client.post("/api/v1/users", json={"email": _email(), **body})
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["error"]["details"]]


def test_a_duplicate_email_is_a_409_conflict(api):
    """409, not 422: the body is valid (the schema accepts it); it conflicts with an existing account."""
    email = _email()
    assert api.client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "A"}).status_code == 201
    again = api.client.post("/api/v1/users", json={"email": email.upper(), "password": PASSWORD, "name": "B"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert again.json()["error"]["details"] == [{"field": "email", "message": "is already registered"}]


# ---------------------------------------------------------------- sign-in
def test_sign_in_returns_a_token_and_the_user(api):
    email = _email()
    user = api.client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Cy"}).json()
    response = api.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {k: user[k] for k in ("id", "email", "name", "created_at")}
    assert len(body["token"]) == 43
    assert api.client.get("/api/v1/strategies", headers=bearer(body["token"])).status_code == 200


def test_the_sessions_table_is_keyed_by_the_token_digest_with_an_expiry(api):
    token, _ = api.sign_up()
    dynamodb = api.aws("dynamodb")
    item = dynamodb.get_item(TableName=api.settings.sessions_table, Key={"token_digest": {"S": token_digest(token)}})
    assert token not in str(item["Item"])
    expires_at = int(item["Item"]["expires_at"]["N"])
    created = item["Item"]["created_at"]["S"]
    assert expires_at > 0 and created
    ttl = dynamodb.describe_time_to_live(TableName=api.settings.sessions_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_wrong_password_and_unknown_email_fail_alike(api):
    email = _email()
    api.client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "name": "Di"})
    wrong = api.client.post("/api/v1/sessions", json={"email": email, "password": "wrong password!"})
    unknown = api.client.post("/api/v1/sessions", json={"email": _email(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": {"code": "unauthorized", "message": INVALID_CREDENTIALS, "details": []}}
    )


@pytest.mark.parametrize("email", ["", "   "])
def test_a_blank_email_fails_like_an_unknown_one(api, email):
    with pytest.raises(Unauthenticated):
        api.services.accounts.sign_in(email, PASSWORD)
    response = api.client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    assert response.status_code == (422 if email == "" else 401)


class CountingHasher(PasswordHasher):
    """Counts scrypt derivations: the timing of sign-in is the number of hashes it computes."""

    derivations = 0

    def _derive(self, *args):  # type: ignore[override]
        CountingHasher.derivations += 1
        return PasswordHasher._derive(*args)


def test_an_unknown_email_costs_one_scrypt_like_a_wrong_password(api):
    accounts = Accounts(
        api.services.accounts.users,
        api.services.accounts.sessions,
        timedelta(hours=1),
        hasher=CountingHasher(n=2**8, r=8, p=1),
    )
    email = _email()
    accounts.register(email, PASSWORD, "Ed")
    accounts.hasher.burn("warm up")  # the dummy hash is made once per process
    for attempt in ({"email": email, "password": "wrong password!"}, {"email": _email(), "password": PASSWORD}):
        before = CountingHasher.derivations
        with pytest.raises(Unauthenticated):
            accounts.sign_in(**attempt)
        assert CountingHasher.derivations - before == 1


# ---------------------------------------------------------------- tokens on requests
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer " + "x" * 300},
    ],
)
def test_protected_routes_refuse_missing_or_invalid_tokens_with_401(api, headers):
    response = api.client.get("/api/v1/backtests", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_an_expired_token_is_refused_even_before_ttl_removes_it(api):
    accounts = api.services.accounts
    email = _email()
    accounts.register(email, PASSWORD, "Fa")
    token, session = accounts.sign_in(email, PASSWORD)
    assert accounts.authenticate(token).email == email
    later = Accounts(
        accounts.users, accounts.sessions, accounts.session_ttl, accounts.hasher, clock=lambda: session.expires_at
    )
    with pytest.raises(Unauthenticated):
        later.authenticate(token)


def test_session_lifetime_comes_from_the_setting(api):
    token, _ = api.sign_up()
    session = api.services.accounts.sessions.find(token_digest(token))
    lifetime = timedelta(hours=api.settings.session_ttl_hours)
    assert lifetime - timedelta(seconds=1) < session.expires_at - session.created_at <= lifetime


def test_sign_out_revokes_the_token(api):
    token, _ = api.sign_up()
    assert api.client.delete("/api/v1/sessions", headers=bearer(token)).status_code == 204
    assert api.client.get("/api/v1/strategies", headers=bearer(token)).status_code == 401
    assert api.client.delete("/api/v1/sessions", headers=bearer(token)).status_code == 401


def test_sign_out_without_a_token_is_401(api):
    assert api.client.delete("/api/v1/sessions").status_code == 401


def test_registration_rules_hold_outside_http_too(api):
    with pytest.raises(ValidationFailed) as failed:
        api.services.accounts.register("x@y.z", "123456789", "Gus")
    assert [e.field for e in failed.value.errors] == ["password"]
