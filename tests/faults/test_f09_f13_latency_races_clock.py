"""F9, F11, F12, F13 (SECURITY.md §5.2; R10, R12).

* F9: 300 ms added to every database round trip (TCP proxy): requests still
  answer correctly, 10 concurrent ones share the pool, and once the latency
  is gone the pool is fast again (no stuck connection).
* F11: a sign-in that rehashes a legacy hash races a password reset (the
  reset commits between the check and the rehash write): the final hash
  verifies the new password only.
* F12: an injected clock stepped across the documented boundaries: sessions
  expire at exactly ``session_lifetime`` (exclusive), idle at exactly
  ``session_idle_timeout`` since the last recorded activity, links work up to
  and including their lifetime; remember-me is exempt from idling; a clock
  in another time zone changes nothing.
* F13: double submits 10 ms apart (sign-up, resend confirmation, change
  email): one account, one effective change, mail inside the per-address limit.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import InvalidCredentials, InvalidToken
from authgate.testing import OutboxMailer

from ..core.conftest import PASSWORD, Clock
from ..stores.test_contract import run_together
from ..web.test_http_contract import bearer
from .checks import assert_unavailable
from .conftest import Database
from .test_f01_f03_concurrency import NEW_PASSWORD, _token

pytestmark = pytest.mark.slow


# -- F9 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["flask"])
def test_f9_database_latency(server_db: Database, make_http: Callable[..., Any]) -> None:
    client = make_http(database_url=server_db.url, session_cache_ttl=0)
    token = client.auth.sign_up("alice@example.com", PASSWORD).token
    assert server_db.proxy is not None
    server_db.proxy.slow(0.15)  # each way: 300 ms per round trip
    start = time.perf_counter()
    r = client.get("/auth/session", headers=bearer(token), cookies=False)
    slow = time.perf_counter() - start
    assert r.status == 200 and slow >= 0.3
    results = run_together(
        10, lambda n: client.get("/auth/session", headers=bearer(token), cookies=False)
    )
    assert Counter(r.status for r in results) == {200: 10}
    server_db.proxy.resume()
    start = time.perf_counter()
    for _ in range(5):
        assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200
    assert (time.perf_counter() - start) / 5 < 0.1  # the pool recovered


@pytest.mark.mysql
@pytest.mark.parametrize("framework", ["flask"])
def test_f9_a_silent_database_is_a_503_within_the_timeout(
    database_url: Callable[[str, str], str],
    fault_proxy: Callable[[str, int], Any],
    make_http: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that accepts and never answers: the client's read timeout ends the wait (R9).

    ``make_engine`` bounds MySQL/MariaDB reads (30 s by default; 2 s here from
    the URL). PostgreSQL's bound is the server's ``statement_timeout``, which a
    server that receives nothing cannot apply: see the README's deployment notes.
    """
    import sqlalchemy as sa

    direct = sa.make_url(database_url("mysql", "_silent"))
    proxy = fault_proxy(direct.host or "127.0.0.1", int(direct.port or 3306))
    url = direct.set(host="127.0.0.1", port=proxy.port).update_query_dict({"read_timeout": "2"})
    client = make_http(database_url=url.render_as_string(hide_password=False),
                       session_cache_ttl=0)  # fmt: skip
    token = client.auth.sign_up("silent@example.com", PASSWORD).token
    proxy.freeze()
    caplog.clear()
    start = time.perf_counter()
    r = client.get("/auth/session", headers=bearer(token), cookies=False)
    took = time.perf_counter() - start
    assert_unavailable(r, caplog)
    assert took < 10  # two reads at most (the pre-ping, the query), never a hung worker
    proxy.resume()
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200


# -- F11 --------------------------------------------------------------------------------
def test_f11_rehash_racing_a_reset(fault_db: Database, make_auth: Callable[..., Auth]) -> None:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    outbox = OutboxMailer()
    auth = make_auth(database_url=fault_db.url, send_email=outbox)
    legacy = PBKDF2PasswordHasher().encode(PASSWORD, "seasalt1234", iterations=1000)
    auth.users.create_user(email="old@example.com", password_hash=legacy)
    auth.forgot_password("old@example.com")
    reset_token = _token(outbox, "reset_password")
    verified, reset_done = threading.Event(), threading.Event()
    real_verify = auth.ctx.hasher.verify

    def verify_then_wait(password: str, stored: str | None) -> Any:
        result = real_verify(password, stored)
        if stored == legacy:
            verified.set()
            reset_done.wait(10)  # the reset commits between the check and the rehash write
        return result

    auth.ctx.hasher.verify = verify_then_wait  # type: ignore[method-assign]
    outcome: list[Any] = []

    def sign_in() -> None:
        try:
            outcome.append(auth.sign_in("old@example.com", PASSWORD))
        except InvalidCredentials as exc:
            outcome.append(exc)

    signer = threading.Thread(target=sign_in)
    signer.start()
    assert verified.wait(10)
    auth.reset_password(reset_token, NEW_PASSWORD)
    reset_done.set()
    signer.join(10)
    auth.ctx.hasher.verify = real_verify  # type: ignore[method-assign]
    [row] = fault_db.rows("authgate_users")
    assert auth.users.verify_password(NEW_PASSWORD, row["password_hash"])
    assert not auth.users.verify_password(PASSWORD, row["password_hash"])
    with pytest.raises(InvalidCredentials):
        auth.sign_in("old@example.com", PASSWORD)
    # The racing sign-in proved the old password, which is no longer the account's:
    # refused, with no session (finding S2).
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidCredentials)


