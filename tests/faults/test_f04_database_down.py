"""F4 — the database is down when a request starts (SECURITY.md §5.2, R9).

The server is cut at a TCP proxy (new connections refused, pooled ones
reset): sign-up, sign-in, forgot-password and a session check answer a clean
``503 SERVICE_UNAVAILABLE`` with ``Retry-After``, name nothing of the backend,
and log exactly one error line whose reference the body repeats. Once the
proxy is back, the same requests work and the tables hold exactly the rows of
the successful requests. SQLite's "database is locked" is the same 503.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import ServiceUnavailable

from ..core.conftest import PASSWORD
from ..web.test_http_contract import bearer
from .checks import assert_logged_once, assert_no_leak, assert_unavailable
from .conftest import Database

pytestmark = pytest.mark.slow


def test_f4_database_down_http(
    server_db: Database, make_http: Callable[..., Any], errors_logged: pytest.LogCaptureFixture
) -> None:
    client = make_http(database_url=server_db.url, session_cache_ttl=0)
    r = client.post(
        "/auth/sign-up/email", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert r.status == 200
    token = r.json()["token"]
    assert server_db.proxy is not None
    port = str(server_db.proxy.port)
    requests: list[tuple[str, str, Any, dict[str, str]]] = [
        ("POST", "/auth/sign-up/email", {"email": "bob@example.com", "password": PASSWORD}, {}),
        ("POST", "/auth/sign-in/email", {"email": "alice@example.com", "password": PASSWORD}, {}),
        ("POST", "/auth/forgot-password", {"email": "alice@example.com"}, {}),
        ("GET", "/auth/session", None, bearer(token)),
    ]
    errors_logged.clear()
    with server_db.proxy.down():
        for method, path, body, headers in requests:
            kwargs: dict[str, Any] = {"headers": headers, "cookies": False}
            if body is not None:
                kwargs["json"] = body
            assert_unavailable(client.request(method, path, **kwargs), errors_logged, port)
    # Back up: the same requests work, and nothing was half-written meanwhile.
    for method, path, body, headers in requests:
        kwargs = {"headers": headers, "cookies": False}
        if body is not None:
            kwargs["json"] = body
        assert client.request(method, path, **kwargs).status == 200, path
    assert server_db.count("authgate_users") == 2
    assert server_db.count("authgate_sessions") == 3  # alice's sign-up, bob's, alice's sign-in


def test_f4_database_down_python_api(
    server_db: Database, make_auth: Callable[..., Auth], errors_logged: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(database_url=server_db.url, session_cache_ttl=0)
    token = auth.sign_up("alice@example.com", PASSWORD).token
    assert server_db.proxy is not None
    errors_logged.clear()
    with server_db.proxy.down():
        calls: list[Callable[[], Any]] = [
            lambda: auth.sign_up("bob@example.com", PASSWORD),
            lambda: auth.sign_in("alice@example.com", PASSWORD),
            lambda: auth.forgot_password("alice@example.com"),
            lambda: auth.get_session(token),
            lambda: auth.verify_token(token),  # fails closed: an outage is not "no such token"
        ]
        for call in calls:
            with pytest.raises(ServiceUnavailable) as info:
                call()
            assert info.value.status == 503 and info.value.headers()["Retry-After"] == "1"
            assert_no_leak(str(info.value.to_dict()), str(server_db.proxy.port))
            assert_logged_once(info.value.message, errors_logged)
    assert auth.get_session(token).user.email == "alice@example.com"
    assert auth.sign_up("bob@example.com", PASSWORD).token
    assert server_db.count("authgate_users") == 2


def test_f4_sqlite_locked_is_503(
    make_auth: Callable[..., Auth], tmp_path: Any, errors_logged: pytest.LogCaptureFixture
) -> None:
    """Another process holds SQLite's write lock past the 5 s busy timeout (one run: it waits)."""
    path = tmp_path / "locked.db"
    auth = make_auth(database_url=f"sqlite:///{path}", session_cache_ttl=0)
    auth.sign_up("a@example.com", PASSWORD)
    errors_logged.clear()
    holder = sqlite3.connect(path, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(ServiceUnavailable) as info:
            auth.sign_up("b@example.com", PASSWORD)
        assert_no_leak(str(info.value.to_dict()), str(path))
        assert_logged_once(info.value.message, errors_logged)
    finally:
        holder.rollback()
        holder.close()
    assert auth.sign_up("b@example.com", PASSWORD).token
    assert auth.users.count_users() == 2
