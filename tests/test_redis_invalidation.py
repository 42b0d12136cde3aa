"""Session-cache invalidation across processes over Redis (``authgate.session_bus``).

Two ``Auth`` objects stand for two processes: each has its own Redis
connections, and the second is built outside the first's cache group, so
only what travels through Redis can tell it anything. Real separate
processes are in ``tests/test_multiprocess.py``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import authgate.auth
import authgate.session_bus
from authgate import Auth
from authgate.errors import AuthError, ServiceUnavailable
from authgate.session_cache import CacheGroup
from authgate.testing import OutboxMailer, links
from authgate.tokens import token_digest

from .conftest import REDIS_URL, redis_prefix
from .core.conftest import FAST_HASHING, PASSWORD, SECRET
from .redis_server import private_redis

pytestmark = pytest.mark.redis

NEW_PASSWORD = "new staple battery horse"
#: How long a message may take from one "process" to the other here (it takes ~1 ms;
#: the bound is loose for a loaded CI machine). bench/ measures the real delay.
DELIVERY = 2.0


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as name:
        yield name


Pair = Callable[..., tuple[Auth, Auth]]


def other_process(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Auth:
    """An ``Auth`` in a cache group of its own: as if it lived in another process."""
    with monkeypatch.context() as patch:
        patch.setattr(authgate.auth, "group_for", lambda store: CacheGroup())
        return Auth(SECRET, **options)


@pytest.fixture
def pair(tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    """``pair(**settings)``: two "processes" over one SQLite file and one Redis prefix."""
    made: list[Auth] = []

    def factory(**settings: Any) -> tuple[Auth, Auth]:
        options: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'auth.db'}",
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            # Entries outlive every test: only an invalidation can drop them.
            "session_cache_ttl": 3600,
            **FAST_HASHING,
            **settings,
        }
        a = Auth(SECRET, **options)
        b = other_process(monkeypatch, **options)
        made.extend((a, b))
        return a, b

    yield factory
    for auth in made:
        auth.close()


def subscribed(auth: Auth, timeout: float = 10.0) -> None:
    """Wait until ``auth`` receives the other processes' invalidations."""
    bus = auth._bus
    assert bus is not None
    bus.start()
    assert bus.subscribed.wait(timeout), "the subscription did not come up"


def cached(auth: Auth, *tokens: str) -> None:
    """Look the tokens up so that ``auth`` answers them from memory next time."""
    subscribed(auth)
    for token in tokens:
        auth.get_session(token)
    cache = auth.ctx.session_cache
    assert cache is not None
    assert all(cache.get(token_digest(token)) is not None for token in tokens)


def forgotten(auth: Auth, token: str, timeout: float = DELIVERY) -> float:
    """Seconds until ``auth``'s cache has dropped ``token`` (fails after ``timeout``)."""
    cache = auth.ctx.session_cache
    assert cache is not None
    start = time.monotonic()
    while cache.get(token_digest(token)) is not None:
        assert time.monotonic() - start < timeout, "the invalidation never arrived"
        time.sleep(0.001)
    return time.monotonic() - start


def refused(auth: Auth, token: str) -> None:
    with pytest.raises(AuthError) as info:
        auth.get_session(token)
    assert info.value.code in {"INVALID_TOKEN", "ACCOUNT_DISABLED", "USER_NOT_FOUND"}


