"""SPEC §5: one HTTP contract, the same assertions for every framework.

Each test runs once per framework (see ``conftest.FRAMEWORKS``) against a
fresh app built around a fresh ``Auth``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest

from .clients import ContractClient, Response
from .conftest import MakeClient

PASSWORD = "correct horse battery"
NEW_PASSWORD = "new staple battery horse"
USER_KEYS = {"id", "email", "username", "is_active", "email_confirmed", "roles"}


def sign_up(client: ContractClient, email: str = "alice@example.com", **extra: Any) -> Response:
    r = client.post("/auth/sign-up/email", json={"email": email, "password": PASSWORD, **extra})
    assert r.status == 200, r.body
    return r


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(r: Response, status: int, code: str) -> dict[str, Any]:
    assert r.status == status, (r.status, r.body)
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in r.body.decode()
    return dict(body["error"])


# -- sign-up ------------------------------------------------------------------------
def test_sign_up(client: ContractClient) -> None:
    r = sign_up(client)
    body = r.json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) == USER_KEYS
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["roles"] == [] and body["user"]["is_active"] is True
    assert isinstance(body["token"], str) and len(body["token"]) >= 43
    assert r.header("Cache-Control") == "no-store"
    assert "application/json" in (r.header("Content-Type") or "")
    session_cookie = next(c for c in r.set_cookies if "authgate_session=" in c)
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "password" not in r.body.decode()


def test_session_cookie_is_secure_by_default(make_client: MakeClient) -> None:
    client = make_client(cookie_secure=None)
    r = sign_up(client)
    session_cookie = next(c for c in r.set_cookies if "authgate_session=" in c)
    assert session_cookie.startswith("__Host-authgate_session=")
    assert "Secure" in session_cookie and "Path=/" in session_cookie
    assert "Domain" not in session_cookie


def test_session_cookie_not_secure_in_debug(make_client: MakeClient) -> None:
    r = sign_up(make_client(cookie_secure=None, debug=True))
    session_cookie = next(c for c in r.set_cookies if "authgate_session=" in c)
    assert session_cookie.startswith("authgate_session=") and "Secure" not in session_cookie


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"password": PASSWORD}, {"email": "required"}),
        ({"email": "nope", "password": PASSWORD}, {"email": "invalid"}),
        ({"email": "a@example.com", "password": "short"}, {"password": "too_short"}),
        ({"email": 123, "password": PASSWORD}, {"email": "invalid"}),
        ({"email": {"$ne": 1}, "password": PASSWORD}, {"email": "invalid"}),
        ({"email": "a@example.com", "password": ["x"]}, {"password": "invalid"}),
        ({"email": "a@example.com", "password": PASSWORD, "roles": ["admin"]},
         {"roles": "unknown_field"}),
        ({"email": "a@example.com", "password": PASSWORD, "is_active": True},
         {"is_active": "unknown_field"}),
    ],
)  # fmt: skip
def test_sign_up_validation(client: ContractClient, payload: Any, fields: Any) -> None:
    error = assert_error(client.post("/auth/sign-up/email", json=payload), 400, "VALIDATION_ERROR")
    assert error["fields"] == fields


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
    ],
)
def test_malformed_bodies(client: ContractClient, body: bytes, content_type: str) -> None:
    r = client.post("/auth/sign-up/email", body=body, headers={"Content-Type": content_type})
    assert_error(r, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "",
     "text/json", "application/jsonx"],
)  # fmt: skip
def test_a_json_route_sent_another_content_type_is_415(
    client: ContractClient, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/auth/sign-up/email", body=b'{"email": "a@example.com", "password": "x"}',
                    headers=headers)  # fmt: skip
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert client.auth.users.get_user("a@example.com") is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/problem+json"])
def test_json_content_types_are_accepted(client: ContractClient, content_type: str) -> None:
    body = b'{"email": "a@example.com", "password": "correct horse battery"}'
    r = client.post("/auth/sign-up/email", body=body, headers={"Content-Type": content_type})
    assert r.status == 200, r.body


def test_oversized_body(client: ContractClient) -> None:
    big = b'{"email": "a@example.com", "password": "' + b"x" * 200_000 + b'"}'
    r = client.post("/auth/sign-up/email", body=big, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert client.auth.users.get_user("a@example.com") is None  # type: ignore[attr-defined]


def test_duplicate_sign_up(client: ContractClient) -> None:
    sign_up(client)
    r = client.post(
        "/auth/sign-up/email", json={"email": "ALICE@example.com", "password": PASSWORD}
    )
    assert_error(r, 409, "USER_EXISTS")


def test_confirmable_duplicate_is_indistinguishable(make_client: MakeClient) -> None:
    client = make_client(confirmable=True)
    first = sign_up(client)
    second = sign_up(client, email="Alice@example.com")
    assert first.json()["token"] is None and second.json()["token"] is None
    assert set(second.json()["user"]) == USER_KEYS
    assert not any("authgate_session=" in c for c in first.set_cookies + second.set_cookies)


def test_registration_disabled(make_client: MakeClient) -> None:
    client = make_client(registerable=False)
    r = client.post("/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD})
    assert_error(r, 404, "FEATURE_DISABLED")


# -- sign-in --------------------------------------------------------------------------
def test_sign_in_and_session(client: ContractClient) -> None:
    sign_up(client)
    client.cookies.clear()
    r = client.post("/auth/sign-in/email", json={"email": "Alice@Example.com", "password": PASSWORD})
    assert r.status == 200
    body = r.json()
    assert set(body) == {"user", "token"} and body["user"]["email"] == "alice@example.com"
    s = client.get("/auth/session", headers=bearer(body["token"]), cookies=False)
    assert s.status == 200 and s.json()["user"] == body["user"]
    assert s.header("Cache-Control") == "no-store"


def _utc(value: str) -> Any:
    import datetime as dt

    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0), value
    return parsed


def test_session_says_when_it_ends(make_client: MakeClient) -> None:
    """U11: an SPA learns from GET /session when to refresh."""
    import datetime as dt

    client = make_client(session_lifetime=3600, session_idle_timeout=600)
    token = sign_up(client).json()["token"]
    before = dt.datetime.now(dt.timezone.utc)
    body = client.get("/auth/session", headers=bearer(token), cookies=False).json()
    assert set(body) == {"user", "session"} and set(body["user"]) == USER_KEYS
    session = body["session"]
    assert set(session) == {"id", "expires_at", "idle_expires_at"}
    expires, idle = _utc(session["expires_at"]), _utc(session["idle_expires_at"])
    assert dt.timedelta(minutes=59) < expires - before <= dt.timedelta(hours=1)
    assert dt.timedelta(minutes=9) < idle - before <= dt.timedelta(minutes=10)
    listed = client.get("/auth/sessions", headers=bearer(token), cookies=False).json()["sessions"]
    assert session["id"] == listed[0]["id"]
    assert client.get("/auth/session").json()["session"] == session  # the same by cookie


def test_session_without_idle_timeout_or_remembered(make_client: MakeClient) -> None:
    client = make_client(session_idle_timeout=None)
    token = sign_up(client).json()["token"]
    session = client.get("/auth/session", headers=bearer(token), cookies=False).json()["session"]
    assert session["idle_expires_at"] is None and _utc(session["expires_at"])
    remembered = make_client(session_idle_timeout=600)
    sign_up(remembered)
    r = remembered.post("/auth/sign-in/email", cookies=False,
                        json={"email": "alice@example.com", "password": PASSWORD, "remember": True})  # fmt: skip
    token = r.json()["token"]
    session = remembered.get("/auth/session", headers=bearer(token), cookies=False).json()["session"]
    assert session["idle_expires_at"] is None


def test_unknown_user_and_wrong_password_look_the_same(client: ContractClient) -> None:
    sign_up(client)
    wrong = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "x" * 12})
    unknown = client.post("/auth/sign-in/email", json={"email": "bob@example.com", "password": "x" * 12})
    assert_error(wrong, 401, "INVALID_CREDENTIALS")
    assert (wrong.status, wrong.body) == (unknown.status, unknown.body)


def test_sign_in_validation(client: ContractClient) -> None:
    error = assert_error(client.post("/auth/sign-in/email", json={"email": "a@example.com"}), 400,
                         "VALIDATION_ERROR")  # fmt: skip
    assert error["fields"] == {"password": "required"}
    r = client.post("/auth/sign-in/email", json={"email": "a@example.com", "password": PASSWORD,
                                                  "remember": "yes"})  # fmt: skip
    assert_error(r, 400, "VALIDATION_ERROR")
    r = client.post("/auth/sign-in/email", json={"email": "a@example.com", "password": PASSWORD,
                                                  "admin": True})  # fmt: skip
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"admin": "unknown_field"}


def test_sign_in_by_username(make_client: MakeClient) -> None:
    client = make_client(usernames=True)
    sign_up(client, username="alice")
    r = client.post("/auth/sign-in/username", json={"username": "ALICE", "password": PASSWORD})
    assert r.status == 200 and r.json()["user"]["username"] == "alice"


def test_sign_in_by_username_disabled(client: ContractClient) -> None:
    r = client.post("/auth/sign-in/username", json={"username": "alice", "password": PASSWORD})
    assert_error(r, 404, "FEATURE_DISABLED")


def test_rate_limited_with_retry_after(client: ContractClient) -> None:
    sign_up(client)
    for _ in range(10):
        r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "wrong-password"})
        assert_error(r, 401, "INVALID_CREDENTIALS")
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    error = assert_error(r, 429, "RATE_LIMITED")
    assert int(r.header("Retry-After") or 0) >= 1 and error["retry_after"] >= 1


def test_account_state_errors(make_client: MakeClient) -> None:
    client = make_client(confirmable=True)
    sign_up(client)
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert_error(r, 403, "EMAIL_NOT_CONFIRMED")
    auth = client.auth  # type: ignore[attr-defined]
    bob = auth.users.create_user(email="bob@example.com", password=PASSWORD)
    auth.users.deactivate_user(bob)
    r = client.post("/auth/sign-in/email", json={"email": "bob@example.com", "password": PASSWORD})
    assert_error(r, 403, "ACCOUNT_DISABLED")


# -- transports ---------------------------------------------------------------------------
def test_no_credential(client: ContractClient) -> None:
    assert_error(client.get("/auth/session"), 401, "UNAUTHORIZED")
    assert_error(client.get("/auth/sessions"), 401, "UNAUTHORIZED")
    assert_error(client.post("/auth/sign-out"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Bearer " + "x" * 5000, "Bearer \u00e9"])
def test_bad_bearer(client: ContractClient, header: str) -> None:
    r = client.get("/auth/session", headers={"Authorization": header.encode("utf-8").decode("latin-1")})
    assert r.status == 401 and r.error_code in {"INVALID_TOKEN", "UNAUTHORIZED"}


def test_cookie_transport_and_csrf(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    assert client.get("/auth/session").status == 200  # the cookie alone authenticates a GET
    assert_error(client.post("/auth/sign-out"), 403, "CSRF_FAILED")
    assert_error(client.post("/auth/sign-out", headers={"X-CSRF-Token": "forged"}), 403, "CSRF_FAILED")
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200
    csrf = client.cookie("authgate_csrf")
    assert csrf
    r = client.post("/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert r.status == 200 and r.json() == {"success": True}
    assert client.cookie("authgate_session") is None  # cleared
    assert_error(client.get("/auth/session", headers=bearer(token), cookies=False), 401, "INVALID_TOKEN")


def test_csrf_token_of_another_session_is_refused(client: ContractClient) -> None:
    sign_up(client)
    other_csrf = client.cookie("authgate_csrf")
    client.cookies.clear()
    client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert client.cookie("authgate_csrf") != other_csrf
    r = client.post("/auth/revoke-other-sessions", headers={"X-CSRF-Token": other_csrf or ""})
    assert_error(r, 403, "CSRF_FAILED")


def test_bearer_needs_no_csrf(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    r = client.post("/auth/sign-out", headers=bearer(token), cookies=False)
    assert r.status == 200
    assert_error(client.get("/auth/session", headers=bearer(token), cookies=False), 401, "INVALID_TOKEN")


def test_get_never_changes_state_or_returns_tokens(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    for path in ["/auth/sign-out", "/auth/sign-in/email", "/auth/sign-up/email", "/auth/revoke-other-sessions"]:
        r = client.get(path, headers=bearer(token), cookies=False)
        assert r.status in {404, 405}
        assert token not in r.body.decode()
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200


# -- account ---------------------------------------------------------------------------------
def test_change_password(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    other = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                        cookies=False).json()["token"]  # fmt: skip
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"current_password": "not it at all", "new_password": NEW_PASSWORD})  # fmt: skip
    assert_error(r, 401, "INVALID_CREDENTIALS")
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"current_password": PASSWORD, "new_password": "short"})  # fmt: skip
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"new_password": "too_short"}
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})  # fmt: skip
    assert r.status == 200 and r.json() == {"success": True}
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200
    assert_error(client.get("/auth/session", headers=bearer(other), cookies=False), 401, "INVALID_TOKEN")
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": NEW_PASSWORD})
    assert r.status == 200


def test_change_password_keeping_other_sessions(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    other = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                        cookies=False).json()["token"]  # fmt: skip
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                          "revoke_other_sessions": False})  # fmt: skip
    assert r.status == 200
    assert client.get("/auth/session", headers=bearer(other), cookies=False).status == 200


def test_change_username(make_client: MakeClient) -> None:
    client = make_client(usernames=True)
    token = sign_up(client, username="alice").json()["token"]
    sign_up(client, email="bob@example.com", username="bob")
    r = client.post("/auth/change-username", headers=bearer(token), cookies=False,
                    json={"new_username": "BOB", "password": PASSWORD})  # fmt: skip
    assert_error(r, 409, "USER_EXISTS")
    r = client.post("/auth/change-username", headers=bearer(token), cookies=False,
                    json={"new_username": "alicia", "password": PASSWORD})  # fmt: skip
    assert r.status == 200 and r.json()["user"]["username"] == "alicia"


def test_change_username_disabled(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    r = client.post("/auth/change-username", headers=bearer(token), cookies=False,
                    json={"new_username": "alicia", "password": PASSWORD})  # fmt: skip
    assert_error(r, 404, "FEATURE_DISABLED")


def test_sessions_list_and_revoke(client: ContractClient) -> None:
    first = sign_up(client).json()["token"]
    second = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                         headers={"User-Agent": "Second/1.0"}, cookies=False).json()["token"]  # fmt: skip
    r = client.get("/auth/sessions", headers=bearer(second), cookies=False)
    assert r.status == 200
    entries = r.json()["sessions"]
    assert len(entries) == 2
    for entry in entries:
        assert set(entry) == {"id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"}
    current = [e for e in entries if e["current"]]
    assert len(current) == 1 and current[0]["user_agent"] == "Second/1.0"
    assert current[0]["ip"] == "127.0.0.1"
    other_id = next(e["id"] for e in entries if not e["current"])
    r = client.post("/auth/revoke-session", headers=bearer(second), cookies=False, json={"session_id": other_id})
    assert r.status == 200 and r.json() == {"success": True}
    assert_error(client.get("/auth/session", headers=bearer(first), cookies=False), 401, "INVALID_TOKEN")
    r = client.post("/auth/revoke-session", headers=bearer(second), cookies=False, json={"session_id": other_id})
    assert_error(r, 400, "VALIDATION_ERROR")


def test_revoke_other_sessions(client: ContractClient) -> None:
    keep = sign_up(client).json()["token"]
    others = [
        client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                    cookies=False).json()["token"]
        for _ in range(2)
    ]  # fmt: skip
    r = client.post("/auth/revoke-other-sessions", headers=bearer(keep), cookies=False)
    assert r.status == 200 and r.json() == {"success": True}
    assert client.get("/auth/session", headers=bearer(keep), cookies=False).status == 200
    for token in others:
        assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 401


def test_cannot_revoke_someone_elses_session(client: ContractClient) -> None:
    alice = sign_up(client).json()["token"]
    bob = sign_up(client, email="bob@example.com").json()["token"]
    bob_session = client.get("/auth/sessions", headers=bearer(bob), cookies=False).json()["sessions"][0]["id"]
    r = client.post("/auth/revoke-session", headers=bearer(alice), cookies=False, json={"session_id": bob_session})
    assert_error(r, 400, "VALIDATION_ERROR")
    assert client.get("/auth/session", headers=bearer(bob), cookies=False).status == 200


# -- decorators ---------------------------------------------------------------------------------
def _user_with_roles(
    client: ContractClient, email: str, roles: list[str], permissions: tuple[str, ...] = ()
) -> str:
    auth = client.auth  # type: ignore[attr-defined]
    for role in roles:
        auth.users.find_or_create_role(role)
    for perm in permissions:
        auth.users.find_or_create_role("perm-holder")
        auth.users.add_permissions_to_role("perm-holder", perm)
    auth.users.create_user(email=email, password=PASSWORD,
                           roles=[*roles, *(["perm-holder"] if permissions else [])])  # fmt: skip
    r = client.post("/auth/sign-in/email", json={"email": email, "password": PASSWORD}, cookies=False)
    return str(r.json()["token"])


def test_public_route(client: ContractClient) -> None:
    r = client.get("/public")
    assert r.status == 200 and r.json() == {"ok": True}


def test_login_required(client: ContractClient) -> None:
    assert_error(client.get("/protected"), 401, "UNAUTHORIZED")
    assert_error(client.get("/protected", headers=bearer("garbage")), 401, "INVALID_TOKEN")
    token = sign_up(client).json()["token"]
    r = client.get("/protected", headers=bearer(token), cookies=False)
    assert r.status == 200 and r.json() == {"email": "alice@example.com"}
    assert client.get("/protected").status == 200  # by cookie


def test_login_required_post_needs_csrf_with_cookie(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    assert_error(client.post("/protected"), 403, "CSRF_FAILED")
    csrf = client.cookie("authgate_csrf") or ""
    assert client.post("/protected", headers={"X-CSRF-Token": csrf}).status == 200
    assert client.post("/protected", headers=bearer(token), cookies=False).status == 200


def test_page_request_redirects_to_login_with_safe_next(client: ContractClient) -> None:
    r = client.get("/protected?tab=1", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status in {302, 303}
    location = r.header("Location") or ""
    assert location.endswith("/auth/login?next=" + quote("/protected?tab=1", safe=""))


def test_roles_required(client: ContractClient) -> None:
    plain = sign_up(client).json()["token"]
    assert_error(client.get("/admin", cookies=False), 401, "UNAUTHORIZED")
    assert_error(client.get("/admin", headers=bearer(plain), cookies=False), 403, "FORBIDDEN")
    admin = _user_with_roles(client, "admin@example.com", ["admin"])
    assert client.get("/admin", headers=bearer(admin), cookies=False).status == 200


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [
        (["starving", "artist"], True),
        (["starving", "programmer"], True),
        (["starving", "artist", "programmer"], True),
        (["starving"], False),
        (["artist", "programmer"], False),
        ([], False),
    ],
)
def test_roles_required_all_and_any(client: ContractClient, roles: list[str], allowed: bool) -> None:
    token = _user_with_roles(client, "u@example.com", roles)
    r = client.get("/starving", headers=bearer(token), cookies=False)
    assert r.status == (200 if allowed else 403)


@pytest.mark.parametrize(("roles", "allowed"), [(["editor"], True), (["author"], True), (["reader"], False)])
def test_roles_accepted(client: ContractClient, roles: list[str], allowed: bool) -> None:
    token = _user_with_roles(client, "u@example.com", roles)
    assert client.get("/accepted", headers=bearer(token), cookies=False).status == (200 if allowed else 403)


def test_permissions_required(client: ContractClient) -> None:
    without = _user_with_roles(client, "a@example.com", ["reader"])
    assert_error(client.get("/perm", headers=bearer(without), cookies=False), 403, "FORBIDDEN")
    with_perm = _user_with_roles(client, "b@example.com", [], ("post.edit",))
    assert client.get("/perm", headers=bearer(with_perm), cookies=False).status == 200


def test_role_revocation_is_immediate(client: ContractClient) -> None:
    token = _user_with_roles(client, "admin@example.com", ["admin"])
    assert client.get("/admin", headers=bearer(token), cookies=False).status == 200
    client.auth.users.remove_role_from_user("admin@example.com", "admin")  # type: ignore[attr-defined]
    assert client.get("/admin", headers=bearer(token), cookies=False).status == 403


@pytest.mark.parametrize("change", ["deactivate", "delete", "set_password", "sign_out_elsewhere"])
def test_revocation_is_immediate_for_recently_seen_sessions(
    client: ContractClient, change: str
) -> None:
    """Sessions answered from the session cache die with the change, not later."""
    token = sign_up(client).json()["token"]
    for path in ["/protected", "/optional", "/auth/session"]:  # seen, so cached
        assert client.get(path, headers=bearer(token), cookies=False).status == 200
    assert client.get("/protected").status == 200  # the cookie too
    users = client.auth.users  # type: ignore[attr-defined]
    if change == "deactivate":
        users.deactivate_user("alice@example.com")
    elif change == "delete":
        users.delete_user("alice@example.com")
    elif change == "set_password":
        users.set_password("alice@example.com", "another long passphrase")
    else:
        client.auth.sign_out(token)  # type: ignore[attr-defined]
    assert client.get("/protected", headers=bearer(token), cookies=False).status == 401
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 401
    assert client.get("/optional", headers=bearer(token), cookies=False).json() == {"email": None}
    if change != "sign_out_elsewhere":  # the cookie is another session of the same user
        assert client.get("/protected").status == 401


def test_auth_required_mechanisms(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    # token only: the cookie does not count
    assert client.get("/token-only").status == 401
    assert client.get("/token-only", headers=bearer(token), cookies=False).status == 200
    # session only: the bearer token does not count
    assert client.get("/session-only", headers=bearer(token), cookies=False).status == 401
    assert client.get("/session-only").status == 200
    # HTTP Basic
    good = base64.b64encode(f"alice@example.com:{PASSWORD}".encode()).decode()
    bad = base64.b64encode(b"alice@example.com:wrong password").decode()
    assert client.get("/basic", headers={"Authorization": f"Basic {good}"}, cookies=False).json() == {
        "email": "alice@example.com"
    }
    assert_error(client.get("/basic", headers={"Authorization": f"Basic {bad}"}, cookies=False), 401,
                 "INVALID_CREDENTIALS")  # fmt: skip
    assert client.get("/basic", headers={"Authorization": "Basic !!!"}, cookies=False).status == 401
    assert client.get("/basic", headers=bearer(token), cookies=False).status == 401


def test_anonymous_required(client: ContractClient) -> None:
    assert client.get("/anon").json() == {"ok": True}
    token = sign_up(client).json()["token"]
    assert client.get("/anon", headers=bearer(token), cookies=False).status == 403


def test_optional_user(client: ContractClient) -> None:
    assert client.get("/optional").json() == {"email": None}
    token = sign_up(client).json()["token"]
    assert client.get("/optional", headers=bearer(token), cookies=False).json() == {"email": "alice@example.com"}
    assert client.get("/optional", headers=bearer("bad"), cookies=False).json() == {"email": None}


def test_deactivated_user_loses_access_at_once(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    client.auth.users.deactivate_user("alice@example.com")  # type: ignore[attr-defined]
    assert client.get("/protected", headers=bearer(token), cookies=False).status == 401


# -- redirects -------------------------------------------------------------------------------------
EVIL_NEXT = [
    "//evil.com", "///evil.com", "/////evil.com/path", "\\\\\\evil.com", "/\\evil.com", "\\/evil.com",
    " //evil.com", "\t//evil.com", "https:evil.com", "http://evil.com", "https://evil.com",
    "HTTPS://EVIL.COM", "https://app.example@evil.com", "https://evil.com\\.app.example",
    "https://evil.com%5C.app.example", "javascript:alert(1)", "data:text/html,x", "%2F%2Fevil.com",
    "/%2F%2Fevil.com", "/%5Cevil.com", "%252F%252Fevil.com",
]  # fmt: skip


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_open_redirects_fall_back_to_default(client: ContractClient, target: str) -> None:
    sign_up(client)
    html = {"Accept": "text/html"}
    r = client.post(f"/auth/sign-in/email?next={quote(target, safe='')}", headers=html,
                    json={"email": "alice@example.com", "password": PASSWORD})  # fmt: skip
    assert r.status in {302, 303}
    assert r.header("Location") == "/"
    csrf = client.cookie("authgate_csrf") or ""
    r = client.post(f"/auth/sign-out?next={quote(target, safe='')}", headers={**html, "X-CSRF-Token": csrf})
    assert r.status in {302, 303} and r.header("Location") == "/"


def test_safe_next_is_followed(client: ContractClient) -> None:
    sign_up(client)
    r = client.post("/auth/sign-in/email?next=%2Fdashboard%3Ftab%3D2", headers={"Accept": "text/html"},
                    json={"email": "alice@example.com", "password": PASSWORD})  # fmt: skip
    assert r.status in {302, 303} and r.header("Location") == "/dashboard?tab=2"
    assert client.get("/auth/session").status == 200  # the cookie came with the redirect


# -- OpenAPI ----------------------------------------------------------------------------------------
def test_openapi_document(make_client: MakeClient) -> None:
    from openapi_spec_validator import validate

    client = make_client(prefix="/api/auth", usernames=True)
    r = client.get("/api/auth/openapi.json")
    assert r.status == 200
    doc = r.json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    expected = {
        "/api/auth/sign-up/email": "post", "/api/auth/sign-in/email": "post",
        "/api/auth/sign-in/username": "post", "/api/auth/sign-out": "post",
        "/api/auth/session": "get", "/api/auth/change-password": "post",
        "/api/auth/change-username": "post", "/api/auth/sessions": "get",
        "/api/auth/revoke-session": "post", "/api/auth/revoke-other-sessions": "post",
    }  # fmt: skip
    for path, method in expected.items():
        op = doc["paths"][path][method]
        assert "200" in op["responses"]
        assert any(code.startswith("4") for code in op["responses"])
    assert "requestBody" in doc["paths"]["/api/auth/sign-in/email"]["post"]


def test_openapi_lists_only_enabled_features(client: ContractClient) -> None:
    doc = client.get("/auth/openapi.json").json()
    assert "/auth/sign-in/username" not in doc["paths"]
    assert "/auth/change-username" not in doc["paths"]
    assert "/auth/sign-in/email" in doc["paths"]


def test_custom_prefix(make_client: MakeClient) -> None:
    client = make_client(prefix="/api/v1/auth")
    r = client.post("/api/v1/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD})
    assert r.status == 200
    assert client.get("/auth/session").status == 404


def test_basic_auth_refused_on_cross_site_unsafe_requests(client: ContractClient) -> None:
    sign_up(client)
    good = base64.b64encode(f"alice@example.com:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {good}", "Sec-Fetch-Site": "cross-site"}
    assert client.get("/basic", headers=headers, cookies=False).status == 200  # safe method
    assert_error(client.post("/basic", headers=headers, cookies=False), 403, "CSRF_FAILED")
    scripted = {"Authorization": f"Basic {good}"}
    assert client.post("/basic", headers=scripted, cookies=False).status == 200


def test_forwarded_for_is_not_trusted_by_default(make_client: MakeClient) -> None:
    client = make_client(sign_in_ip_max_failures=5)
    for n in range(5):
        r = client.post("/auth/sign-in/email", json={"email": f"u{n}@example.com", "password": "wrong password!"},
                        headers={"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"})  # fmt: skip
        assert_error(r, 401, "INVALID_CREDENTIALS")
    r = client.post("/auth/sign-in/email", json={"email": "new@example.com", "password": "wrong password!"},
                    headers={"X-Forwarded-For": "203.0.113.77"})  # fmt: skip
    assert_error(r, 429, "RATE_LIMITED")  # the socket address counted, not the header


def test_forwarded_for_through_a_trusted_proxy(make_client: MakeClient) -> None:
    client = make_client(trusted_proxies=1)
    r = client.post("/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD},
                    headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})  # fmt: skip
    sessions = client.get("/auth/sessions", headers=bearer(r.json()["token"]), cookies=False).json()
    assert sessions["sessions"][0]["ip"] == "203.0.113.9"  # the entry the one trusted proxy added
