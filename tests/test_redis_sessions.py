"""Sessions in Redis (``redis_url``): the allowlist, its keys, its TTLs, its failures.

The store contract runs on Redis sessions too (``store`` fixture, backend
``redis``); these are the Redis-specific guarantees. Tests on the shared Redis
use database 15 and a key prefix of their own; tests that need Redis to fail
start a private ``redis-server`` (:mod:`tests.redis_server`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import (
    AccountDisabled,
    InvalidToken,
    RateLimited,
    ServiceUnavailable,
    UserNotFound,
    ValidationError,
)
from authgate.models import SessionRecord, new_stamp, utcnow
from authgate.settings import Settings
from authgate.tokens import token_digest

from .conftest import REDIS_URL, redis_client, redis_prefix
from .core.conftest import FAST_HASHING, PASSWORD, SECRET, Clock
from .redis_server import private_redis

pytestmark = pytest.mark.redis

MakeAuth = Callable[..., Auth]


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as name:
        yield name


@pytest.fixture
def raw() -> Iterator[Any]:
    """A plain client of the shared Redis (database 15), replies as text."""
    redis_client().close()  # skips, or fails under CI=true, when Redis is down
    import redis

    text = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield text
    text.close()


@pytest.fixture
def make_auth(tmp_path: Path, prefix: str) -> Iterator[MakeAuth]:
    """``make_auth(**settings)``: an ``Auth`` on a SQLite file with sessions in Redis."""
    made: list[Auth] = []

    def factory(**settings: Any) -> Auth:
        options: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'auth.db'}",
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            **FAST_HASHING,
            **settings,
        }
        auth = Auth(SECRET, **options)
        made.append(auth)
        return auth

    yield factory
    for auth in made:
        auth.close()


def keys_of(raw: Any, prefix: str) -> set[str]:
    return set(raw.scan_iter(match=f"{prefix}:*", count=1000))


# -- where sessions live ------------------------------------------------------------------------


def test_sessions_live_in_redis_by_digest_under_the_prefix(
    make_auth: MakeAuth, raw: Any, prefix: str
) -> None:
    auth = make_auth()
    r = auth.sign_up("alice@example.com", PASSWORD, ip="203.0.113.9", user_agent="UA/1")
    assert r.token and r.session
    digest = token_digest(r.token)
    user_id = str(r.user.id)

    assert keys_of(raw, prefix) == {
        f"{prefix}:session:{digest}",
        f"{prefix}:sid:{r.session.id}",
        f"{prefix}:user:{user_id}",
    }
    record = raw.hgetall(f"{prefix}:session:{digest}")
    assert record["user_id"] == user_id and record["security_stamp"] == r.user.security_stamp
    assert (record["ip"], record["user_agent"], record["remember"]) == ("203.0.113.9", "UA/1", "0")
    assert {"created_at", "last_seen_at", "expires_at", "authenticated_at", "data"} <= set(record)
    # The token itself is nowhere in Redis, and nothing in the SQL sessions table.
    everything = [*keys_of(raw, prefix), *record.values(), raw.get(f"{prefix}:sid:{r.session.id}")]
    assert not any(r.token in value for value in everything)
    import sqlalchemy as sa

    with auth.store.engine.connect() as connection:  # type: ignore[attr-defined]
        assert connection.execute(sa.text("SELECT count(*) FROM authgate_sessions")).scalar() == 0
    # Everything a session record has comes back.
    info = auth.get_session(r.token)
    assert (info.id, info.ip, info.user_agent, info.remember) == (
        r.session.id, "203.0.113.9", "UA/1", False,
    )  # fmt: skip


def test_unrelated_keys_never_authenticate(make_auth: MakeAuth, raw: Any, prefix: str) -> None:
    """SECURITY #50 (fastapi-users #1043): lookups are by digest under the prefix, never raw."""
    auth = make_auth()
    r = auth.sign_up("victim@example.com", PASSWORD)
    assert r.token and r.session
    victim = str(r.user.id)
    digest = token_digest(r.token)
    raw.set("cache:x", victim)
    raw.set("x", victim)
    try:
        for probe in (
            "cache:x", "x", victim, digest, r.session.id,
            f"{prefix}:session:{digest}", f"session:{digest}", f"{prefix}:sid:{r.session.id}",
            f"{prefix}:user:{victim}", "*", f"{prefix}:*",
        ):  # fmt: skip
            with pytest.raises(InvalidToken):
                auth.get_session(probe)
            assert auth.verify_token(probe) is None
    finally:
        raw.delete("cache:x", "x")
    assert auth.get_session(r.token).user.email == "victim@example.com"


# -- allowlist: a flush signs out, nothing brings a revoked session back -------------------------


