"""SPEC §10 over HTTP on every framework: access and refresh tokens, the JWKS, API keys.

Each test runs once per framework (``conftest.FRAMEWORKS``). The negative
tests of SECURITY.md #47–#50 and #57 are here: every way an access token can
be wrong, a refresh token presented twice, another user's key, a missing
scope, and a key that never acts for anyone but its owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from authgate.keys import generate_key, load_key, private_pem
from authgate.testing import OutboxMailer

from .clients import ContractClient
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer, sign_up
from .test_http_email import token_of

#: One signing key for the whole module (keys are slow to make only in bulk).
KEY = private_pem(generate_key("EdDSA"))
OTHER_KEY = private_pem(generate_key("EdDSA"))
SIGNING = load_key(KEY, "EdDSA")
JWT = {"jwt_access_tokens": True, "jwt_keys": [KEY]}


@pytest.fixture
def jwt_client(make_client: MakeClient) -> ContractClient:
    return make_client(**JWT)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def header_of(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def forge(
    token: str, *, key: Any = None, headers: dict[str, Any] | None = None, **changes: Any
) -> str:
    """``token`` re-signed with the real key (or ``key``) after changing claims/headers."""
    claims = {**claims_of(token), **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    head = {"kid": SIGNING.kid, "typ": "at+jwt", **(headers or {})}
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(claims, key or SIGNING.private, algorithm="EdDSA", headers=head)


def unsigned(token: str, alg: str = "none", secret: bytes | None = None) -> str:
    """``token``'s claims under a hand-made header: ``alg: none``, or HS256 with ``secret``."""
    header = {"alg": alg, "kid": SIGNING.kid, "typ": "at+jwt"}
    signing_input = (
        _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims_of(token)).encode())
    )
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def signed_in(client: ContractClient, email: str = "alice@example.com") -> dict[str, Any]:
    body: dict[str, Any] = sign_up(client, email).json()
    return body


