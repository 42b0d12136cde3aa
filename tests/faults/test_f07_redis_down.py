"""F7 — Redis, holding the sign-in counters, goes down or is flushed (SECURITY.md §5.2, R8, R9).

A private ``redis-server`` is killed and restarted under a live app. While it
is down, password sign-in fails closed — ``503 SERVICE_UNAVAILABLE`` with
``Retry-After``, one logged line, nothing about Redis in the body — even with
the right password; sessions (kept in SQL) still answer, and forgot-password
gives its usual answer (it simply sends nothing). When Redis is back, sign-in
works again without restarting the app.

Sessions and bearer tokens in Redis (the allowlist model, and "after a
flush, revoked tokens stay invalid") come with the ``redis_url`` setting and
are tested there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate.testing import OutboxMailer

from ..core.conftest import PASSWORD
from ..web.test_http_contract import bearer
from .checks import assert_unavailable
from .redis_server import PrivateRedis

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_f7_redis_down_fails_closed_then_recovers(
    private_redis: PrivateRedis,
    make_http: Callable[..., Any],
    errors_logged: pytest.LogCaptureFixture,
) -> None:
    outbox = OutboxMailer()
    client = make_http(
        rate_limit_storage=private_redis.url, send_email=outbox, notify_registered=False
    )
    token = client.auth.sign_up("alice@example.com", PASSWORD).token
    sign_in = {"email": "alice@example.com", "password": PASSWORD}
    assert client.post("/auth/sign-in/email", json=sign_in, cookies=False).status == 200
    errors_logged.clear()

    private_redis.stop()
    for password in (PASSWORD, "a wrong password"):
        r = client.post(
            "/auth/sign-in/email", json={**sign_in, "password": password}, cookies=False
        )
        assert_unavailable(r, errors_logged, str(private_redis.port))
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200
    r = client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    assert (r.status, r.body) == (200, b'{"success":true}')
    assert outbox.find("reset_password") == []  # the per-address limit fails closed: no email

    private_redis.start()
    assert client.post("/auth/sign-in/email", json=sign_in, cookies=False).status == 200
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    assert len(outbox.find("reset_password")) == 1


@pytest.mark.parametrize("framework", ["flask"])
def test_f7_redis_flushed_under_a_throttled_account(
    private_redis: PrivateRedis, make_http: Callable[..., Any]
) -> None:
    """A flush forgets the counters (they are not security state) and never signs anyone in."""
    client = make_http(rate_limit_storage=private_redis.url, sign_in_max_failures=3)
    client.auth.sign_up("alice@example.com", PASSWORD)
    wrong = {"email": "alice@example.com", "password": "a wrong password"}
    codes = [
        client.post("/auth/sign-in/email", json=wrong).json()["error"]["code"] for _ in range(4)
    ]
    assert codes == ["INVALID_CREDENTIALS"] * 3 + ["RATE_LIMITED"]
    private_redis.flushall()
    r = client.post("/auth/sign-in/email", json=wrong)
    assert r.status == 401 and r.json()["error"]["code"] == "INVALID_CREDENTIALS"
    r = client.post(
        "/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert r.status == 200