def test_a_flush_signs_everyone_out_and_never_revives_a_revoked_session(
    make_auth: MakeAuth, raw: Any, prefix: str
) -> None:
    auth = make_auth(session_cache_ttl=0)
    auth.sign_up("alice@example.com", PASSWORD)
    kept = auth.sign_in("alice@example.com", PASSWORD).token
    revoked = auth.sign_in("alice@example.com", PASSWORD).token
    assert auth.sign_out(revoked) is True

    raw.delete(*keys_of(raw, prefix))  # FLUSHDB, limited to this test's keys

    for token in (kept, revoked):
        with pytest.raises(InvalidToken):
            auth.get_session(token)
    assert auth.sign_in("alice@example.com", PASSWORD).token  # signing in again works


@pytest.mark.parametrize("persistent", [False, True], ids=["no persistence", "append-only file"])
def test_a_restart_never_brings_a_revoked_session_back(tmp_path: Path, persistent: bool) -> None:
    with private_redis(tmp_path, persistent=persistent) as server:
        auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'a.db'}", redis_url=server.url,
                    session_cache_ttl=0, **FAST_HASHING)  # fmt: skip
        try:
            auth.sign_up("alice@example.com", PASSWORD)
            kept = auth.sign_in("alice@example.com", PASSWORD).token
            revoked = auth.sign_in("alice@example.com", PASSWORD).token
            assert auth.sign_out(revoked) is True

            server.kill()
            for token in (kept, revoked):  # down: fail closed, never authenticate
                with pytest.raises(ServiceUnavailable) as info:
                    auth.get_session(token)
                assert str(server.port) not in info.value.message
                with pytest.raises(ServiceUnavailable):
                    auth.verify_token(token)
            server.start()

            with pytest.raises(InvalidToken):
                auth.get_session(revoked)
            if persistent:
                assert auth.get_session(kept).user.email == "alice@example.com"
            else:
                with pytest.raises(InvalidToken):
                    auth.get_session(kept)
        finally:
            auth.close()


# -- TTLs ---------------------------------------------------------------------------------------


def test_each_key_lives_until_the_session_s_absolute_expiry(
    make_auth: MakeAuth, raw: Any, prefix: str
) -> None:
    clock = Clock()  # 2026-01-01: the TTL is reckoned from the app's clock, not Redis's
    auth = make_auth(clock=clock, session_lifetime=3600, remember_lifetime=7200)
    r = auth.sign_up("alice@example.com", PASSWORD)
    remembered = auth.sign_in("alice@example.com", PASSWORD, remember=True)
    assert r.token and r.session and remembered.token and remembered.session

    def ttl(key: str) -> float:
        return float(raw.pttl(key)) / 1000

    assert 3590 < ttl(f"{prefix}:session:{token_digest(r.token)}") <= 3600
    assert 3590 < ttl(f"{prefix}:sid:{r.session.id}") <= 3600
    assert 7190 < ttl(f"{prefix}:session:{token_digest(remembered.token)}") <= 7200
    assert 7190 < ttl(f"{prefix}:user:{r.user.id}") <= 7200  # as long as the longest session

    # An already expired record is not kept at all.
    store = auth.store
    past = clock() - dt.timedelta(hours=2)
    record = SessionRecord(id="old", token_hash="d" * 64, user_id=str(r.user.id), created_at=past,
                           last_seen_at=past, expires_at=past + dt.timedelta(hours=1),
                           authenticated_at=past, security_stamp=r.user.security_stamp)  # fmt: skip
    store.create_session(record)
    assert store.get_session("d" * 64) is None
    assert not raw.exists(f"{prefix}:sid:old")


def test_a_session_whose_key_expired_is_gone_from_the_index(
    make_auth: MakeAuth, raw: Any, prefix: str
) -> None:
    auth = make_auth(session_cache_ttl=0)
    user = auth.sign_up("alice@example.com", PASSWORD).user
    first = auth.sign_in("alice@example.com", PASSWORD)
    assert first.token and first.session
    raw.delete(f"{prefix}:session:{token_digest(first.token)}")  # expired (or evicted)

    assert first.session.id not in [s.id for s in auth.list_sessions(user)]
    assert first.session.id not in raw.zrange(f"{prefix}:user:{user.id}", 0, -1)
    with pytest.raises(InvalidToken):
        auth.get_session(first.token)


# -- the per-user index -------------------------------------------------------------------------


