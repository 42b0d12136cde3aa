"""Sessions are bound to the credential state a flow verified (finding S2), on every store.

A sign-in whose password check started before a reset (or a password change)
and finished after it used to get a session stamped with the *new* security
stamp: the attacker kept access after the victim reclaimed the account. Each
flow that creates a session now reads the stamp and hash before its check and
makes every later write conditional on them.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import AuthError, InvalidCredentials, InvalidToken
from authgate.testing import OutboxMailer

from .core.conftest import FAST_HASHING, PASSWORD, SECRET

NEW_PASSWORD = "brand new horse battery"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def make_auth(store: Any, outbox: OutboxMailer) -> Iterator[Callable[..., Auth]]:
    built: list[Auth] = []

    def factory(**settings: Any) -> Auth:
        auth = Auth(SECRET, store=store, send_email=outbox, **{**FAST_HASHING, **settings})
        built.append(auth)
        return auth

    yield factory
    for auth in built:
        auth.mail.close()


def _link(outbox: OutboxMailer, kind: str) -> str:
    match = re.search(r"token=([^\s\"&]+)", outbox.last(kind).text)
    assert match is not None
    return match.group(1)


def _valid(auth: Auth, token: str | None) -> bool:
    return token is not None and auth.verify_token(token) is not None


def _during_verify(auth: Auth, action: Callable[[], None]) -> None:
    """Run ``action`` once, while the next password verification is in progress."""
    real = auth.ctx.hasher.verify
    fired: list[bool] = []

    def verify(password: str, stored: str | None) -> tuple[bool, str | None]:
        result = real(password, stored)
        if not fired:
            fired.append(True)
            action()
        return result

    auth.ctx.hasher.verify = verify  # type: ignore[method-assign]


@pytest.mark.parametrize("trackable", [True, False])
def test_sign_in_racing_a_reset_gets_no_session(
    make_auth: Callable[..., Auth], outbox: OutboxMailer, trackable: bool
) -> None:
    auth = make_auth(trackable=trackable)
    auth.sign_up("victim@example.com", PASSWORD)
    auth.forgot_password("victim@example.com")
    auth.mail.flush()
    reset = _link(outbox, "reset_password")
    _during_verify(auth, lambda: auth.reset_password(reset, NEW_PASSWORD))
    with pytest.raises(InvalidCredentials):  # the attacker's old password checked out too late
        auth.sign_in("victim@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("victim@example.com", PASSWORD)
    assert _valid(auth, auth.sign_in("victim@example.com", NEW_PASSWORD).token)


def test_sign_in_racing_a_password_change_gets_no_session(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    victim = auth.sign_up("victim@example.com", PASSWORD)
    assert victim.token is not None

    def change() -> None:
        user = auth.get_session(victim.token).user  # type: ignore[arg-type]
        auth.change_password(user, PASSWORD, NEW_PASSWORD, current_token=victim.token)

    _during_verify(auth, change)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("victim@example.com", PASSWORD)
    assert _valid(auth, victim.token)  # the victim's own session was kept


def test_password_change_racing_a_reset_is_refused(
    make_auth: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    """The change verified the old password; a reset landed meanwhile: it must not apply."""
    auth = make_auth()
    r = auth.sign_up("victim@example.com", PASSWORD)
    auth.forgot_password("victim@example.com")
    auth.mail.flush()
    reset = _link(outbox, "reset_password")
    _during_verify(auth, lambda: auth.reset_password(reset, NEW_PASSWORD))
    with pytest.raises(InvalidCredentials):
        auth.change_password(r.user, PASSWORD, "attacker horse battery")
    assert _valid(auth, auth.sign_in("victim@example.com", NEW_PASSWORD).token)


def test_magic_link_racing_a_reset_gets_no_session(
    make_auth: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    auth = make_auth(passwordless=True)
    auth.sign_up("victim@example.com", PASSWORD)
    auth.send_login_link("victim@example.com")
    auth.forgot_password("victim@example.com")
    auth.mail.flush()
    link, reset = _link(outbox, "login_link"), _link(outbox, "reset_password")
    real_claim = auth.ctx.tokens.claim_token

    def claim_then_reset(*args: Any) -> bool:
        won = real_claim(*args)
        auth.ctx.tokens.claim_token = real_claim  # type: ignore[method-assign]
        auth.reset_password(reset, NEW_PASSWORD)  # the owner reclaims the account meanwhile
        return bool(won)

    auth.ctx.tokens.claim_token = claim_then_reset  # type: ignore[method-assign]
    with pytest.raises(InvalidToken):
        auth.sign_in_with_link(link)


def test_threaded_sign_ins_across_a_reset_keep_no_session(
    make_auth: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    """The finding's own scenario: attackers signing in in a loop while the victim resets."""
    auth = make_auth(throttle_sign_in=False)
    auth.sign_up("victim@example.com", PASSWORD)
    auth.forgot_password("victim@example.com")
    auth.mail.flush()
    reset = _link(outbox, "reset_password")
    tokens: list[str] = []
    stop = threading.Event()

    def attacker() -> None:
        while not stop.is_set():
            with contextlib.suppress(AuthError):
                tokens.append(auth.sign_in("victim@example.com", PASSWORD).token or "")

    threads = [threading.Thread(target=attacker) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.15)
    auth.reset_password(reset, NEW_PASSWORD)
    time.sleep(0.15)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert tokens, "the attackers never signed in before the reset"
    assert not [t for t in tokens if _valid(auth, t)]