# -- F12 --------------------------------------------------------------------------------
@pytest.fixture
def clocked(make_auth: Callable[..., Auth]) -> tuple[Auth, Clock, OutboxMailer]:
    clock, outbox = Clock(), OutboxMailer()
    auth = make_auth(clock=clock, send_email=outbox, session_lifetime=3600, session_idle_timeout=600,
                     remember_lifetime=7200, reset_password_within=900, passwordless=True,
                     login_link_within=600, session_cache_ttl=0)  # fmt: skip
    return auth, clock, outbox


def test_f12_absolute_session_lifetime_is_exclusive(
    clocked: tuple[Auth, Clock, OutboxMailer],
) -> None:
    auth, clock, _ = clocked
    token = auth.sign_up(
        "alice@example.com",
        PASSWORD,
    ).token
    for _ in range(6):  # active all along: idling is not what ends it
        clock.advance(599)
        auth.get_session(token)
    clock.advance(3599 - 6 * 599)
    assert auth.get_session(token).user  # 3599 s: alive
    clock.advance(1)  # exactly 3600 s
    with pytest.raises(InvalidToken):
        auth.get_session(token)


def test_f12_idle_timeout_boundary(clocked: tuple[Auth, Clock, OutboxMailer]) -> None:
    auth, clock, _ = clocked
    alive = auth.sign_up("alice@example.com", PASSWORD).token
    idle = auth.sign_in("alice@example.com", PASSWORD).token
    remembered = auth.sign_in("alice@example.com", PASSWORD, remember=True).token
    clock.advance(599)
    assert auth.get_session(alive).user
    clock.advance(1)  # `idle` unused for exactly 600 s
    with pytest.raises(InvalidToken):
        auth.get_session(idle)
    assert auth.get_session(remembered).user  # remember-me is exempt
    clock.advance(7200 - 600)
    with pytest.raises(InvalidToken):
        auth.get_session(remembered)  # ...until its own absolute lifetime


@pytest.mark.parametrize(("kind", "lifetime"), [("reset_password", 900), ("login_link", 600)])
def test_f12_link_lifetime_is_inclusive(
    clocked: tuple[Auth, Clock, OutboxMailer], kind: str, lifetime: int
) -> None:
    auth, clock, outbox = clocked
    auth.sign_up("alice@example.com", PASSWORD)
    use = {
        "reset_password": lambda t: auth.reset_password(t, NEW_PASSWORD),
        "login_link": auth.sign_in_with_link,
    }[kind]
    ask = {"reset_password": auth.forgot_password, "login_link": auth.send_login_link}[kind]
    ask("alice@example.com")
    late = _token(outbox, kind)
    clock.advance(lifetime + 1)
    with pytest.raises(InvalidToken):
        use(late)
    ask("alice@example.com")
    on_time = _token(outbox, kind)
    clock.advance(lifetime)  # exactly the lifetime: still valid
    use(on_time)


def test_f12_clock_in_another_time_zone(make_auth: Callable[..., Auth]) -> None:
    """Expiries are instants: a clock that answers in UTC+14 decides exactly as one in UTC."""
    utc = Clock()
    zone = dt.timezone(dt.timedelta(hours=14))
    auth = make_auth(
        clock=lambda: utc().astimezone(zone), session_lifetime=3600, session_cache_ttl=0
    )
    token = auth.sign_up("alice@example.com", PASSWORD).token
    utc.advance(3599)
    assert auth.get_session(token).expires_at.utcoffset() is not None
    utc.advance(1)
    with pytest.raises(InvalidToken):
        auth.get_session(token)


# -- F13 --------------------------------------------------------------------------------
def _twice(send: Callable[[], Any]) -> list[Any]:
    """Two identical requests 10 ms apart (a double click)."""
    results: list[Any] = [None, None]

    def first() -> None:
        results[0] = send()

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.01)
    results[1] = send()
    thread.join(10)
    return results


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_f13_double_submits(fault_db: Database, make_http: Callable[..., Any]) -> None:
    outbox = OutboxMailer()
    client = make_http(database_url=fault_db.url, send_email=outbox, confirmable=True,
                       login_without_confirmation=True)  # fmt: skip
    body = {"email": "alice@example.com", "password": PASSWORD}
    first, second = _twice(lambda: client.post("/auth/sign-up/email", json=body, cookies=False))
    assert (first.status, second.status) == (200, 200)
    assert fault_db.count("authgate_users") == 1
    assert len(outbox.find("confirm_email")) == 1 and len(outbox.find("registration_attempt")) == 1

    resend = {"email": "alice@example.com"}
    for _ in range(3):  # three double clicks: six requests, at most five emails an hour
        statuses = [
            r.status
            for r in _twice(lambda: client.post("/auth/send-verification-email", json=resend))
        ]
        assert statuses == [200, 200]
    assert len(outbox.find("confirm_email")) <= 5

    token = client.auth.sign_in("alice@example.com", PASSWORD).token
    change = {"new_email": "alice@new.example", "password": PASSWORD}
    statuses = [
        r.status
        for r in _twice(
            lambda: client.post(
                "/auth/change-email", json=change, headers=bearer(token), cookies=False
            )
        )
    ]
    assert statuses == [200, 200]
    links = outbox.find("email_change_confirm")
    assert 1 <= len(links) <= 2
    from authgate.testing import links as links_in

    tokens = [links_in(m)[0].split("token=")[1] for m in links]
    from urllib.parse import unquote

    outcomes = [
        client.post("/auth/verify-email", json={"token": unquote(t)}).status for t in tokens
    ]
    assert outcomes.count(200) == 1  # one effective change; the other link died with it
    assert fault_db.count("authgate_users", "email_canonical = 'alice@new.example'") == 1
    assert fault_db.count("authgate_users") == 1
