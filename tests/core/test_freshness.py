"""Freshness from Python: the token makes the check, no token means the app vouches (SPEC §5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import (
    InvalidCredentials,
    InvalidToken,
    ReauthRequired,
    UserNotFound,
    ValidationError,
)
from authgate.testing import OutboxMailer, links

from .conftest import PASSWORD, Clock

NEW_PASSWORD = "new staple battery horse"
STALE = 15 * 60


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_auth: Callable[..., Auth], outbox: OutboxMailer) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        return make_auth(send_email=outbox, **settings)

    return factory


def test_a_stale_token_is_refused_and_no_token_is_trusted(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk(usernames=True)
    r = auth.sign_up("alice@example.com", PASSWORD, "alice")
    clock.advance(STALE - 1)
    auth.change_username(r.user, "alicia", PASSWORD, token=r.token)  # still fresh
    clock.advance(1)
    with pytest.raises(ReauthRequired) as info:
        auth.change_username(r.user, "ally", PASSWORD, token=r.token)
    assert (info.value.code, info.value.status) == ("REAUTH_REQUIRED", 401)
    with pytest.raises(ReauthRequired):
        auth.change_email(r.user, "new@example.com", PASSWORD, token=r.token)
    with pytest.raises(ReauthRequired):
        auth.revoke_other_sessions(r.user, r.token)
    with pytest.raises(ReauthRequired):
        auth.delete_account(r.user, PASSWORD, token=r.token)
    auth.change_username(r.user, "ally", PASSWORD)  # the app vouches: no token, no freshness
    assert auth.users.get_user(r.user.id).username == "ally"


def test_a_token_of_another_user_is_refused(auth: Auth) -> None:
    alice = auth.sign_up("alice@example.com", PASSWORD)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    for keep in (bob.token, None, "nope"):
        with pytest.raises(InvalidToken):
            auth.revoke_other_sessions(alice.user, keep)  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        auth.change_email(alice.user, "new@example.com", PASSWORD, token=bob.token)
    with pytest.raises(InvalidToken):
        auth.delete_account(alice.user, PASSWORD, token=bob.token)
    assert auth.users.get_user("alice@example.com") is not None


def test_reauthenticate(auth: Auth, clock: Clock) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    clock.advance(STALE)
    assert auth.get_session(r.token).authenticated_at < clock()
    assert auth.reauthenticate(r.token, PASSWORD) == r.token
    assert auth.get_session(r.token).authenticated_at == clock()
    assert auth.revoke_other_sessions(r.user, r.token) == 0


def test_reauthenticate_with_rotation(auth: Auth, clock: Clock) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    session_id = auth.get_session(r.token).id
    clock.advance(STALE)
    token = auth.reauthenticate(r.token, PASSWORD, rotate=True, ip="192.0.2.1")
    assert token != r.token and len(token) >= 43
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)
    info = auth.get_session(token)
    assert (info.id, info.authenticated_at) == (session_id, clock())
    assert auth.audit.events(r.user, kinds="reauthenticate")[0].ip == "192.0.2.1"


def test_reauthenticate_refusals(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(sign_in_max_failures=3)
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.sign_up("bob@example.com", NEW_PASSWORD)
    clock.advance(STALE)
    with pytest.raises(InvalidCredentials):
        auth.reauthenticate(r.token, NEW_PASSWORD)  # bob's password
    with pytest.raises(ValidationError):
        auth.reauthenticate(r.token, "")
    with pytest.raises(InvalidToken):
        auth.reauthenticate("not-a-token", PASSWORD)
    assert auth.get_session(r.token).authenticated_at < clock()
    auth.sign_out(r.token)
    with pytest.raises(InvalidToken):
        auth.reauthenticate(r.token, PASSWORD)


def test_change_password_rules(mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock) -> None:
    auth = mk(passwordless=True, base_url="https://app.example")
    alice = auth.users.create_user(email="alice@example.com", password=PASSWORD)
    by_password = auth.sign_in("alice@example.com", PASSWORD).token
    auth.send_login_link("alice@example.com")
    token = links(outbox.last("login_link"))[0].split("token=")[1]
    by_link = auth.sign_in_with_link(token).token
    # A password session: the current password, freshness or not.
    with pytest.raises(ValidationError):
        auth.change_password(alice, None, NEW_PASSWORD, current_token=by_password)  # type: ignore[arg-type]
    # An emailed-link session: no current password, but a fresh session.
    clock.advance(STALE)
    with pytest.raises(ReauthRequired):
        auth.change_password(alice, None, NEW_PASSWORD, current_token=by_link)  # type: ignore[arg-type]
    auth.reauthenticate(by_link, PASSWORD)
    auth.change_password(alice, None, NEW_PASSWORD, current_token=by_link)  # type: ignore[arg-type]
    assert auth.get_session(by_link).authenticated_at == clock()
    # Without a token, the current password is needed whatever the session.
    with pytest.raises(ValidationError):
        auth.change_password(alice, None, PASSWORD)  # type: ignore[arg-type]
    # A token that is no session of alice's counts as none.
    with pytest.raises(ValidationError):
        auth.change_password(alice, None, PASSWORD, current_token="nope")  # type: ignore[arg-type]


def test_delete_account(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.delete_account(r.user, "wrong password")
    auth.delete_account(r.user, PASSWORD)
    assert auth.users.get_user("alice@example.com") is None
    with pytest.raises(UserNotFound):
        auth.get_session(r.token)
    with pytest.raises(UserNotFound):
        auth.delete_account(r.user, PASSWORD)


def test_delete_account_email(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.delete_account(r.user, PASSWORD, token=r.token)
    message = outbox.last("account_deleted")
    assert message.to == "alice@example.com"
    assert "deleted" in message.text and "alice@example.com" in message.html
    quiet = mk(notify_account_deleted=False)
    r = quiet.sign_up("bob@example.com", PASSWORD)
    quiet.delete_account(r.user, PASSWORD)
    assert not outbox.find("account_deleted", to="bob@example.com")