# -- the sign-in answer ---------------------------------------------------------------
def test_sign_in_answers_an_access_and_a_refresh_token(jwt_client: ContractClient) -> None:
    sign_up(jwt_client)
    jwt_client.cookies.clear()
    r = jwt_client.post(
        "/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD}
    )
    body = r.json()
    assert r.status == 200
    assert set(body) == {"user", "token", "refresh_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert header_of(body["token"]) == {"alg": "EdDSA", "kid": SIGNING.kid, "typ": "at+jwt"}
    claims = claims_of(body["token"])
    assert {"iss", "aud", "sub", "exp", "iat", "jti", "sid"} <= set(claims)
    assert claims["sub"] == body["user"]["id"] and claims["exp"] - claims["iat"] == 300
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    assert "." not in body["refresh_token"]  # opaque, not a JWT
    # The cookie carries the session's own token, never the access token.
    cookie = next(c for c in r.set_cookies if "authgate_session=" in c)
    assert body["token"] not in cookie and body["refresh_token"] not in cookie
    assert "HttpOnly" in cookie


PAIR = {"user", "token", "refresh_token", "expires_in", "token_type"}


def test_every_way_of_signing_in_answers_the_pair(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(**JWT, passwordless=True, confirmable=True, login_after_reset=True,
                         send_email=outbox, base_url="https://app.example")  # fmt: skip
    sign_up(client)
    r = client.post("/auth/verify-email", json={"token": token_of(outbox, "confirm_email")})
    assert r.status == 200 and set(r.json()) == PAIR, r.body
    client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    r = client.post("/auth/magic-link/verify", json={"token": token_of(outbox, "login_link")})
    assert r.status == 200 and set(r.json()) == PAIR, r.body
    assert claims_of(r.json()["token"])["sid"]
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    reset = client.auth.reset_password(  # type: ignore[attr-defined]
        token_of(outbox, "reset_password"), "new staple battery horse"
    )
    assert reset.refresh_token and claims_of(reset.token)["sid"] == reset.session.id


# -- accepted as a bearer credential, without a database read -------------------------
def test_access_token_is_accepted_everywhere(jwt_client: ContractClient) -> None:
    token = signed_in(jwt_client)["token"]
    jwt_client.cookies.clear()
    for path in ("/protected", "/token-only", "/auth/session"):
        r = jwt_client.get(path, headers=bearer(token))
        assert r.status == 200, (path, r.body)
    assert jwt_client.get("/auth/session", headers=bearer(token)).json()["user"]["email"] == (
        "alice@example.com"
    )
    assert_error(jwt_client.get("/admin", headers=bearer(token)), 403, "FORBIDDEN")
    assert_error(jwt_client.get("/session-only", headers=bearer(token)), 401, "UNAUTHORIZED")


def test_roles_and_permissions_come_from_the_claims(jwt_client: ContractClient) -> None:
    auth = jwt_client.auth  # type: ignore[attr-defined]
    auth.users.create_role("editor", permissions=["post.edit"])
    auth.users.create_user(email="bob@example.com", password=PASSWORD, roles=["admin", "editor"])
    r = jwt_client.post(
        "/auth/sign-in/email", json={"email": "bob@example.com", "password": PASSWORD}
    )
    token = r.json()["token"]
    assert claims_of(token)["roles"] == ["admin", "editor"]
    assert claims_of(token)["permissions"] == ["post.edit"]
    jwt_client.cookies.clear()
    assert jwt_client.get("/admin", headers=bearer(token)).status == 200
    assert jwt_client.get("/perm", headers=bearer(token)).status == 200
    assert jwt_client.get("/accepted", headers=bearer(token)).status == 200


def test_guards_check_access_tokens_without_reading_the_store(
    jwt_client: ContractClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signed_in(jwt_client)["token"]
    jwt_client.cookies.clear()
    ctx = jwt_client.auth.ctx  # type: ignore[attr-defined]

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the store was read")

    for name in ("get_session", "get_session_by_id", "get_user", "get_user_by_email"):
        monkeypatch.setattr(ctx.sessions, name, no_read)
        monkeypatch.setattr(ctx.users, name, no_read)
    r = jwt_client.get("/protected", headers=bearer(token))
    assert r.status == 200 and r.json() == {"email": "alice@example.com"}


# -- every way an access token can be wrong (SECURITY #47) ----------------------------
def _bad_tokens() -> dict[str, Callable[[str], str]]:
    now = int(time.time())
    public = SIGNING.public
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    other = load_key(OTHER_KEY, "EdDSA").private
    return {
        "expired": lambda t: forge(t, exp=now - 1, iat=now - 400),
        "nbf in the future": lambda t: forge(t, nbf=now + 3600),
        "iat in the future": lambda t: forge(t, iat=now + 3600, exp=now + 7200),
        "wrong aud": lambda t: forge(t, aud="https://other.example"),
        "no aud": lambda t: forge(t, aud=None),
        "wrong iss": lambda t: forge(t, iss="https://evil.example"),
        "alg none": unsigned,
        "HS256 with the public key (PEM)": lambda t: unsigned(t, "HS256", pem),
        "HS256 with the public key (raw)": lambda t: unsigned(t, "HS256", raw),
        "unknown kid": lambda t: forge(t, headers={"kid": "not-a-key"}),
        "no kid": lambda t: forge(t, headers={"kid": None}),
        "another key under our kid": lambda t: forge(t, key=other),
        "tampered claims": lambda t: (
            t.split(".")[0]
            + "."
            + _b64(json.dumps({**claims_of(t), "roles": ["admin"]}).encode())
            + "."
            + t.split(".")[2]
        ),
        "flipped signature byte": lambda t: t[:-4] + ("A" if t[-4] != "A" else "B") + t[-3:],
        "not an access token type": lambda t: forge(t, headers={"typ": "JWT"}),
        "no subject": lambda t: forge(t, sub=None),
        "no session": lambda t: forge(t, sid=None),
        "truncated": lambda t: t.rsplit(".", 1)[0],
    }


BAD = _bad_tokens()


@pytest.mark.parametrize("case", list(BAD))
def test_bad_access_tokens_are_refused(jwt_client: ContractClient, case: str) -> None:
    token = signed_in(jwt_client)["token"]
    jwt_client.cookies.clear()
    assert jwt_client.get("/protected", headers=bearer(token)).status == 200
    bad = BAD[case](token)
    for path in ("/protected", "/auth/session"):
        r = jwt_client.get(path, headers=bearer(bad))
        assert_error(r, 401, "INVALID_TOKEN")
        assert 'error="invalid_token"' in (r.header("WWW-Authenticate") or "")


def test_tokens_are_not_interchangeable(jwt_client: ContractClient) -> None:
    body = signed_in(jwt_client)
    jwt_client.cookies.clear()
    # A refresh token is not a bearer credential; an access token is not a refresh token.
    assert_error(jwt_client.get("/protected", headers=bearer(body["refresh_token"])), 401,
                 "INVALID_TOKEN")  # fmt: skip
    r = jwt_client.post("/auth/token/refresh", json={"refresh_token": body["token"]})
    assert_error(r, 401, "INVALID_TOKEN")
    # The access token of another deployment (another key, same claims) is refused.
    other = make_other_token(body["token"])
    assert_error(jwt_client.get("/protected", headers=bearer(other)), 401, "INVALID_TOKEN")


def make_other_token(token: str) -> str:
    other = load_key(OTHER_KEY, "EdDSA")
    return forge(token, key=other.private, headers={"kid": other.kid})


# -- refresh: rotation and reuse detection (SECURITY #48) -----------------------------
def test_refresh_answers_a_new_pair(jwt_client: ContractClient) -> None:
    body = signed_in(jwt_client)
    r = jwt_client.post("/auth/token/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status == 200, r.body
    fresh = r.json()
    assert set(fresh) == {"user", "token", "refresh_token", "expires_in", "token_type"}
    assert fresh["refresh_token"] != body["refresh_token"] and fresh["token"] != body["token"]
    assert claims_of(fresh["token"])["sid"] == claims_of(body["token"])["sid"]
    assert not any("authgate_session=" in c for c in r.set_cookies)
    assert jwt_client.get("/protected", headers=bearer(fresh["token"])).status == 200
    again = jwt_client.post("/auth/token/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert again.status == 200


def test_a_refresh_token_presented_twice_ends_its_family(jwt_client: ContractClient) -> None:
    body = signed_in(jwt_client)
    cookie_session = dict(jwt_client.cookies)
    first = jwt_client.post("/auth/token/refresh", json={"refresh_token": body["refresh_token"]})
    assert first.status == 200
    replay = jwt_client.post("/auth/token/refresh", json={"refresh_token": body["refresh_token"]})
    assert_error(replay, 401, "INVALID_TOKEN")
    # The whole family is gone: the newest refresh token, the session behind it...
    newest = first.json()["refresh_token"]
    assert_error(jwt_client.post("/auth/token/refresh", json={"refresh_token": newest}), 401,
                 "INVALID_TOKEN")  # fmt: skip
    jwt_client.cookies = cookie_session
    assert_error(jwt_client.get("/auth/session"), 401, "INVALID_TOKEN")
    jwt_client.cookies.clear()
    assert_error(jwt_client.get("/auth/session", headers=bearer(first.json()["token"])), 401,
                 "INVALID_TOKEN")  # fmt: skip
    auth = jwt_client.auth  # type: ignore[attr-defined]
    events = auth.audit.events(kinds=["refresh_token_reuse"])
    assert [e.outcome for e in events] == ["failure"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "VALIDATION_ERROR"),
        ({"refresh_token": ""}, 400, "VALIDATION_ERROR"),
        ({"refresh_token": 12}, 400, "VALIDATION_ERROR"),
        ({"refresh_token": "x" * 43}, 401, "INVALID_TOKEN"),
        ({"refresh_token": "x" * 5000}, 400, "VALIDATION_ERROR"),
        ({"refresh_token": "a", "user_id": "1"}, 400, "VALIDATION_ERROR"),
    ],
)
def test_refresh_input(jwt_client: ContractClient, payload: Any, status: int, code: str) -> None:
    assert_error(jwt_client.post("/auth/token/refresh", json=payload), status, code)


def test_refresh_is_a_disabled_feature_without_jwt(client: ContractClient) -> None:
    assert_error(client.post("/auth/token/refresh", json={"refresh_token": "x" * 43}), 404,
                 "FEATURE_DISABLED")  # fmt: skip
    assert_error(client.get("/auth/jwks.json"), 404, "FEATURE_DISABLED")
    assert sign_up(client).json().keys() == {"user", "token"}


def test_sign_out_with_an_access_token_ends_its_family(jwt_client: ContractClient) -> None:
    body = signed_in(jwt_client)
    jwt_client.cookies.clear()
    assert jwt_client.post("/auth/sign-out", headers=bearer(body["token"])).status == 200
    assert_error(jwt_client.post("/auth/token/refresh", json={"refresh_token": body["refresh_token"]}),
                 401, "INVALID_TOKEN")  # fmt: skip
    # The JSON API checks the token's session: it is gone.
    assert_error(jwt_client.get("/auth/session", headers=bearer(body["token"])), 401,
                 "INVALID_TOKEN")  # fmt: skip


def test_a_password_change_ends_the_other_families(jwt_client: ContractClient) -> None:
    one = signed_in(jwt_client)
    jwt_client.cookies.clear()
    two = jwt_client.post(
        "/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD}
    ).json()
    jwt_client.cookies.clear()
    r = jwt_client.post(
        "/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "new staple battery horse"},
        headers=bearer(two["token"]),
    )
    assert r.status == 200, r.body
    assert_error(jwt_client.post("/auth/token/refresh", json={"refresh_token": one["refresh_token"]}),
                 401, "INVALID_TOKEN")  # fmt: skip
    # The family of the session that changed it goes on.
    kept = jwt_client.post("/auth/token/refresh", json={"refresh_token": two["refresh_token"]})
    assert kept.status == 200, kept.body


@pytest.mark.parametrize("how", ["deactivate", "delete", "reset", "stamp"])
def test_account_changes_end_every_family(jwt_client: ContractClient, how: str) -> None:
    body = signed_in(jwt_client)
    auth = jwt_client.auth  # type: ignore[attr-defined]
    user = auth.users.get_user("alice@example.com")
    if how == "deactivate":
        auth.users.deactivate_user(user)
    elif how == "delete":
        auth.users.delete_user(user)
    elif how == "reset":
        auth.users.set_password(user, "new staple battery horse")
    else:
        auth.ctx.users.update_user(user.id, {"security_stamp": "rotated" * 4})
    r = jwt_client.post("/auth/token/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status in (401, 403), r.body
    assert r.error_code in ("INVALID_TOKEN", "ACCOUNT_DISABLED", "USER_NOT_FOUND")


def test_revoking_the_session_ends_its_family(jwt_client: ContractClient) -> None:
    one = signed_in(jwt_client)
    jwt_client.cookies.clear()
    sid = claims_of(one["token"])["sid"]
    listed = jwt_client.get("/auth/sessions", headers=bearer(one["token"])).json()["sessions"]
    assert [s["current"] for s in listed if s["id"] == sid] == [True]
    two = jwt_client.post(
        "/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD}
    ).json()
    jwt_client.cookies.clear()
    r = jwt_client.post("/auth/revoke-session", json={"session_id": sid},
                        headers=bearer(two["token"]))  # fmt: skip
    assert r.status == 200
    assert_error(jwt_client.post("/auth/token/refresh", json={"refresh_token": one["refresh_token"]}),
                 401, "INVALID_TOKEN")  # fmt: skip


def test_freshness_is_measured_on_the_tokens_session(jwt_client: ContractClient) -> None:
    body = signed_in(jwt_client)
    jwt_client.cookies.clear()
    r = jwt_client.post("/auth/reauthenticate", json={"password": PASSWORD},
                        headers=bearer(body["token"]))  # fmt: skip
    assert r.status == 200, r.body
    r = jwt_client.post("/auth/revoke-other-sessions", headers=bearer(body["token"]))
    assert r.status == 200, r.body
    assert (
        jwt_client.post("/auth/token/refresh", json={"refresh_token": body["refresh_token"]}).status
        == 200
    )


def test_jwt_check_stamp_refuses_revoked_tokens_at_once(make_client: MakeClient) -> None:
    for check, after in ((False, 200), (True, 401)):
        client = make_client(**JWT, jwt_check_stamp=check)
        token = signed_in(client)["token"]
        client.cookies.clear()
        assert client.get("/protected", headers=bearer(token)).status == 200
        assert client.post("/auth/sign-out", headers=bearer(token)).status == 200
        # Without the check an access token lives until it expires (5 minutes).
        assert client.get("/protected", headers=bearer(token)).status == after


# -- the JWKS, and another JWT library --------------------------------------------------
def test_jwks_publishes_the_public_keys_only(make_client: MakeClient) -> None:
    old = private_pem(generate_key("EdDSA"))
    client = make_client(jwt_access_tokens=True, jwt_keys=[KEY, old])
    r = client.get("/auth/jwks.json")
    assert r.status == 200 and "max-age" in (r.header("Cache-Control") or "")
    keys = r.json()["keys"]
    assert [k["kid"] for k in keys] == [SIGNING.kid, load_key(old, "EdDSA").kid]
    for key in keys:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
        assert "d" not in key and key["use"] == "sig"
    hs = make_client(jwt_access_tokens=True, jwt_algorithm="HS256")
    assert hs.get("/auth/jwks.json").json() == {"keys": []}


def test_another_library_verifies_access_tokens_from_the_jwks_alone(
    make_client: MakeClient,
) -> None:
    from joserfc import jwt as jose_jwt
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import KeySet

    client = make_client(**JWT, base_url="https://app.example")
    token = signed_in(client)["token"]
    key_set = KeySet.import_key_set(client.get("/auth/jwks.json").json())
    with warnings.catch_warnings():
        # joserfc prefers RFC 9864's "Ed25519" name; "EdDSA" is what PyJWT and most
        # verifiers know, so authgate signs under it.
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jose_jwt.decode(token, key_set, algorithms=["EdDSA"])
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "https://app.example"},
        aud={"essential": True, "value": "https://app.example"},
        sub={"essential": True}, exp={"essential": True}, jti={"essential": True},
    )  # fmt: skip
    registry.validate(decoded.claims)
    assert decoded.header["kid"] == SIGNING.kid
    assert decoded.claims["email"] == "alice@example.com"


# -- personal API keys (SPEC §10; SECURITY #57, better-auth CVE-2025-61928) ----------------
def make_key(client: ContractClient, token: str, **fields: Any) -> dict[str, Any]:
    r = client.post("/auth/api-keys", json={"name": "ci", **fields}, headers=bearer(token))
    assert r.status == 200, r.body
    body: dict[str, Any] = r.json()
    return body


def test_api_keys_are_made_listed_and_revoked(client: ContractClient) -> None:
    token = signed_in(client)["token"]
    client.cookies.clear()
    made = make_key(client, token, scopes=["read:reports"], expires_in=86400)
    assert set(made) == {"api_key", "key"}
    key, record = made["key"], made["api_key"]
    assert key.startswith("ag_") and len(key) == 46 and record["prefix"] == key[:11]
    assert {"id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at"} <= set(
        record
    )
    assert record["scopes"] == ["read:reports"] and record["expires_at"]
    listed = client.get("/auth/api-keys", headers=bearer(token))
    assert listed.status == 200 and [k["id"] for k in listed.json()["api_keys"]] == [record["id"]]
    assert key not in listed.body.decode()
    assert client.get("/protected", headers={"X-API-Key": key}).status == 200
    r = client.post("/auth/api-keys/revoke", json={"id": record["id"]}, headers=bearer(token))
    assert r.status == 200 and r.json() == {"success": True}
    assert_error(client.get("/protected", headers={"X-API-Key": key}), 401, "INVALID_TOKEN")
    assert client.get("/auth/api-keys", headers=bearer(token)).json() == {"api_keys": []}


def test_an_api_key_authenticates_both_ways(client: ContractClient) -> None:
    token = signed_in(client)["token"]
    client.cookies.clear()
    key = make_key(client, token)["key"]
    for headers in (bearer(key), {"X-API-Key": key}):
        r = client.get("/protected", headers=headers)
        assert r.status == 200 and r.json() == {"email": "alice@example.com"}
        assert client.get("/key-only", headers=headers).status == 200
    # The key is recorded as used (at most once a minute).
    used = client.get("/auth/api-keys", headers=bearer(token)).json()["api_keys"][0]
    assert used["last_used_at"] is not None and used["last_used_ip"] == "127.0.0.1"
    # A session token is not an API key.
    assert_error(client.get("/key-only", headers=bearer(token)), 401, "UNAUTHORIZED")


def test_scopes_limit_api_keys_only(client: ContractClient) -> None:
    token = signed_in(client)["token"]
    client.cookies.clear()
    plain = make_key(client, token)["key"]
    other = make_key(client, token, scopes=["write:reports"])["key"]
    scoped = make_key(client, token, scopes=["read:reports", "write:reports"])["key"]
    assert_error(client.get("/scoped", headers={"X-API-Key": plain}), 403, "FORBIDDEN")
    assert_error(client.get("/scoped", headers=bearer(other)), 403, "FORBIDDEN")
    assert client.get("/scoped", headers=bearer(scoped)).status == 200
    # Sessions and access tokens are the user: not limited by scopes.
    assert client.get("/scoped", headers=bearer(token)).status == 200
    assert_error(client.get("/scoped"), 401, "UNAUTHORIZED")


def test_another_users_key_can_be_neither_revoked_nor_seen(client: ContractClient) -> None:
    alice = signed_in(client)["token"]
    client.cookies.clear()
    made = make_key(client, alice)
    bob = signed_in(client, "bob@example.com")["token"]
    client.cookies.clear()
    assert client.get("/auth/api-keys", headers=bearer(bob)).json() == {"api_keys": []}
    r = client.post("/auth/api-keys/revoke", json={"id": made["api_key"]["id"]},
                    headers=bearer(bob))  # fmt: skip
    assert_error(r, 404, "NOT_FOUND")
    assert client.get("/protected", headers={"X-API-Key": made["key"]}).json() == {
        "email": "alice@example.com"
    }


@pytest.mark.parametrize("field", ["user_id", "userId", "user"])
def test_the_acting_user_never_comes_from_the_body(client: ContractClient, field: str) -> None:
    """better-auth CVE-2025-61928: a userId in the body made keys for anyone, unauthenticated."""
    alice_id = signed_in(client)["user"]["id"]
    client.cookies.clear()
    r = client.post("/auth/api-keys", json={"name": "x", field: alice_id})
    assert_error(r, 401, "UNAUTHORIZED")
    bob = signed_in(client, "bob@example.com")["token"]
    client.cookies.clear()
    r = client.post("/auth/api-keys", json={"name": "x", field: alice_id}, headers=bearer(bob))
    assert_error(r, 400, "VALIDATION_ERROR")
    assert client.auth.list_api_keys(client.auth.users.get_user(alice_id)) == []  # type: ignore[attr-defined]


def test_api_keys_do_not_manage_the_account(client: ContractClient) -> None:
    token = signed_in(client)["token"]
    client.cookies.clear()
    key = make_key(client, token)["key"]
    for method, path in (("GET", "/auth/session"), ("GET", "/auth/api-keys"),
                         ("POST", "/auth/api-keys"), ("POST", "/auth/sign-out")):  # fmt: skip
        r = client.request(method, path, json={"name": "x"} if method == "POST" else None,
                           headers=bearer(key))  # fmt: skip
        assert r.status == 401, (path, r.body)
        assert client.request(method, path, headers={"X-API-Key": key}).status == 401


def test_bad_api_keys_are_refused_and_throttled(make_client: MakeClient) -> None:
    client = make_client(sign_in_ip_max_failures=3)
    token = signed_in(client)["token"]
    client.cookies.clear()
    key = make_key(client, token)["key"]
    wrong = [key[:-1] + ("A" if key[-1] != "A" else "B"), "ag_short", "ag_" + "x" * 43]
    for bad in wrong:
        assert_error(client.get("/protected", headers={"X-API-Key": bad}), 401, "INVALID_TOKEN")
    r = client.get("/protected", headers={"X-API-Key": wrong[0]})
    assert_error(r, 429, "RATE_LIMITED")
    assert r.header("Retry-After")
    # The right key still works: 256 random bits are not guessed; the limit slows down trying.
    assert client.get("/protected", headers={"X-API-Key": key}).status == 200


def test_an_ip_allowlist_refuses_other_addresses(client: ContractClient) -> None:
    token = signed_in(client)["token"]
    client.cookies.clear()
    far = make_key(client, token, allowed_ips=["203.0.113.0/24"])["key"]
    near = make_key(client, token, allowed_ips=["127.0.0.0/8", "2001:db8::/32"])["key"]
    assert_error(client.get("/protected", headers=bearer(far)), 401, "INVALID_TOKEN")
    assert client.get("/protected", headers=bearer(near)).status == 200


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"name": ""}, "required"),
        ({"name": "x" * 101}, "too_long"),
        ({"name": "x", "scopes": ["bad scope"]}, "invalid"),
        ({"name": "x", "scopes": "read"}, "invalid"),
        ({"name": "x", "expires_in": 10}, "invalid"),
        ({"name": "x", "expires_in": True}, "invalid"),
        ({"name": "x", "allowed_ips": ["not-an-ip"]}, "invalid"),
    ],
)
def test_api_key_input(client: ContractClient, fields: dict[str, Any], reason: str) -> None:
    token = signed_in(client)["token"]
    client.cookies.clear()
    r = client.post("/auth/api-keys", json=fields, headers=bearer(token))
    error = assert_error(r, 400, "VALIDATION_ERROR")
    assert reason in error["fields"].values()


