"""SPEC §5 freshness: REAUTH_REQUIRED, POST /reauthenticate and POST /delete-user, on every framework.

A clock is injected into the ``Auth`` (``Auth(clock=...)``): a session is
fresh for ``freshness`` seconds (15 minutes by default) after it proved a
credential, then sensitive changes answer ``REAUTH_REQUIRED`` until the
user proves their password again.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from authgate.testing import OutboxMailer

from ..core.conftest import Clock
from .clients import ContractClient, Response
from .conftest import MakeClient
from .test_http_contract import NEW_PASSWORD, PASSWORD, assert_error, bearer, sign_up
from .test_http_email import token_of

STALE = 15 * 60 + 1  # one second past the default freshness
OTHER_PASSWORD = "bobs own long passphrase"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_client: MakeClient, clock: Clock, outbox: OutboxMailer) -> MakeClient:
    def factory(**settings: Any) -> ContractClient:
        return make_client(clock=clock, send_email=outbox, **settings)

    return factory


def post(client: ContractClient, path: str, token: str, body: Any = None) -> Response:
    return client.post(f"/auth{path}", headers=bearer(token), cookies=False,
                       json={} if body is None else body)  # fmt: skip


def reauth(client: ContractClient, token: str, password: str = PASSWORD) -> Response:
    return post(client, "/reauthenticate", token, {"password": password})


def user_of(client: ContractClient, email: str = "alice@example.com") -> Any:
    return client.auth.users.get_user(email)  # type: ignore[attr-defined]


# -- each sensitive change: fresh -> allowed, stale -> REAUTH_REQUIRED, reauth -> allowed ---------


def _extra_address(client: ContractClient, outbox: OutboxMailer, token: str) -> str:
    """A confirmed extra address of alice's; its id."""
    assert post(client, "/emails/add", token, {"email": "alice2@example.com",
                                               "password": PASSWORD}).status == 200  # fmt: skip
    client.post("/auth/verify-email", json={"token": token_of(outbox, "email_add_confirm")})
    listed = client.get("/auth/emails", headers=bearer(token), cookies=False).json()["emails"]
    return str(next(e["id"] for e in listed if not e["primary"]))


Case = tuple[str, dict[str, Any], Callable[..., dict[str, Any]], Callable[..., bool]]

CASES: dict[str, Case] = {
    "change-email": (
        "/change-email", {},
        lambda c, o, t: {"new_email": "alice.new@example.com", "password": PASSWORD},
        lambda c, o: bool(o.find("email_change_confirm")),
    ),
    "change-username": (
        "/change-username", {"usernames": True},
        lambda c, o, t: {"new_username": "alicia", "password": PASSWORD},
        lambda c, o: user_of(c).username == "alicia",
    ),
    "revoke-other-sessions": (
        "/revoke-other-sessions", {}, lambda c, o, t: {},
        lambda c, o: len(c.auth.list_sessions(user_of(c))) == 1,  # type: ignore[attr-defined]
    ),
    "delete-user": (
        "/delete-user", {}, lambda c, o, t: {"password": PASSWORD},
        lambda c, o: user_of(c) is None,
    ),
    "add-email": (
        "/emails/add", {"multiple_emails": True},
        lambda c, o, t: {"email": "alice2@example.com", "password": PASSWORD},
        lambda c, o: bool(o.find("email_add_confirm")),
    ),
    "remove-email": (
        "/emails/remove", {"multiple_emails": True},
        lambda c, o, t: {"email_id": _extra_address(c, o, t)},
        lambda c, o: c.auth.list_emails(user_of(c))[1:] == [],  # type: ignore[attr-defined]
    ),
    "make-primary": (
        "/emails/make-primary", {"multiple_emails": True},
        lambda c, o, t: {"email_id": _extra_address(c, o, t), "password": PASSWORD},
        lambda c, o: user_of(c, "alice2@example.com") is not None,
    ),
}


def _username(settings: dict[str, Any]) -> dict[str, Any]:
    return {"username": "alice"} if settings.get("usernames") else {}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sensitive_change_needs_a_fresh_session(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer, case: str
) -> None:
    path, settings, body_of, done = CASES[case]
    client = mk(**settings)
    token = sign_up(client, **_username(settings)).json()["token"]
    client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                cookies=False)  # another session, for revoke-other-sessions  # fmt: skip
    body = body_of(client, outbox, token)
    outbox.clear()

    clock.advance(STALE)
    assert_error(post(client, path, token, body), 401, "REAUTH_REQUIRED")
    assert not done(client, outbox)  # nothing happened
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200

    r = reauth(client, token)
    assert r.status == 200 and r.json() == {"success": True}
    r = post(client, path, token, body)
    assert r.status == 200, r.body
    assert done(client, outbox)


