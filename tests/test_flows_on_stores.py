"""The core flows on every storage backend (memory, SQLite, PostgreSQL, MariaDB).

The store contract suite checks the stores one method at a time; these tests
check that the flows built on them keep their guarantees end to end: one
account per canonical email under concurrency, revocation through the
security stamp, rehash without reverting a concurrent change, throttling
under parallel guessing, and a clean 503 when the database is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import (
    AuthError,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    ServiceUnavailable,
    UserExists,
)

from .core.conftest import FAST_HASHING, PASSWORD, SECRET

NEW_PASSWORD = "new staple battery horse"


@pytest.fixture
def make_auth(store: Any) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        return Auth(SECRET, store=store, **{**FAST_HASHING, **settings})

    return factory


def test_sign_up_sign_in_session_sign_out(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    r = auth.sign_up("Alice@Example.com", PASSWORD)
    assert auth.get_session(r.token).user.email == "Alice@example.com"
    r2 = auth.sign_in("alice@EXAMPLE.com", PASSWORD, ip="192.0.2.1", user_agent="UA")
    info = auth.get_session(r2.token)
    assert (info.ip, info.user_agent) == ("192.0.2.1", "UA")
    assert info.user.sign_in_count == 1
    assert auth.sign_out(r2.token) is True
    assert auth.verify_token(r2.token) is None
    assert auth.verify_token(r.token) is not None
    with pytest.raises(UserExists):
        auth.sign_up("ALICE@example.com", PASSWORD)


def test_concurrent_sign_ups_make_one_account(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    variants = ["race@example.com", "RACE@example.com", "Race@Example.com", "ｒａｃｅ@example.com"]
    barrier = threading.Barrier(12)

    def attempt(n: int) -> str:
        barrier.wait()
        try:
            auth.sign_up(variants[n % len(variants)], PASSWORD)
        except UserExists:
            return "exists"
        return "created"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("created") == 1
    assert outcomes.count("exists") == 11
    assert auth.users.find_user(email="race@example.com") is not None
    assert auth.users.count_users() == 1


def test_confirmable_concurrent_duplicates_all_look_new(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(confirmable=True)
    barrier = threading.Barrier(8)

    def attempt(_: int) -> Any:
        barrier.wait()
        return auth.sign_up("twin@example.com", PASSWORD).to_dict()

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(attempt, range(8)))
    assert all(body["token"] is None and body["user"]["email"] == "twin@example.com" for body in bodies)
    assert auth.users.count_users() == 1


def test_password_change_revokes_through_the_stamp(
    make_auth: Callable[..., Auth], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = make_auth()
    keep = auth.sign_up("alice@example.com", PASSWORD)
    other = auth.sign_in("alice@example.com", PASSWORD)
    auth.get_session(other.token)  # answered from memory from now on
    # Simulate a crash right after the credential write: session rows are not deleted,
    # yet the old sessions must be dead because the stamp rotated in the same write.
    # (The store outlives the test: the patch must not.)
    monkeypatch.setattr(auth.store, "delete_user_sessions", lambda *a, **k: 0)
    auth.change_password(keep.user, PASSWORD, NEW_PASSWORD, current_token=keep.token)
    with pytest.raises(InvalidToken):
        auth.get_session(other.token)
    assert auth.get_session(keep.token).user.email == "alice@example.com"


def test_deactivation_and_deletion(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.users.deactivate_user("alice@example.com")
    assert auth.verify_token(r.token) is None
    auth.users.activate_user("alice@example.com")
    r = auth.sign_in("alice@example.com", PASSWORD)
    auth.users.delete_user("alice@example.com")
    assert auth.verify_token(r.token) is None
    assert auth.users.get_user("alice@example.com") is None


def test_rehash_never_reverts_a_concurrent_password_change(make_auth: Callable[..., Auth]) -> None:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    auth = make_auth()
    legacy = PBKDF2PasswordHasher().encode(PASSWORD, "seasalt1234", iterations=1000)
    auth.users.create_user(email="old@example.com", password_hash=legacy)
    real_verify = auth.ctx.hasher.verify

    def verify_then_race(password: str, stored: str | None) -> tuple[bool, str | None]:
        result = real_verify(password, stored)
        # another request resets the password between the check and the rehash write
        auth.users.set_password("old@example.com", NEW_PASSWORD)
        return result

    auth.ctx.hasher.verify = verify_then_race  # type: ignore[method-assign]
    with pytest.raises(InvalidCredentials):  # the password it proved is no longer the account's
        auth.sign_in("old@example.com", PASSWORD)
    auth.ctx.hasher.verify = real_verify  # type: ignore[method-assign]
    with pytest.raises(InvalidCredentials):
        auth.sign_in("old@example.com", PASSWORD)
    assert auth.sign_in("old@example.com", NEW_PASSWORD).token


def test_parallel_guessing_cannot_race_past_the_limit(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(sign_in_max_failures=5)
    auth.sign_up("victim@example.com", PASSWORD)
    barrier = threading.Barrier(20)

    def guess(n: int) -> str:
        barrier.wait()
        try:
            auth.sign_in("victim@example.com", f"wrong guess {n}", ip=f"10.0.0.{n}")
        except AuthError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(guess, range(20)))
    assert codes.count("INVALID_CREDENTIALS") == 5
    assert codes.count("RATE_LIMITED") == 15
    with pytest.raises(RateLimited):
        auth.sign_in("victim@example.com", PASSWORD)


def test_session_lookup_is_one_indexed_query(sql_store: Any) -> None:
    """get_session reads the session, user and roles with one statement and writes nothing."""
    from sqlalchemy import event

    auth = Auth(SECRET, store=sql_store, **FAST_HASHING)
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.users.add_role_to_user(r.user, "admin")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = sql_store.engine
    real_raw_connection = engine.raw_connection

    class CountingCursor:
        def __init__(self, cursor: Any) -> None:
            self._cursor = cursor

        def execute(self, statement: str, *args: Any) -> Any:
            statements.append(statement)
            return self._cursor.execute(statement, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._cursor, name)

    class CountingConnection:
        def __init__(self, connection: Any) -> None:
            self._connection = connection

        def cursor(self, *args: Any) -> CountingCursor:
            return CountingCursor(self._connection.cursor(*args))

        def __getattr__(self, name: str) -> Any:
            return getattr(self._connection, name)

    event.listen(engine, "before_cursor_execute", count)
    engine.raw_connection = lambda: CountingConnection(real_raw_connection())
    try:
        info = auth.get_session(r.token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        del engine.raw_connection
    assert info.user.role_names == ["admin"]
    assert len(statements) == 1, statements
    assert "token_hash" in statements[0] and statements[0].lstrip().upper().startswith("SELECT")


def test_database_down_is_a_clean_503() -> None:
    with pytest.raises(ServiceUnavailable) as info:
        Auth(SECRET, database_url="postgresql+psycopg://postgres:hunter2@127.0.0.1:1/x?connect_timeout=2",
             **FAST_HASHING)  # fmt: skip
    text = repr(info.value.to_dict()) + str(info.value)
    assert info.value.status == 503
    for leak in ("127.0.0.1", "hunter2", "psycopg", "postgres", "connection"):
        assert leak not in text.lower()


def _links_of(outbox: Any, kind: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    from authgate.testing import links

    return parse_qs(urlsplit(links(outbox.last(kind))[0]).query)["token"][0]


@pytest.mark.parametrize("flow", ["confirm_email", "login_link", "reset_password"])
def test_concurrent_link_redemptions_have_one_winner(make_auth: Callable[..., Auth], flow: str) -> None:
    from authgate.testing import OutboxMailer

    outbox = OutboxMailer()
    auth = make_auth(send_email=outbox, confirmable=True, passwordless=True,
                     login_without_confirmation=True)  # fmt: skip
    auth.sign_up("alice@example.com", PASSWORD)
    if flow == "login_link":
        auth.users.confirm_user("alice@example.com")
        auth.send_login_link("alice@example.com")
    elif flow == "reset_password":
        auth.forgot_password("alice@example.com")
    token = _links_of(outbox, flow)
    redeem = {
        "confirm_email": lambda: auth.confirm_email(token),
        "login_link": lambda: auth.sign_in_with_link(token),
        "reset_password": lambda: auth.reset_password(token, NEW_PASSWORD),
    }[flow]
    barrier = threading.Barrier(10)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            redeem()
        except AuthError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(10)))
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("INVALID_TOKEN") == 9, outcomes


def test_deleted_user_is_user_not_found_on_every_store(make_auth: Callable[..., Auth]) -> None:
    from authgate.errors import UserNotFound

    auth = make_auth()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.users.delete_user(r.user)
    with pytest.raises(UserNotFound):
        auth.get_session(r.token)
    assert auth.verify_token(r.token) is None
    assert auth.store.is_claimed("no-such-claim") is False


# -- the session cache: every change made through authgate is seen at once ----------------------
#
# Each case warms the cache with two sessions of one user (both answered from
# memory afterwards), changes something through authgate, and checks the very
# next lookup. A cache that missed one write path would answer from memory.


def _cached(auth: Auth, *tokens: str) -> None:
    from authgate.tokens import token_digest

    for token in tokens:
        auth.get_session(token)
    cache = auth.ctx.session_cache
    assert cache is not None
    assert all(cache.get(token_digest(token)) is not None for token in tokens)


def _dead(auth: Auth, token: str) -> None:
    with pytest.raises(AuthError) as info:
        auth.get_session(token)
    assert info.value.code in {"INVALID_TOKEN", "ACCOUNT_DISABLED", "USER_NOT_FOUND"}
    assert auth.verify_token(token) is None


def _roles(auth: Auth, token: str) -> list[str]:
    return list(auth.get_session(token).user.role_names)


@pytest.mark.parametrize(
    "change",
    [
        "sign_out", "revoke_session", "revoke_other_sessions", "change_password",
        "reset_password", "deactivate", "delete_user", "add_role", "remove_role",
        "delete_role", "grant_permission", "change_username", "change_email",
        "make_primary_email", "set_password",
    ],
)  # fmt: skip
def test_cached_sessions_see_every_change_at_once(
    make_auth: Callable[..., Auth], change: str
) -> None:
    from authgate import authz
    from authgate.testing import OutboxMailer

    outbox = OutboxMailer()
    auth = make_auth(send_email=outbox, usernames=True, multiple_emails=True)
    first = auth.sign_up("alice@example.com", PASSWORD, username="alice")
    second = auth.sign_in("alice@example.com", PASSWORD)
    assert first.token and second.token and second.session
    auth.users.add_role_to_user("alice@example.com", "editor")
    _cached(auth, first.token, second.token)
    user = auth.users.get_user("alice@example.com")
    survivor: str | None = first.token
    if change == "sign_out":
        assert auth.sign_out(second.token) is True
    elif change == "revoke_session":
        auth.revoke_session(user, second.session.id)
    elif change == "revoke_other_sessions":
        assert auth.revoke_other_sessions(user, first.token) == 1
    elif change == "change_password":
        auth.change_password(user, PASSWORD, NEW_PASSWORD, current_token=first.token)
    elif change == "reset_password":
        auth.forgot_password("alice@example.com")
        auth.reset_password(_links_of(outbox, "reset_password"), NEW_PASSWORD)
        survivor = None
    elif change == "set_password":
        auth.users.set_password("alice@example.com", NEW_PASSWORD)
        survivor = None
    elif change == "deactivate":
        auth.users.deactivate_user("alice@example.com")
        survivor = None
    elif change == "delete_user":
        auth.users.delete_user("alice@example.com")
        survivor = None
    elif change == "change_email":
        auth.change_email(user, "alice@new.example.com", PASSWORD)
        auth.confirm_email(_links_of(outbox, "email_change_confirm"))
        survivor = None
    elif change == "make_primary_email":
        auth.add_email(user, "alice@second.example.com", PASSWORD)
        auth.confirm_email(_links_of(outbox, "email_add_confirm"))
        (extra,) = [e for e in auth.list_emails(user) if not e["primary"]]
        auth.make_primary_email(user, extra["id"], PASSWORD)
        survivor = None
    else:  # changes that leave the sessions alive but change what they answer
        if change == "add_role":
            auth.users.add_role_to_user(user, "admin")
            assert _roles(auth, first.token) == _roles(auth, second.token) == ["admin", "editor"]
        elif change == "remove_role":
            auth.users.remove_role_from_user(user, "editor")
            assert _roles(auth, first.token) == _roles(auth, second.token) == []
        elif change == "delete_role":
            auth.users.delete_role("editor")
            assert _roles(auth, first.token) == _roles(auth, second.token) == []
        elif change == "grant_permission":
            auth.users.add_permissions_to_role("editor", "post.edit")
            assert authz.has_all_permissions(auth.get_session(second.token).user, "post.edit")
        elif change == "change_username":
            auth.change_username(user, "alice2", PASSWORD)
            assert auth.get_session(second.token).user.username == "alice2"
        return
    _dead(auth, second.token)
    if survivor is None:
        _dead(auth, first.token)
    else:
        assert auth.get_session(survivor).user.email == "alice@example.com"


def test_another_process_s_changes_are_seen_within_the_ttl(
    make_auth: Callable[..., Auth], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes authgate does not make (another process, the app's own SQL) wait for the ttl.

    Calling the store object directly stands for them: it bypasses authgate's
    flows, as a write from another process does.
    """
    import authgate.session_cache
    from authgate.models import new_stamp

    ticks = [1000.0]
    monkeypatch.setattr(authgate.session_cache.time, "monotonic", lambda: ticks[0])
    auth = make_auth(session_cache_ttl=2)
    r = auth.sign_up("alice@example.com", PASSWORD)
    _cached(auth, r.token)
    auth.store.update_user(r.user.id, {"is_active": False, "security_stamp": new_stamp()})
    ticks[0] += 1.9
    assert auth.get_session(r.token).user.email == "alice@example.com"  # within the ttl
    ticks[0] += 0.2
    _dead(auth, r.token)
    # Without the cache, such a change is seen at once.
    uncached = make_auth(session_cache_ttl=0)
    auth.users.activate_user("alice@example.com")
    r = uncached.sign_in("alice@example.com", PASSWORD)
    uncached.get_session(r.token)
    uncached.store.update_user(r.user.id, {"is_active": False, "security_stamp": new_stamp()})
    _dead(uncached, r.token)


def test_every_auth_of_the_process_over_one_database_is_coherent(sql_store: Any) -> None:
    """A second ``Auth`` (an in-process CLI command, a script) is seen at once, cache or not."""
    app = Auth(SECRET, store=sql_store, **FAST_HASHING)
    url = sql_store.engine.url.render_as_string(hide_password=False)
    other = Auth(SECRET, database_url=url, **FAST_HASHING)  # its own engine and store
    no_cache = Auth(SECRET, database_url=url, session_cache_ttl=0, **FAST_HASHING)
    try:
        r = app.sign_up("alice@example.com", PASSWORD)
        app.users.add_role_to_user("alice@example.com", "editor")
        _cached(app, r.token)
        _cached(other, r.token)
        no_cache.users.remove_role_from_user("alice@example.com", "editor")
        assert _roles(app, r.token) == _roles(other, r.token) == []
        other.users.deactivate_user("alice@example.com")
        _dead(app, r.token)
    finally:
        other.store.close()
        no_cache.store.close()