def test_api_keys_can_be_switched_off(make_client: MakeClient) -> None:
    client = make_client(api_keys=False)
    token = signed_in(client)["token"]
    client.cookies.clear()
    r = client.post("/auth/api-keys", json={"name": "x"}, headers=bearer(token))
    assert_error(r, 404, "FEATURE_DISABLED")
    fake = "ag_" + "x" * 43
    assert_error(client.get("/protected", headers={"X-API-Key": fake}), 401, "UNAUTHORIZED")
    assert_error(client.get("/protected", headers=bearer(fake)), 401, "INVALID_TOKEN")


def test_access_tokens_manage_api_keys_too(jwt_client: ContractClient) -> None:
    token = signed_in(jwt_client)["token"]
    jwt_client.cookies.clear()
    key = make_key(jwt_client, token, scopes=["read:reports"])["key"]
    assert jwt_client.get("/scoped", headers={"X-API-Key": key}).status == 200


def test_openapi_documents_the_token_routes(jwt_client: ContractClient) -> None:
    paths = jwt_client.get("/auth/openapi.json").json()["paths"]
    for path in ("/auth/token/refresh", "/auth/jwks.json", "/auth/api-keys",
                 "/auth/api-keys/revoke"):  # fmt: skip
        assert path in paths
    assert "/auth/refresh" not in paths  # auth101's name only with auth101_compat