def test_fresh_after_sign_in_and_stale_after_the_freshness_setting(
    mk: MakeClient, clock: Clock
) -> None:
    client = mk(freshness=60)
    token = sign_up(client).json()["token"]
    clock.advance(59)
    assert post(client, "/revoke-other-sessions", token).status == 200
    clock.advance(2)
    assert_error(post(client, "/revoke-other-sessions", token), 401, "REAUTH_REQUIRED")
    assert reauth(client, token).status == 200
    clock.advance(59)
    assert post(client, "/revoke-other-sessions", token).status == 200


def test_freshness_is_checked_before_the_password(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    clock.advance(STALE)
    r = post(client, "/change-email", token, {"new_email": "x@example.com", "password": "wrong!!!"})
    assert_error(r, 401, "REAUTH_REQUIRED")
    r = post(client, "/delete-user", token, {"password": "wrong password"})
    assert_error(r, 401, "REAUTH_REQUIRED")
    assert user_of(client) is not None


def test_change_password_with_the_current_password_needs_no_fresh_session(
    mk: MakeClient, clock: Clock
) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    clock.advance(STALE)
    r = post(client, "/change-password", token, {"current_password": PASSWORD,
                                                 "new_password": NEW_PASSWORD})  # fmt: skip
    assert r.status == 200
    # ... and the change proved a credential: the session is fresh again.
    assert post(client, "/revoke-other-sessions", token).status == 200
    r = post(client, "/change-password", token, {"new_password": "yet another passphrase"})
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"current_password": "required"}


# -- /reauthenticate ---------------------------------------------------------------------------


