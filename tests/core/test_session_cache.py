"""The session cache: what it answers from memory, for how long, and what makes it ask again.

Coherence with every change made through authgate, on every store, is in
``tests/test_flows_on_stores.py``; the FastAPI event-loop behaviour in
``tests/integrations/test_fastapi.py``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

import authgate.session_cache
from authgate import Auth
from authgate.errors import InvalidToken
from authgate.flows import sessions as session_flows
from authgate.models import SessionRecord
from authgate.results import SessionInfo
from authgate.session_cache import SessionCache, StoreNeeded
from authgate.settings import Settings

from .conftest import PASSWORD, SECRET, Clock


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock, moved by hand: ``ticks[0] += seconds``."""
    now = [1000.0]
    monkeypatch.setattr(authgate.session_cache.time, "monotonic", lambda: now[0])
    return now


class CountingLookups:
    """Counts the store's session lookups of an ``Auth``."""

    def __init__(self, auth: Auth, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = auth.store.get_session

        def get_session(token_hash: str) -> Any:
            self.count += 1
            return real(token_hash)

        monkeypatch.setattr(auth.store, "get_session", get_session)


def test_a_cached_session_is_answered_without_the_store(
    auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    lookups = CountingLookups(auth, monkeypatch)
    first = auth.get_session(r.token)
    for _ in range(5):
        assert auth.get_session(r.token) == first
        assert auth.verify_token(r.token) is first.user
    assert lookups.count == 1
    # Memory-only lookups answer the same, and say when they cannot.
    assert session_flows.get_session(auth.ctx, r.token, memory_only=True) == first
    other = auth.sign_in("alice@example.com", PASSWORD)
    with pytest.raises(StoreNeeded):
        session_flows.get_session(auth.ctx, other.token, memory_only=True)
    with pytest.raises(InvalidToken):  # malformed tokens never need the store
        session_flows.get_session(auth.ctx, "x" * 5000, memory_only=True)


def test_ttl_zero_asks_the_store_every_time(
    make_auth: Callable[..., Auth], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = make_auth(session_cache_ttl=0)
    assert auth.ctx.session_cache is None
    r = auth.sign_up("alice@example.com", PASSWORD)
    lookups = CountingLookups(auth, monkeypatch)
    for _ in range(3):
        auth.get_session(r.token)
    assert lookups.count == 3
    with pytest.raises(StoreNeeded):
        session_flows.get_session(auth.ctx, r.token, memory_only=True)


def test_entries_live_ttl_seconds(
    make_auth: Callable[..., Auth], monkeypatch: pytest.MonkeyPatch, ticks: list[float]
) -> None:
    auth = make_auth(session_cache_ttl=5)
    r = auth.sign_up("alice@example.com", PASSWORD)
    lookups = CountingLookups(auth, monkeypatch)
    auth.get_session(r.token)
    ticks[0] += 4.9
    auth.get_session(r.token)
    assert lookups.count == 1
    ticks[0] += 0.2
    auth.get_session(r.token)
    assert lookups.count == 2


def test_expiry_idle_timeout_and_activity_are_decided_by_the_store(
    make_auth: Callable[..., Auth], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache never answers past the moment the flows would ask the store again."""
    auth = make_auth(
        session_cache_ttl=3600, session_idle_timeout=600, session_lifetime=2000
    )  # touch interval: 600 // 20 = 30 s
    r = auth.sign_up("alice@example.com", PASSWORD)
    lookups = CountingLookups(auth, monkeypatch)
    touches: list[Any] = []
    real_touch = auth.store.touch_session
    monkeypatch.setattr(
        auth.store, "touch_session", lambda *a: (touches.append(a), real_touch(*a))
    )
    auth.get_session(r.token)
    clock.advance(29)
    auth.get_session(r.token)
    assert (lookups.count, len(touches)) == (1, 0)
    clock.advance(1)  # activity due: the store records it
    auth.get_session(r.token)
    assert (lookups.count, len(touches)) == (2, 1)
    clock.advance(601)  # idle: a cached answer would be wrong
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)
    # The absolute lifetime, with activity all along.
    r = auth.sign_in("alice@example.com", PASSWORD)
    for _ in range(66):  # 66 * 30 = 1980 s: live, touched every time
        clock.advance(30)
        auth.get_session(r.token)
    clock.advance(19)
    auth.get_session(r.token)
    clock.advance(1)  # exactly session_lifetime after sign-in
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)


def test_no_lookup_starting_after_sign_out_succeeds(tmp_path: Path) -> None:
    """Threads looking a session up while it is revoked (SQLite, real threads)."""
    auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'race.db'}",
                argon2_memory_cost=1024, argon2_time_cost=1)  # fmt: skip
    try:
        r = auth.sign_up("alice@example.com", PASSWORD)
        signed_out = threading.Event()
        late_successes: list[int] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                after = signed_out.is_set()
                if auth.verify_token(r.token) is not None and after:
                    late_successes.append(1)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        threading.Event().wait(0.2)
        assert auth.sign_out(r.token) is True
        signed_out.set()
        threading.Event().wait(0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        assert late_successes == []
        assert auth.verify_token(r.token) is None
    finally:
        auth.store.close()


@pytest.fixture
def sqlite_auth(tmp_path: Path) -> Iterator[Auth]:
    auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'auth.db'}",
                argon2_memory_cost=1024, argon2_time_cost=1)  # fmt: skip
    yield auth
    auth.store.close()


def test_a_lookup_racing_a_revocation_does_not_cache_what_it_read(
    sqlite_auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = sqlite_auth
    r = auth.sign_up("alice@example.com", PASSWORD)
    real = auth.store.get_session

    def read_then_revoke(token_hash: str) -> Any:
        found = real(token_hash)  # read before the revocation...
        auth.users.deactivate_user("alice@example.com")  # ...committed before the put
        return found

    monkeypatch.setattr(auth.store, "get_session", read_then_revoke)
    assert auth.get_session(r.token).user.email == "alice@example.com"  # raced: old answer
    monkeypatch.setattr(auth.store, "get_session", real)
    assert len(auth.ctx.session_cache or ()) == 0
    assert auth.verify_token(r.token) is None


def test_a_user_changed_by_a_request_is_not_served_again(sqlite_auth: Auth) -> None:
    r = sqlite_auth.sign_up("alice@example.com", PASSWORD)
    sqlite_auth.users.add_role_to_user("alice@example.com", "editor")
    user = sqlite_auth.get_session(r.token).user
    assert sqlite_auth.get_session(r.token).user is user  # shared while untouched
    user.email = "changed-for-display@example.com"  # a view's own business
    fresh = sqlite_auth.get_session(r.token).user
    assert fresh is not user and fresh.email == "alice@example.com"
    fresh.roles[0].name = "renamed"
    again = sqlite_auth.get_session(r.token).user
    assert again is not fresh and again.role_names == ["editor"]


def test_a_user_added_to_an_orm_session_is_not_served_again(sqlite_auth: Auth) -> None:
    r = sqlite_auth.sign_up("alice@example.com", PASSWORD)
    user = sqlite_auth.get_session(r.token).user
    with Session(sqlite_auth.store.engine) as session:  # type: ignore[attr-defined]
        session.add(user)
        fresh = sqlite_auth.get_session(r.token).user
        assert fresh is not user
    assert sqlite_auth.get_session(r.token).user is fresh


def _record(session_id: str, user_id: str) -> SessionRecord:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return SessionRecord(
        id=session_id, token_hash=f"h-{session_id}", user_id=user_id, created_at=now,
        last_seen_at=now, expires_at=now, authenticated_at=now, security_stamp="s",
    )  # fmt: skip


def _put(cache: SessionCache, session_id: str, user_id: str) -> None:
    record = _record(session_id, user_id)
    info = SessionInfo(
        id=session_id, user=object(), created_at=record.created_at,
        last_seen_at=record.last_seen_at, expires_at=record.expires_at,
        authenticated_at=record.authenticated_at,
    )  # fmt: skip
    cache.put(record.token_hash, record, info, record.expires_at, cache.epoch)


def test_cache_bounds_and_indexes() -> None:
    cache = SessionCache(ttl=60, max_entries=3)
    for n in range(4):
        _put(cache, f"s{n}", f"u{n % 2}")
    assert len(cache) == 3 and cache.get("h-s0") is None  # the oldest went first
    cache.forget_session("s1")
    assert cache.get("h-s1") is None and cache.get("h-s2") is not None
    cache.forget_user("u0")
    assert cache.get("h-s2") is None and cache.get("h-s3") is not None
    epoch = cache.epoch
    cache.clear()
    assert len(cache) == 0 and cache.epoch > epoch
    stale = cache.epoch
    cache.forget_user("nobody")  # any forgetting refuses lookups that started before it
    record = _record("s9", "u9")
    info = SessionInfo(
        id="s9", user=object(), created_at=record.created_at, last_seen_at=record.last_seen_at,
        expires_at=record.expires_at, authenticated_at=record.authenticated_at,
    )  # fmt: skip
    cache.put("h-s9", record, info, record.expires_at, stale)
    assert cache.get("h-s9") is None
    with pytest.raises(ValueError, match="positive ttl"):
        SessionCache(ttl=0)


def test_setting() -> None:
    assert Settings(secret=SECRET).session_cache_ttl == 2
    assert Settings.from_mapping({"AUTHGATE_SESSION_CACHE_TTL": "0"}, secret=SECRET).session_cache_ttl == 0
    with pytest.raises(ValueError, match="session_cache_ttl"):
        Settings(secret=SECRET, session_cache_ttl=-1)
    with pytest.raises(TypeError, match="session_cache_ttl"):
        Auth(SECRET, session_cache_tll=1)


def test_a_suspended_cache_keeps_nothing_until_resumed() -> None:
    """What a cache does while it may miss other processes' invalidations (Redis down)."""
    cache = SessionCache(ttl=60)
    woken: list[int] = []
    cache.wake = lambda: woken.append(1)
    _put(cache, "s1", "u1")
    assert cache.get("h-s1") is not None and not cache.suspended

    epoch = cache.epoch
    cache.suspend()
    assert cache.suspended and len(cache) == 0 and cache.epoch > epoch
    _put(cache, "s2", "u2")  # refused, and whatever resumes the cache is woken
    assert len(cache) == 0 and woken == [1]
    cache.clear()  # forgetting does not resume it
    assert cache.suspended

    cache.resume()
    assert not cache.suspended and len(cache) == 0
    _put(cache, "s3", "u3")
    assert cache.get("h-s3") is not None and woken == [1]


def test_a_group_relays_what_it_forgets_and_applies_what_it_receives() -> None:
    from authgate.session_cache import CacheGroup

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def publish(self, message: str) -> None:
            self.sent.append(message)

    group, relay = CacheGroup(), Recorder()
    cache = SessionCache(ttl=60)
    group.join(cache)
    group.add_relay(relay)
    for n in range(4):
        _put(cache, f"s{n}", f"u{n % 2}")

    group.forget_session("s0")
    group.forget_user("u1")
    assert relay.sent == ["s:s0", "u:u1"]
    assert [cache.get(f"h-s{n}") is None for n in range(4)] == [True, True, False, True]

    group.receive("s:s2")  # from another process: applied here, never sent again
    assert cache.get("h-s2") is None and relay.sent == ["s:s0", "u:u1"]
    _put(cache, "s5", "u5")
    group.receive("something newer")  # not understood: forget everything
    assert len(cache) == 0
    group.clear()
    assert relay.sent[-1] == "*"
    group.remove_relay(relay)
    group.forget_user("u9")
    assert relay.sent[-1] == "*"