def test_the_user_index_follows_every_change(make_auth: MakeAuth, raw: Any, prefix: str) -> None:
    auth = make_auth()
    alice = auth.sign_up("alice@example.com", PASSWORD)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    sessions = [auth.sign_in("alice@example.com", PASSWORD) for _ in range(3)]
    index = f"{prefix}:user:{alice.user.id}"

    def indexed() -> list[str]:
        return list(reversed(raw.zrange(index, 0, -1)))  # newest first

    listed = [s.id for s in auth.list_sessions(alice.user)]
    assert listed == indexed() and len(listed) == 4
    assert listed[0] == sessions[-1].session.id  # type: ignore[union-attr]

    auth.revoke_session(alice.user, sessions[0].session.id)  # type: ignore[union-attr]
    with pytest.raises(ValidationError):  # not hers
        auth.revoke_session(alice.user, bob.session.id)  # type: ignore[union-attr]
    assert [s.id for s in auth.list_sessions(alice.user)] == indexed() and len(indexed()) == 3
    assert auth.revoke_other_sessions(alice.user, sessions[1].token) == 2  # type: ignore[arg-type]
    assert indexed() == [sessions[1].session.id]  # type: ignore[union-attr]
    assert auth.sign_out(sessions[1].token) is True  # type: ignore[arg-type]
    assert not raw.exists(index) or indexed() == []
    # Bob's session never moved.
    assert auth.get_session(bob.token).user.email == "bob@example.com"  # type: ignore[arg-type]


def test_update_session_moves_what_it_changes(make_auth: MakeAuth, raw: Any, prefix: str) -> None:
    auth = make_auth()
    alice = auth.sign_up("alice@example.com", PASSWORD).user
    bob = auth.sign_up("bob@example.com", PASSWORD).user
    store = auth.store
    now = utcnow()
    record = SessionRecord(id="s1", token_hash="a" * 64, user_id=str(alice.id), created_at=now,
                           last_seen_at=now, expires_at=now + dt.timedelta(hours=1),
                           authenticated_at=now, security_stamp=alice.security_stamp,
                           data={"step": 1})  # fmt: skip
    store.create_session(record)

    later = now + dt.timedelta(minutes=5)
    assert store.update_session("s1", {"authenticated_at": later, "data": {"step": 2}, "ip": "::1"})
    assert store.update_session("s1", {"token_hash": "b" * 64})  # a rotated token
    assert store.get_session("a" * 64) is None
    found = store.get_session("b" * 64)
    assert found is not None
    moved = found[0]
    assert (moved.authenticated_at, moved.data, moved.ip, moved.created_at) == (
        later, {"step": 2}, "::1", now,
    )  # fmt: skip
    assert raw.get(f"{prefix}:sid:s1") == "b" * 64
    assert store.update_session("s1", {"ip": None})
    assert store.get_session("b" * 64)[0].ip is None  # type: ignore[index]

    assert store.update_session("s1", {"user_id": bob.id})  # the index follows the owner
    assert "s1" not in [s.id for s in store.list_sessions(alice.id)]
    assert "s1" in [s.id for s in store.list_sessions(bob.id)]
    assert "s1" in raw.zrange(f"{prefix}:user:{bob.id}", 0, -1)

    assert store.update_session("s1", {"expires_at": now - dt.timedelta(seconds=1)})
    assert store.get_session("b" * 64) is None and not raw.exists(f"{prefix}:sid:s1")
    assert store.update_session("s1", {"ip": "x"}) is False
    with pytest.raises(ValidationError) as info:
        store.update_session("s1", {"id": "other", "colour": "red"})
    assert info.value.fields == {"id": "unknown_field", "colour": "unknown_field"}


# -- revocation that does not depend on Redis ------------------------------------------------------


def test_the_stamp_ends_sessions_that_redis_still_holds(
    make_auth: MakeAuth, raw: Any, prefix: str
) -> None:
    """R7: a credential change whose Redis delete never happened (a crash in between)."""
    auth = make_auth(session_cache_ttl=0)
    r = auth.sign_up("alice@example.com", PASSWORD)
    other = auth.sign_up("bob@example.com", PASSWORD)
    assert r.token and other.token
    main = auth.store.main  # type: ignore[attr-defined]  # the database alone: Redis is not told
    main.update_user(r.user.id, {"password_hash": "changed", "security_stamp": new_stamp()})
    main.update_user(other.user.id, {"is_active": False})

    assert raw.exists(f"{prefix}:session:{token_digest(r.token)}")
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)
    with pytest.raises(AccountDisabled):
        auth.get_session(other.token)


