"""SPEC §10 through the Python API on every store (memory, SQLite, PostgreSQL, MariaDB, Redis).

Refresh-token rotation, reuse detection and the concurrency rule of
better-auth CVE-2026-53517 (concurrent refreshes of one token: exactly one
wins, the family stays whole), expiry by the app's clock, families ended by
credential changes, and personal API keys.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import (
    AccountDisabled,
    InvalidToken,
    NotFound,
    RateLimited,
    ValidationError,
)
from authgate.keys import generate_key, private_pem
from authgate.models import utcnow
from authgate.stores.base import Store
from tests.stores.test_contract import run_together

SECRET = "stores-secret-" + "x" * 32
PASSWORD = "correct horse battery"
FAST = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
KEY = private_pem(generate_key("EdDSA"))
THREADS = 12


class Clock:
    """An injectable clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_auth(store: Store, clock: Clock) -> Callable[..., Auth]:
    def make(**settings: Any) -> Auth:
        options = {**FAST, "jwt_access_tokens": True, "jwt_keys": [KEY], **settings}
        return Auth(SECRET, store=store, clock=clock, **options)

    return make


def sign_up(auth: Auth, email: str = "alice@example.com") -> Any:
    return auth.sign_up(email, PASSWORD)


class ReadTogether:
    """The refresh-token store, with every reader waiting for the others after its read.

    Makes refreshes *concurrent* in the sense that matters: each reads the token
    before any of them retires it.
    """

    def __init__(self, inner: Any, parties: int) -> None:
        self._inner = inner
        self._barrier = threading.Barrier(parties)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_refresh_token(self, token_hash: str) -> Any:
        found = self._inner.get_refresh_token(token_hash)
        self._barrier.wait(timeout=20)
        return found


def outcomes(results: list[Any]) -> tuple[list[Any], list[BaseException]]:
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    return wins, losses