# -- auth101 compatibility (issue 10, item 5) ---------------------------------------------
def test_auth101_clients_keep_working(make_client: MakeClient) -> None:
    from tests.core.test_access_tokens import auth101_token
    from tests.web.conftest import SECRET

    client = make_client(auth101_compat=True)
    body = signed_in(client)
    client.cookies.clear()
    assert body["access_token"] == body["token"]
    # auth101 0.3's refresh and revoke routes, and its clients' bearer header.
    r = client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status == 200 and r.json()["access_token"] == r.json()["token"]
    assert client.get("/auth/session", headers=bearer(r.json()["access_token"])).status == 200
    revoked = client.post("/auth/revoke", json={"refresh_token": r.json()["refresh_token"]})
    assert revoked.status == 200 and revoked.json() == {"success": True}
    assert_error(client.post("/auth/refresh", json={"refresh_token": r.json()["refresh_token"]}),
                 401, "INVALID_TOKEN")  # fmt: skip
    # A token auth101 signed before the switch works until it expires.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = auth101_token(SECRET, "alice@example.com")
    assert client.get("/protected", headers=bearer(legacy)).json() == {"email": "alice@example.com"}


def test_auth101_routes_need_the_setting(jwt_client: ContractClient) -> None:
    body = signed_in(jwt_client)
    for path in ("/auth/refresh", "/auth/revoke"):
        r = jwt_client.post(path, json={"refresh_token": body["refresh_token"]})
        assert_error(r, 404, "FEATURE_DISABLED")
    assert "access_token" not in body