def test_every_way_of_deleting_a_user_deletes_their_redis_sessions(
    make_auth: MakeAuth, raw: Any, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from authgate.cli import cli

    auth = make_auth()
    first = auth.sign_up("alice@example.com", PASSWORD)
    second = auth.sign_up("bob@example.com", PASSWORD)
    assert first.token and second.token
    auth.sign_in("bob@example.com", PASSWORD)

    auth.users.delete_user("alice@example.com")
    assert not any(str(first.user.id) in key or key.endswith(first.session.id)  # type: ignore[union-attr]
                   for key in keys_of(raw, prefix))  # fmt: skip
    with pytest.raises(UserNotFound):  # the tombstone stays in the database
        auth.get_session(first.token)

    for key in list(os.environ):
        if key.startswith("AUTHGATE_"):
            monkeypatch.delenv(key)
    result = CliRunner().invoke(
        cli,
        ["--database-url", f"sqlite:///{tmp_path / 'auth.db'}", "users", "delete",
         "bob@example.com", "--yes"],
        env={"AUTHGATE_REDIS_URL": REDIS_URL, "AUTHGATE_REDIS_PREFIX": prefix,
             "AUTHGATE_SECRET": SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert keys_of(raw, prefix) == set()
    with pytest.raises(UserNotFound):
        auth.get_session(second.token)


# -- Redis down -----------------------------------------------------------------------------------


def test_redis_down_fails_closed(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'a.db'}", redis_url=server.url,
                    **FAST_HASHING)  # fmt: skip
        try:
            token = auth.sign_up("alice@example.com", PASSWORD).token
            assert token is not None
            auth.get_session(token)  # in the cache once subscribed; gone when Redis goes
            server.kill()
            for call in (
                lambda: auth.get_session(token),
                lambda: auth.verify_token(token),
                lambda: auth.sign_in("alice@example.com", PASSWORD),  # throttling fails closed
                lambda: auth.sign_out(token),
            ):
                with pytest.raises(ServiceUnavailable) as info:
                    call()
                assert info.value.status == 503
                assert "127.0.0.1" not in info.value.message
                assert str(server.port) not in info.value.message
        finally:
            auth.close()


# -- throttling on the same Redis -------------------------------------------------------------------


def test_throttling_counts_in_the_same_redis_unless_told_otherwise(
    make_auth: MakeAuth, raw: Any, prefix: str, tmp_path: Path
) -> None:
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    first = make_auth(sign_in_max_failures=2)  # two processes over one database
    second = make_auth(sign_in_max_failures=2)
    first.sign_up(email, PASSWORD)
    for auth in (first, second):
        with pytest.raises(Exception, match="credentials"):
            auth.sign_in(email, "wrong password!")
    with pytest.raises(RateLimited):  # the two "processes" share the counter
        second.sign_in(email, PASSWORD)
    assert any(key.startswith(f"{prefix}:limits") for key in keys_of(raw, prefix))

    local = make_auth(sign_in_max_failures=2, rate_limit_storage="memory://",
                      database_url=f"sqlite:///{tmp_path / 'c.db'}")  # fmt: skip
    local.sign_up(email, PASSWORD)
    assert local.sign_in(email, PASSWORD).token  # its own counter


# -- configuration ------------------------------------------------------------------------------------


def test_settings_and_their_errors() -> None:
    assert Settings(secret=SECRET).redis_url is None
    assert Settings(secret=SECRET).rate_limit_storage is None
    env = {"AUTHGATE_REDIS_URL": "rediss://cache:6380/2", "AUTHGATE_REDIS_PREFIX": "shop"}
    settings = Settings.from_mapping(env, secret=SECRET)
    assert (settings.redis_url, settings.redis_prefix) == ("rediss://cache:6380/2", "shop")
    with pytest.raises(ValueError, match="redis_url") as info:
        Settings(secret=SECRET, redis_url="http://user:hunter2@cache:6379")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="redis_prefix"):
        Settings(secret=SECRET, redis_prefix="two words")
    with pytest.raises(TypeError, match="redis_url"):
        Auth(SECRET, redis_ulr="redis://x")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    with pytest.raises(TypeError, match="either redis_url or redis"):
        Auth(SECRET, redis=client, redis_url=REDIS_URL)
    client.close()


def test_without_the_redis_package_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n == "redis" or n.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # "not installed"
    monkeypatch.delitem(sys.modules, "authgate.stores.redis", raising=False)
    with pytest.raises(ImportError, match=r'pip install "authgate\[redis\]"'):
        importlib.import_module("authgate.stores.redis")
    with pytest.raises(ImportError, match=r'pip install "authgate\[redis\]"'):
        Auth(SECRET, redis_url=REDIS_URL, **FAST_HASHING)


def test_a_client_of_your_own_replying_in_bytes(prefix: str, tmp_path: Path) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)  # decode_responses=False
    auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'a.db'}", redis=client,
                redis_prefix=prefix, **FAST_HASHING)  # fmt: skip
    try:
        r = auth.sign_up("alice@example.com", PASSWORD, ip="192.0.2.1")
        assert r.token
        assert auth.get_session(r.token).ip == "192.0.2.1"
        assert [s.ip for s in auth.list_sessions(r.user)] == ["192.0.2.1"]
        assert auth.sign_out(r.token) is True
        with pytest.raises(InvalidToken):
            auth.get_session(r.token)
    finally:
        auth.close()
    assert client.ping()  # yours: Auth.close() leaves it open
    client.close()