@pytest.mark.parametrize(
    "change",
    ["sign_out", "revoke_session", "revoke_other_sessions", "change_password", "reset_password",
     "set_password", "deactivate", "delete_user", "change_email"],
)  # fmt: skip
def test_a_revocation_in_one_process_is_refused_by_the_other_at_once(
    pair: Pair, change: str
) -> None:
    outbox = OutboxMailer()
    a, b = pair(send_email=outbox)
    first = a.sign_up("alice@example.com", PASSWORD)
    second = a.sign_in("alice@example.com", PASSWORD)
    assert first.token and second.token and second.session
    cached(a, first.token, second.token)
    cached(b, first.token, second.token)  # b would answer both from memory for 2 s
    user = a.users.get_user("alice@example.com")

    if change == "sign_out":
        assert a.sign_out(second.token) is True
    elif change == "revoke_session":
        a.revoke_session(user, second.session.id)
    elif change == "revoke_other_sessions":
        assert a.revoke_other_sessions(user, first.token) == 1
    elif change == "change_password":
        a.change_password(user, PASSWORD, NEW_PASSWORD, current_token=first.token)
    elif change == "reset_password":
        a.forgot_password("alice@example.com")
        a.reset_password(_token_in(outbox, "reset_password"), NEW_PASSWORD)
    elif change == "set_password":
        a.users.set_password("alice@example.com", NEW_PASSWORD)
    elif change == "deactivate":
        a.users.deactivate_user("alice@example.com")
    elif change == "delete_user":
        a.users.delete_user("alice@example.com")
    elif change == "change_email":
        a.change_email(user, "alice@new.example.com", PASSWORD)
        a.confirm_email(_token_in(outbox, "email_change_confirm"))

    # The change has returned: b has already applied it (a confirmed each receiver).
    cache = b.ctx.session_cache
    assert cache is not None and cache.get(token_digest(second.token)) is None
    refused(b, second.token)
    assert b._bus is not None and b._bus.subscribed.is_set()  # not a lost subscription


def _token_in(outbox: OutboxMailer, kind: str) -> str:
    """The token of the last ``kind`` email's link."""
    return parse_qs(urlsplit(links(outbox.last(kind))[0]).query)["token"][0]


def test_role_changes_reach_the_other_process(pair: Pair) -> None:
    a, b = pair()
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token
    a.users.add_role_to_user("alice@example.com", "editor")
    cached(b, r.token)
    assert b.get_session(r.token).user.role_names == ["editor"]

    a.users.add_role_to_user("alice@example.com", "admin")
    forgotten(b, r.token)
    assert b.get_session(r.token).user.role_names == ["admin", "editor"]

    cached(b, r.token)
    a.users.delete_role("editor")  # everything is forgotten
    forgotten(b, r.token)
    assert b.get_session(r.token).user.role_names == ["admin"]