def test_another_users_password_never_reauthenticates(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    sign_up(client, email="bob@example.com", password=OTHER_PASSWORD)
    clock.advance(STALE)
    assert_error(reauth(client, token, OTHER_PASSWORD), 401, "INVALID_CREDENTIALS")
    assert_error(post(client, "/revoke-other-sessions", token), 401, "REAUTH_REQUIRED")
    # No identifier can be given: the session's own user is the only candidate.
    for extra in ({"email": "bob@example.com"}, {"user_id": str(user_of(client, "bob@example.com").id)}):
        r = post(client, "/reauthenticate", token, {"password": OTHER_PASSWORD, **extra})
        assert_error(r, 400, "VALIDATION_ERROR")
    assert_error(post(client, "/revoke-other-sessions", token), 401, "REAUTH_REQUIRED")


def test_reauthenticate_is_throttled_per_user(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    clock.advance(STALE)
    for _ in range(10):
        assert_error(reauth(client, token, "not the password"), 401, "INVALID_CREDENTIALS")
    r = reauth(client, token)  # even the right password, while throttled
    error = assert_error(r, 429, "RATE_LIMITED")
    assert int(r.header("Retry-After") or 0) >= 1 and error["retry_after"] >= 1
    assert_error(post(client, "/revoke-other-sessions", token), 401, "REAUTH_REQUIRED")


def test_reauthenticate_validation_and_authentication(mk: MakeClient) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    assert_error(client.post("/auth/reauthenticate", json={"password": PASSWORD}, cookies=False),
                 401, "UNAUTHORIZED")  # fmt: skip
    assert_error(post(client, "/reauthenticate", "not-a-session", {"password": PASSWORD}), 401,
                 "INVALID_TOKEN")  # fmt: skip
    error = assert_error(post(client, "/reauthenticate", token, {}), 400, "VALIDATION_ERROR")
    assert error["fields"] == {"password": "required"}
    r = post(client, "/reauthenticate", token, {"password": "x" * 5000})
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"password": "too_long"}
    assert_error(post(client, "/reauthenticate", token, {"password": ["x"]}), 400, "VALIDATION_ERROR")


def test_reauthenticate_keeps_a_bearer_token(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    clock.advance(STALE)
    r = reauth(client, token)
    assert r.status == 200 and r.json() == {"success": True}
    assert not r.set_cookies
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200


def test_reauthenticate_rotates_a_cookie_session(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    sign_up(client)
    old_cookie, old_csrf = client.cookie("authgate_session"), client.cookie("authgate_csrf")
    assert old_cookie and old_csrf
    clock.advance(STALE)
    r = client.post("/auth/reauthenticate", json={"password": PASSWORD},
                    headers={"X-CSRF-Token": old_csrf})  # fmt: skip
    assert r.status == 200 and r.json() == {"success": True}
    new_cookie, new_csrf = client.cookie("authgate_session"), client.cookie("authgate_csrf")
    assert new_cookie and new_csrf and new_cookie != old_cookie and new_csrf != old_csrf
    assert r.header("X-CSRF-Token") == new_csrf
    assert "HttpOnly" in next(c for c in r.set_cookies if "authgate_session=" in c)
    # The old cookie is no session any more; the new one is, and it is fresh.
    assert_error(client.get("/auth/session", headers=bearer(old_cookie), cookies=False), 401,
                 "INVALID_TOKEN")  # fmt: skip
    r = client.post("/auth/revoke-other-sessions", headers={"X-CSRF-Token": new_csrf})
    assert r.status == 200
    # The session is the same one (its id and creation time), only its token changed.
    sessions = client.get("/auth/sessions").json()["sessions"]
    assert len(sessions) == 1 and sessions[0]["current"] is True


def test_reauthenticate_with_a_cookie_needs_csrf(mk: MakeClient) -> None:
    client = mk()
    sign_up(client)
    assert_error(client.post("/auth/reauthenticate", json={"password": PASSWORD}), 403, "CSRF_FAILED")


# -- a password set by a user signed in by an emailed link -----------------------------------


def _signed_in_by_link(client: ContractClient, outbox: OutboxMailer, email: str) -> str:
    assert client.post("/auth/sign-in/magic-link", json={"email": email}).status == 200
    r = client.post("/auth/magic-link/verify", json={"token": token_of(outbox, "login_link")},
                    cookies=False)  # fmt: skip
    assert r.status == 200
    return str(r.json()["token"])


def _confirmed_alice(client: ContractClient) -> None:
    """Alice with a password and a confirmed address (a link then keeps her password)."""
    client.auth.users.create_user(email="alice@example.com", password=PASSWORD)  # type: ignore[attr-defined]


def test_link_signed_in_user_sets_a_password_without_the_current_one(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer
) -> None:
    client = mk(passwordless=True)
    _confirmed_alice(client)
    token = _signed_in_by_link(client, outbox, "alice@example.com")
    r = post(client, "/change-password", token, {"new_password": NEW_PASSWORD})
    assert r.status == 200 and r.json() == {"success": True}
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": NEW_PASSWORD})
    assert r.status == 200


def test_link_signed_in_password_change_needs_a_fresh_session(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer
) -> None:
    client = mk(passwordless=True)
    _confirmed_alice(client)
    token = _signed_in_by_link(client, outbox, "alice@example.com")
    clock.advance(STALE)
    r = post(client, "/change-password", token, {"new_password": NEW_PASSWORD})
    assert_error(r, 401, "REAUTH_REQUIRED")
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": NEW_PASSWORD})
    assert_error(r, 401, "INVALID_CREDENTIALS")  # unchanged
    assert reauth(client, token).status == 200  # who knows the password may reauthenticate
    assert post(client, "/change-password", token, {"new_password": NEW_PASSWORD}).status == 200


def test_user_without_a_password_sets_one_with_a_fresh_session(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer
) -> None:
    client = mk(passwordless=True)
    client.auth.users.create_user(email="carol@example.com")  # type: ignore[attr-defined]
    token = _signed_in_by_link(client, outbox, "carol@example.com")
    assert_error(reauth(client, token), 401, "INVALID_CREDENTIALS")  # no password to prove
    assert post(client, "/change-password", token, {"new_password": NEW_PASSWORD}).status == 200
    r = client.post("/auth/sign-in/email", json={"email": "carol@example.com", "password": NEW_PASSWORD})
    assert r.status == 200


def test_password_session_still_needs_the_current_password(mk: MakeClient) -> None:
    client = mk(passwordless=True)
    token = sign_up(client).json()["token"]
    r = post(client, "/change-password", token, {"new_password": NEW_PASSWORD})
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"current_password": "required"}
    r = post(client, "/change-password", token, {"current_password": "wrong password",
                                                 "new_password": NEW_PASSWORD})  # fmt: skip
    assert_error(r, 401, "INVALID_CREDENTIALS")


def test_http_basic_counts_as_fresh(mk: MakeClient, clock: Clock) -> None:
    """A credential proven in the request itself: the app's Basic view gets the user."""
    client = mk()
    sign_up(client)
    clock.advance(STALE)
    good = base64.b64encode(f"alice@example.com:{PASSWORD}".encode()).decode()
    r = client.get("/basic", headers={"Authorization": f"Basic {good}"}, cookies=False)
    assert r.json() == {"email": "alice@example.com"}
    # The Python API called for it without a session token needs no freshness.
    auth = client.auth  # type: ignore[attr-defined]
    auth.change_email(user_of(client), "alice.new@example.com", PASSWORD)


# -- /delete-user ------------------------------------------------------------------------------


def test_delete_user(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    other = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                        cookies=False).json()["token"]  # fmt: skip
    bob = sign_up(client, email="bob@example.com").json()["token"]
    assert_error(post(client, "/delete-user", token, {"password": "not it at all"}), 401,
                 "INVALID_CREDENTIALS")  # fmt: skip
    assert_error(post(client, "/delete-user", token, {}), 400, "VALIDATION_ERROR")
    assert user_of(client) is not None
    r = post(client, "/delete-user", token, {"password": PASSWORD})
    assert r.status == 200 and r.json() == {"success": True}
    assert user_of(client) is None
    for gone in (token, other):
        assert_error(client.get("/auth/session", headers=bearer(gone), cookies=False), 401,
                     "USER_NOT_FOUND")  # fmt: skip
    assert client.get("/auth/session", headers=bearer(bob), cookies=False).status == 200
    mail = outbox.last("account_deleted")
    assert mail.to == "alice@example.com" and "deleted" in mail.subject
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert_error(r, 401, "INVALID_CREDENTIALS")


def test_delete_user_by_cookie_clears_it(mk: MakeClient) -> None:
    client = mk()
    sign_up(client)
    csrf = client.cookie("authgate_csrf") or ""
    assert_error(client.post("/auth/delete-user", json={"password": PASSWORD}), 403, "CSRF_FAILED")
    r = client.post("/auth/delete-user", json={"password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert r.status == 200
    assert client.cookie("authgate_session") is None


def test_delete_user_without_a_password(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(passwordless=True)
    client.auth.users.create_user(email="carol@example.com")  # type: ignore[attr-defined]
    token = _signed_in_by_link(client, outbox, "carol@example.com")
    assert post(client, "/delete-user", token, {}).status == 200
    assert user_of(client, "carol@example.com") is None


def test_delete_user_takes_extra_addresses_and_roles(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(multiple_emails=True)
    token = sign_up(client).json()["token"]
    _extra_address(client, outbox, token)
    client.auth.users.add_role_to_user("alice@example.com", "editor")  # type: ignore[attr-defined]
    assert post(client, "/delete-user", token, {"password": PASSWORD}).status == 200
    # The freed extra address can be someone else's now.
    r = client.post("/auth/sign-up/email", json={"email": "alice2@example.com", "password": PASSWORD})
    assert r.status == 200
    role = client.auth.users.find_role("editor")  # type: ignore[attr-defined]
    assert role is not None  # the role stays, only the link went


# -- OpenAPI --------------------------------------------------------------------------------


def test_openapi_documents_the_new_routes(mk: MakeClient) -> None:
    from openapi_spec_validator import validate

    doc = mk().get("/auth/openapi.json").json()
    validate(doc)
    reauth_op = doc["paths"]["/auth/reauthenticate"]["post"]
    assert reauth_op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["password"]
    assert {"200", "400", "401", "403", "429"} <= set(reauth_op["responses"])
    delete_op = doc["paths"]["/auth/delete-user"]["post"]
    assert "REAUTH_REQUIRED" in delete_op["responses"]["401"]["description"]
    for path in ("/auth/change-email", "/auth/revoke-other-sessions"):
        assert "REAUTH_REQUIRED" in doc["paths"][path]["post"]["responses"]["401"]["description"]
    events = doc["paths"]["/auth/security-events"]["get"]
    assert [(p["name"], p["required"]) for p in events["parameters"]] == [("limit", False), ("before", False)]
    assert events["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SecurityEventList"
    }
