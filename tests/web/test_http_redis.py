"""The JSON API with sessions in Redis, on every framework: failing closed, keys not probeable.

Redis down means 503 ``SERVICE_UNAVAILABLE`` for every session check and for
sign-in (its throttling counts in Redis), never an authenticated answer and
never a trace of the server in the body. The down cases run on a private
``redis-server`` the test kills.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import authgate.auth
from authgate.session_cache import CacheGroup
from authgate.tokens import token_digest
from tests.conftest import REDIS_URL, redis_client, redis_prefix
from tests.redis_server import private_redis

from .clients import ContractClient
from .conftest import MakeClient

pytestmark = pytest.mark.redis

PASSWORD = "correct horse battery"


def sign_up(client: ContractClient, email: str = "alice@example.com") -> str:
    response = client.post("/auth/sign-up/email", json={"email": email, "password": PASSWORD})
    assert response.status == 200, response.body
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def close(client: ContractClient) -> None:
    client.auth.close()  # type: ignore[attr-defined]


def test_redis_down_answers_503_and_never_authenticates(
    make_client: MakeClient, tmp_path: Path
) -> None:
    with private_redis(tmp_path) as server:
        client = make_client(redis_url=server.url, database_url=f"sqlite:///{tmp_path / 'a.db'}")
        try:
            token = sign_up(client)  # the session cookie is in the client's jar too
            for _ in range(3):  # answered, and once subscribed from the session cache
                assert client.get("/protected", headers=bearer(token)).status == 200
            assert client.get("/auth/session").status == 200  # by cookie

            server.kill()
            # The subscriber notices at once (its connection closes), and from then on
            # nothing is answered from memory. The wait covers the thread's turn.
            cache = client.auth.ctx.session_cache  # type: ignore[attr-defined]
            deadline = time.monotonic() + 2
            while not cache.suspended:
                assert time.monotonic() < deadline, "the outage went unnoticed"
                time.sleep(0.001)

            attempts: list[tuple[str, str, dict[str, Any]]] = [
                ("GET", "/auth/session", {"headers": bearer(token), "cookies": False}),
                ("GET", "/protected", {"headers": bearer(token), "cookies": False}),
                ("GET", "/auth/session", {}),
                ("GET", "/protected", {}),
                ("POST", "/auth/sign-in/email",
                 {"json": {"email": "alice@example.com", "password": PASSWORD}, "cookies": False}),
            ]  # fmt: skip
            for method, path, options in attempts:
                response = client.request(method, path, **options)
                assert response.status == 503, (method, path, response.status, response.body)
                assert response.error_code == "SERVICE_UNAVAILABLE"
                assert response.header("Retry-After")
                text = response.body.decode()
                assert str(server.port) not in text and "Traceback" not in text
                assert "redis" not in text.lower()
        finally:
            close(client)


def test_unrelated_redis_keys_are_not_credentials(make_client: MakeClient, tmp_path: Path) -> None:
    """SECURITY #50: ``SET cache:x <victim id>``, then present ``cache:x`` or ``x``."""
    raw = redis_client()
    with redis_prefix() as prefix:
        client = make_client(redis_url=REDIS_URL, redis_prefix=prefix,
                             database_url=f"sqlite:///{tmp_path / 'a.db'}")  # fmt: skip
        try:
            token = sign_up(client)
            victim = client.get("/auth/session", headers=bearer(token)).json()["user"]["id"]
            raw.set("cache:x", victim)
            for probe in ("cache:x", "x", victim, token_digest(token),
                          f"{prefix}:session:{token_digest(token)}"):  # fmt: skip
                response = client.get("/protected", headers=bearer(probe), cookies=False)
                assert response.status == 401 and response.error_code == "INVALID_TOKEN"
        finally:
            raw.delete("cache:x")
            raw.close()
            close(client)


def test_a_sign_out_through_one_app_is_refused_by_another(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two apps that share nothing in memory (separate cache groups), only the database and Redis."""
    with redis_prefix() as prefix:
        settings: dict[str, Any] = {
            "redis_url": REDIS_URL, "redis_prefix": prefix,
            "database_url": f"sqlite:///{tmp_path / 'a.db'}",
            "session_cache_ttl": 3600,  # only an invalidation can drop an entry
        }  # fmt: skip
        first = make_client(**settings)
        with monkeypatch.context() as patch:
            patch.setattr(authgate.auth, "group_for", lambda store: CacheGroup())
            second = make_client(**settings)
        try:
            token = sign_up(first)
            bus = second.auth._bus  # type: ignore[attr-defined]
            bus.start()
            assert bus.subscribed.wait(10)
            for _ in range(2):  # now in the second app's session cache
                assert second.get("/protected", headers=bearer(token)).status == 200
            cache = second.auth.ctx.session_cache  # type: ignore[attr-defined]
            assert cache.get(token_digest(token)) is not None

            response = first.post("/auth/sign-out", headers=bearer(token), cookies=False)
            assert response.status == 200
            # The sign-out answered after the other app confirmed it had forgotten the session.
            assert cache.get(token_digest(token)) is None
            response = second.get("/protected", headers=bearer(token), cookies=False)
            assert response.status == 401
        finally:
            close(first)
            close(second)