def test_a_failed_publish_is_logged_and_the_write_stands(
    pair: Pair, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    a, b = pair()
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token
    assert a._bus is not None

    def down(*args: Any) -> Any:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(a._bus._client, "publish", down)
    with caplog.at_level(logging.ERROR, logger="authgate.session_cache"):
        assert a.sign_out(r.token) is True  # committed: not an error for the user
    assert "could not publish a session-cache invalidation" in caplog.text
    refused(a, r.token)
    refused(b, r.token)  # b had not cached it: the store says no


def test_the_cache_keeps_nothing_until_subscribed(pair: Pair) -> None:
    a, b = pair()
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token and b._bus is not None
    cache = b.ctx.session_cache
    assert cache is not None and cache.suspended
    assert not b._bus.subscribed.is_set() and b._bus._thread is None  # nothing started yet

    b.get_session(r.token)  # the first lookup starts the subscriber...
    assert b._bus._thread is not None and b._bus._thread.daemon
    subscribed(b)
    assert not cache.suspended
    b.get_session(r.token)  # ...and, once subscribed, lookups are kept
    assert cache.get(token_digest(r.token)) is not None


def test_ttl_zero_publishes_without_subscribing(pair: Pair, prefix: str) -> None:
    a, b = pair(session_cache_ttl=0)
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token and a._bus is not None and b._bus is not None
    for _ in range(3):
        a.get_session(r.token)
    assert a._bus._thread is None  # nothing to keep coherent in this process
    assert b._bus._thread is None
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.pubsub_numsub(f"{prefix}:invalidate") == [(f"{prefix}:invalidate", 0)]
    listener = client.pubsub()
    listener.subscribe(f"{prefix}:invalidate")
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    with _acks_within(0.2):
        a.sign_out(r.token)
    message = listener.get_message(timeout=5)
    assert message is not None
    ack, what = message["data"].split(" ", 1)
    assert len(ack) == 16 and what.startswith("s:")
    listener.close()
    client.close()


@contextlib.contextmanager
def _acks_within(seconds: float) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(authgate.session_bus, "ACK_TIMEOUT", seconds)
        yield


def test_a_process_that_does_not_confirm_delays_a_write_by_the_timeout_at_most(
    pair: Pair, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A stopped or overloaded process: the write waits ACK_TIMEOUT, logs, and succeeds."""
    import redis

    a, b = pair()
    r = a.sign_up("alice@example.com", PASSWORD)
    other = a.sign_in("alice@example.com", PASSWORD)
    assert r.token and other.token
    subscribed(a)  # the publisher hears (and confirms) its own message too
    cached(b, r.token, other.token)
    mute = redis.Redis.from_url(REDIS_URL).pubsub()  # receives, never confirms
    mute.subscribe(f"{prefix}:invalidate")
    assert mute.get_message(timeout=5)["type"] == "subscribe"
    try:
        with _acks_within(0.3), caplog.at_level(logging.WARNING, "authgate.session_cache"):
            started = time.monotonic()
            assert a.sign_out(other.token) is True
            took = time.monotonic() - started
        assert 0.3 <= took < 2
        assert "1 of 3 processes did not confirm" in caplog.text  # a, b confirmed; mute not
        refused(b, other.token)
    finally:
        mute.close()
    started = time.monotonic()
    assert a.sign_out(r.token) is True  # everyone confirms: no wait
    assert time.monotonic() - started < 0.3


# -- the subscription fails: the cache stops answering until it is back ---------------------------


@pytest.fixture
def private_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Auth, Auth]]:
    """Two "processes" on a private redis-server the test may kill, restart or pause."""
    with private_redis(tmp_path) as server:
        options: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'auth.db'}",
            "redis_url": server.url,
            "session_cache_ttl": 3600,
            **FAST_HASHING,
        }
        a = Auth(SECRET, **options)
        b = other_process(monkeypatch, **options)
        try:
            yield server, a, b
        finally:
            a.close()
            b.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_redis_down_suspends_the_cache_and_a_restart_resumes_it(
    private_pair: tuple[Any, Auth, Auth], caplog: pytest.LogCaptureFixture
) -> None:
    server, a, b = private_pair
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token and b._bus is not None
    cached(b, r.token)
    cache = b.ctx.session_cache
    assert cache is not None

    with caplog.at_level(logging.WARNING, logger="authgate.session_cache"):
        server.kill()
        wait_for(lambda: cache.suspended)  # noticed at once: the connection closed
        assert len(cache) == 0
        with pytest.raises(ServiceUnavailable):  # never from memory: from Redis, which is down
            b.get_session(r.token)
        assert len(cache) == 0

        server.start()
        subscribed(b)
        assert "cannot be received" in caplog.text
    wait_for(lambda: "received again" in caplog.text)
    refused(b, r.token)  # Redis restarted empty (no persistence): signed out, never from memory
    fresh = a.sign_in("alice@example.com", PASSWORD).token
    assert fresh
    cached(b, fresh)
    a.sign_out(fresh)
    forgotten(b, fresh)


def test_a_dropped_subscription_is_resubscribed_and_the_cache_starts_empty(
    private_pair: tuple[Any, Auth, Auth],
) -> None:
    server, a, b = private_pair
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token and b._bus is not None
    cached(b, r.token)
    cache = b.ctx.session_cache
    assert cache is not None
    epoch = cache.epoch
    admin = server.client()
    assert admin.client_kill_filter(_type="pubsub") == 1  # the server drops the subscriber
    admin.close()

    wait_for(lambda: cache.epoch >= epoch + 2)  # suspended, then resumed: empty in between
    assert cache.get(token_digest(r.token)) is None
    subscribed(b)
    cached(b, r.token)
    a.sign_out(r.token)
    forgotten(b, r.token)
    refused(b, r.token)


def test_a_silent_redis_is_noticed_by_the_heartbeat(
    private_pair: tuple[Any, Auth, Auth], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(authgate.session_bus, "HEARTBEAT", 0.1)
    monkeypatch.setattr(authgate.session_bus, "DEAD_AFTER", 0.2)
    server, a, b = private_pair
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token and b._bus is not None
    cached(b, r.token)
    cache = b.ctx.session_cache
    assert cache is not None

    server.pause()  # the connection stays open; nothing answers
    try:
        started = time.monotonic()
        wait_for(lambda: cache.suspended, timeout=5)
        assert time.monotonic() - started < 2
        assert cache.get(token_digest(r.token)) is None
    finally:
        server.unpause()
    subscribed(b)
    assert b.get_session(r.token).user.email == "alice@example.com"


# -- threads and connections ---------------------------------------------------------------------------


def _bus_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "authgate-session-bus"]


def test_close_stops_the_thread_and_releases_the_connections(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        admin = server.client()
        before = len(admin.client_list())
        auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'a.db'}", redis_url=server.url,
                    **FAST_HASHING)  # fmt: skip
        threads = len(_bus_threads())
        r = auth.sign_up("alice@example.com", PASSWORD)
        assert r.token
        auth.get_session(r.token)
        subscribed(auth)
        assert len(_bus_threads()) == threads + 1
        assert len(admin.client_list()) > before

        auth.close()

        wait_for(lambda: len(_bus_threads()) == threads, timeout=5)
        wait_for(lambda: len(admin.client_list()) == before, timeout=5)
        admin.close()


def test_an_auth_that_is_dropped_stops_its_thread(tmp_path: Path, prefix: str) -> None:
    threads = len(_bus_threads())
    auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'a.db'}", redis_url=REDIS_URL,
                redis_prefix=prefix, **FAST_HASHING)  # fmt: skip
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert r.token
    cached(auth, r.token)
    assert len(_bus_threads()) == threads + 1
    bus, store = auth._bus, auth.store
    del auth, r
    gc.collect()
    assert bus is not None and bus._closed
    wait_for(lambda: len(_bus_threads()) == threads, timeout=5)
    store.close()


def test_a_forked_child_starts_its_own_subscription(pair: Pair) -> None:
    """gunicorn --preload: an Auth made (and used) before the fork (POSIX, as gunicorn)."""
    a, _ = pair()
    r = a.sign_up("alice@example.com", PASSWORD)
    assert r.token and a._bus is not None
    cached(a, r.token)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any cleanup
        ok = False
        try:
            cache = a.ctx.session_cache
            assert cache is not None and a._bus is not None
            inherited = cache.suspended and len(cache) == 0 and a._bus._thread is None
            a.get_session(r.token)  # starts the child's own subscriber
            ok = inherited and a._bus.subscribed.wait(10) and not cache.suspended
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert a.get_session(r.token)  # the parent's own subscription is untouched
    assert a._bus.subscribed.is_set()


def test_an_unexpected_error_in_the_subscriber_never_leaves_the_cache_on(
    pair: Pair, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair()
    r = a.sign_up("alice@example.com", PASSWORD)
    other = a.sign_in("alice@example.com", PASSWORD)
    assert r.token and other.token and b._bus is not None
    cached(b, r.token, other.token)
    failures: list[str] = []

    def broken(message: str) -> None:
        failures.append(message)
        raise RuntimeError("a bug")

    monkeypatch.setattr(b._bus._group, "receive", broken)
    with _acks_within(0.3), caplog.at_level(logging.WARNING, "authgate.session_cache"):
        assert a.sign_out(other.token) is True  # b cannot apply it, nor confirm it
        refused(b, other.token)  # but its cache was dropped, not left on
        assert failures and "RuntimeError" in caplog.text
        monkeypatch.undo()
        subscribed(b)  # and it subscribes again
    cached(b, r.token)
    a.sign_out(r.token)
    refused(b, r.token)