# -- rotation and reuse -------------------------------------------------------------------
def test_refresh_rotates_and_a_reuse_ends_the_family(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    first = sign_up(auth)
    assert first.refresh_token and first.session_token and first.token != first.session_token
    second = auth.refresh(first.refresh_token)
    assert second.session is not None and second.session.id == first.session.id
    assert auth.verify_token(second.token) is not None
    third = auth.refresh(second.refresh_token)
    with pytest.raises(InvalidToken):
        auth.refresh(first.refresh_token)  # retired two refreshes ago: the family ends
    with pytest.raises(InvalidToken):
        auth.refresh(third.refresh_token)
    with pytest.raises(InvalidToken):
        auth.get_session(first.session_token)  # the session went with it
    assert auth.verify_token(third.token) is None  # the Python API asks the session
    assert [e.kind for e in auth.audit.events(kinds=["refresh_token_reuse"])] == [
        "refresh_token_reuse"
    ]


def test_concurrent_refreshes_have_one_winner_and_the_family_stays(
    make_auth: Callable[..., Auth],
) -> None:
    auth = make_auth()
    result = sign_up(auth)
    auth.ctx.refresh_tokens = ReadTogether(auth.ctx.refresh_tokens, THREADS)  # type: ignore[assignment]
    results = run_together(THREADS, lambda i: auth.refresh(result.refresh_token))
    wins, losses = outcomes(results)
    assert len(wins) == 1, results
    assert len(losses) == THREADS - 1 and all(isinstance(e, InvalidToken) for e in losses)
    auth.ctx.refresh_tokens = auth.ctx.refresh_tokens._inner  # type: ignore[attr-defined]
    # The family is whole: the winner's refresh token works, the session lives, no reuse.
    assert auth.refresh(wins[0].refresh_token).refresh_token
    assert auth.get_session(result.session_token).id == result.session.id
    assert auth.audit.events(kinds=["refresh_token_reuse"]) == []


def test_a_storm_of_refreshes_never_forks_the_family(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    result = sign_up(auth)
    results = run_together(THREADS, lambda i: auth.refresh(result.refresh_token))
    wins, losses = outcomes(results)
    assert len(wins) == 1, results
    assert all(isinstance(e, InvalidToken) for e in losses)


def test_with_a_grace_period_a_storm_leaves_the_family_whole(
    make_auth: Callable[..., Auth],
) -> None:
    auth = make_auth(refresh_reuse_grace=30)
    result = sign_up(auth)
    results = run_together(THREADS, lambda i: auth.refresh(result.refresh_token))
    wins, losses = outcomes(results)
    assert len(wins) == 1 and all(isinstance(e, InvalidToken) for e in losses), results
    assert auth.refresh(wins[0].refresh_token).refresh_token
    assert auth.audit.events(kinds=["refresh_token_reuse"]) == []


def test_the_grace_period_ends(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(refresh_reuse_grace=10)
    first = sign_up(auth)
    second = auth.refresh(first.refresh_token)
    clock.advance(9)
    with pytest.raises(InvalidToken):
        auth.refresh(first.refresh_token)  # within the grace: refused, family kept
    third = auth.refresh(second.refresh_token)
    clock.advance(11)
    with pytest.raises(InvalidToken):
        auth.refresh(second.refresh_token)  # after it: the family ends
    with pytest.raises(InvalidToken):
        auth.refresh(third.refresh_token)


# -- expiry by the app's clock -----------------------------------------------------------
def test_access_tokens_expire(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(access_token_lifetime=60)
    result = sign_up(auth)
    assert result.expires_in == 60
    clock.advance(59)
    assert auth.verify_token(result.token) is not None
    clock.advance(1)
    assert auth.verify_token(result.token) is None
    with pytest.raises(InvalidToken):
        auth.get_session(result.token)
    assert auth.verify_token(auth.refresh(result.refresh_token).token) is not None


def test_refresh_tokens_expire(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(refresh_token_lifetime=3600, session_idle_timeout=None)
    result = sign_up(auth)
    clock.advance(3599)
    kept = auth.refresh(result.refresh_token)  # a refresh issues a token with a new lifetime
    clock.advance(3599)
    newer = auth.refresh(kept.refresh_token)
    clock.advance(3600)
    with pytest.raises(InvalidToken):
        auth.refresh(newer.refresh_token)


def test_a_refresh_token_never_outlives_its_session(
    make_auth: Callable[..., Auth], clock: Clock
) -> None:
    auth = make_auth(session_lifetime=600, session_idle_timeout=None)
    result = sign_up(auth)
    clock.advance(500)
    kept = auth.refresh(result.refresh_token)
    clock.advance(100)
    with pytest.raises(InvalidToken):
        auth.refresh(kept.refresh_token)


def test_refreshing_keeps_an_idle_session_alive(
    make_auth: Callable[..., Auth], clock: Clock
) -> None:
    auth = make_auth(session_idle_timeout=3600)
    result = sign_up(auth)
    token = result.refresh_token
    for _ in range(3):
        clock.advance(3000)
        token = auth.refresh(token).refresh_token
    clock.advance(3600)
    with pytest.raises(InvalidToken):
        auth.refresh(token)


# -- families end with the credentials -------------------------------------------------------
def test_a_password_change_ends_the_families(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    first = sign_up(auth)
    other = auth.sign_in("alice@example.com", PASSWORD)
    auth.change_password(first.user, PASSWORD, "new staple battery horse",
                         current_token=first.token)  # fmt: skip
    with pytest.raises(InvalidToken):
        auth.refresh(other.refresh_token)
    assert auth.refresh(first.refresh_token).refresh_token  # the caller's own session goes on


def test_deactivation_ends_the_families(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    result = sign_up(auth)
    auth.users.deactivate_user(result.user)
    with pytest.raises((InvalidToken, AccountDisabled)):
        auth.refresh(result.refresh_token)


def test_freshness_of_an_access_tokens_session(
    make_auth: Callable[..., Auth], clock: Clock
) -> None:
    from authgate.errors import ReauthRequired

    auth = make_auth(freshness=60)
    result = sign_up(auth)
    clock.advance(61)
    with pytest.raises(ReauthRequired):
        auth.revoke_other_sessions(result.user, result.token)
    assert auth.reauthenticate(result.token, PASSWORD) == result.token
    assert auth.revoke_other_sessions(result.user, result.token) == 0
    # A refreshed access token names the same session: it is fresh as well.
    fresh = auth.refresh(result.refresh_token)
    assert auth.revoke_other_sessions(result.user, fresh.token) == 0


# -- personal API keys ------------------------------------------------------------------------
def test_api_keys_on_every_store(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth()
    user = sign_up(auth).user
    record, key = auth.create_api_key(user, "ci", scopes=["read:reports"], expires_in=3600)
    assert auth.verify_api_key(key, ip="203.0.113.7").email == "alice@example.com"
    (listed,) = auth.list_api_keys(user)
    assert listed.id == record.id and listed.last_used_ip == "203.0.113.7"
    first_use = listed.last_used_at
    clock.advance(30)
    auth.verify_api_key(key, ip="203.0.113.8")
    assert auth.list_api_keys(user)[0].last_used_at == first_use  # once a minute at most
    clock.advance(31)
    auth.verify_api_key(key, ip="203.0.113.9")
    assert auth.list_api_keys(user)[0].last_used_ip == "203.0.113.9"
    clock.advance(3600)
    assert auth.verify_api_key(key) is None  # expired
    assert auth.verify_api_key("ag_" + "A" * 43) is None
    assert auth.verify_api_key("not a key") is None


def test_api_key_allowlist_revocation_and_owner_state(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    user = sign_up(auth).user
    _, key = auth.create_api_key(user, "office", allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert auth.verify_api_key(key, ip="10.1.2.3") is not None
    assert auth.verify_api_key(key, ip="::ffff:10.1.2.3") is not None
    assert auth.verify_api_key(key, ip="2001:db8::1") is not None
    assert auth.verify_api_key(key, ip="192.0.2.1") is None
    assert auth.verify_api_key(key) is None  # no address: not in the list
    refused = auth.audit.events(kinds=["api_key_refused"])
    assert len(refused) == 2 and refused[0].outcome == "failure"
    auth.users.deactivate_user(user)
    assert auth.verify_api_key(key, ip="10.1.2.3") is None
    auth.users.activate_user(user)
    record = auth.list_api_keys(user)[0]
    bob = sign_up(auth, "bob@example.com").user
    with pytest.raises(NotFound):
        auth.revoke_api_key(bob, record.id)  # not his
    assert auth.verify_api_key(key, ip="10.1.2.3") is not None
    auth.revoke_api_key(user, record.id)
    assert auth.verify_api_key(key, ip="10.1.2.3") is None


def test_wrong_api_keys_are_throttled_per_address(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(sign_in_ip_max_failures=2)
    assert auth.verify_api_key("ag_" + "A" * 43, ip="198.51.100.1") is None
    assert auth.verify_api_key("ag_" + "B" * 43, ip="198.51.100.1") is None
    with pytest.raises(RateLimited):
        auth.verify_api_key("ag_" + "C" * 43, ip="198.51.100.1")
    assert auth.verify_api_key("ag_" + "C" * 43, ip="198.51.100.2") is None  # another address


def test_api_key_input_is_checked(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    user = sign_up(auth).user
    for kwargs in ({"scopes": ["a b"]}, {"expires_in": 5}, {"allowed_ips": ["x"]}):
        with pytest.raises(ValidationError):
            auth.create_api_key(user, "x", **kwargs)
    with pytest.raises(ValidationError):
        auth.create_api_key(user, "")
    assert auth.list_api_keys(user) == []
