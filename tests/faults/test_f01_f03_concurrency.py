"""F1–F3 — concurrency on real databases, through the HTTP API (SECURITY.md §5.2, R1, R3, R4).

* F1: 50 simultaneous sign-ups of one canonical address (case and NFKC
  variants, different passwords) make exactly one user row; no 500; with
  ``confirmable`` every answer has the enumeration-safe shape and the owner
  gets at most ``email_send_limit`` "someone tried" emails.
* F2: 20 simultaneous redemptions of one reset, magic-link, confirmation or
  email-change token: one success, 19 ``INVALID_TOKEN``, one event and one
  notification.
* F3: 200 simultaneous wrong passwords against a limit of 10: exactly 10 are
  checked (10 hashes, 10 ``login_failed``), 190 are ``RATE_LIMITED``, the
  right password is refused too; with the counters in a private Redis as well.

Run on SQLite (WAL, busy timeout), PostgreSQL and MariaDB; F1 on two
frameworks (WSGI and ASGI), F2 and F3 on Flask.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from authgate import signals
from authgate.models import canonical_email
from authgate.testing import OutboxMailer

from ..core.conftest import PASSWORD
from ..stores.test_contract import run_together
from ..web.test_http_contract import bearer
from .conftest import Database
from .redis_server import PrivateRedis

pytestmark = pytest.mark.slow

NEW_PASSWORD = "new staple battery horse"
VARIANTS = ["a@x.com", "A@X.com", "a@X.COM", "ａ@x.com", "Ａ@ｘ.ｃｏｍ"]


@pytest.fixture
def events() -> Iterator[Counter[str]]:
    """Counts of the authgate signals sent during the test."""
    seen: Counter[str] = Counter()
    receivers = []
    for name in (
        "password_reset",
        "email_changed",
        "user_confirmed",
        "user_logged_in",
        "login_failed",
    ):

        def receiver(sender: Any, _name: str = name, **kw: Any) -> None:
            seen[_name] += 1

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((getattr(signals, name), receiver))
    yield seen
    for signal, receiver in receivers:
        signal.disconnect(receiver)


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
@pytest.mark.parametrize("confirmable", [False, True])
def test_f1_concurrent_sign_ups_one_account(
    fault_db: Database, make_http: Callable[..., Any], confirmable: bool
) -> None:
    outbox = OutboxMailer()
    client = make_http(database_url=fault_db.url, send_email=outbox, confirmable=confirmable)

    def sign_up(n: int) -> tuple[str, int, Any]:
        email = VARIANTS[n % len(VARIANTS)]
        r = client.post("/auth/sign-up/email", json={"email": email, "password": f"{PASSWORD} {n}"},
                        cookies=False)  # fmt: skip
        return email, r.status, r.json()

    results = run_together(50, sign_up)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = Counter(status for _, status, _ in results)
    assert 500 not in statuses
    assert fault_db.count("authgate_users") == 1
    assert fault_db.count("authgate_users", "email_canonical = 'a@x.com'") == 1
    if not confirmable:
        assert statuses == {200: 1, 409: 49}, statuses
        assert {b["error"]["code"] for _, s, b in results if s == 409} == {"USER_EXISTS"}
        return
    assert statuses == {200: 50}, statuses
    # Winner and losers look alike: same keys, no token, never confirmed; only the
    # id (a look-alike's is never stored) and the address as typed differ.
    shapes = set()
    for _typed, _, body in results:
        assert body["token"] is None
        user = dict(body["user"])
        assert user.pop("id") and canonical_email(user.pop("email")) == "a@x.com"
        shapes.add(repr(sorted(user.items())))
    assert len(shapes) == 1, shapes
    assert len(outbox.find("confirm_email")) == 1
    assert 1 <= len(outbox.find("registration_attempt")) <= 5  # email_send_limit per hour


def _token(outbox: OutboxMailer, kind: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    from authgate.testing import links

    return parse_qs(urlsplit(links(outbox.last(kind))[0]).query)["token"][0]


@pytest.mark.parametrize("framework", ["flask"])
@pytest.mark.parametrize("flow", ["reset_password", "login_link", "confirm_email", "change_email"])
def test_f2_concurrent_redemptions_one_winner(
    fault_db: Database, make_http: Callable[..., Any], events: Counter[str], flow: str
) -> None:
    outbox = OutboxMailer()
    client = make_http(database_url=fault_db.url, send_email=outbox, confirmable=True,
                       passwordless=True, login_without_confirmation=True)  # fmt: skip
    auth = client.auth
    r = client.post(
        "/auth/sign-up/email", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert r.status == 200
    if flow != "confirm_email":
        auth.users.confirm_user("alice@example.com")
    path, body_of = {
        "reset_password": (
            "/auth/reset-password",
            lambda t: {"token": t, "new_password": NEW_PASSWORD},
        ),
        "login_link": ("/auth/magic-link/verify", lambda t: {"token": t}),
        "confirm_email": ("/auth/verify-email", lambda t: {"token": t}),
        "change_email": ("/auth/verify-email", lambda t: {"token": t}),
    }[flow]
    if flow == "reset_password":
        client.post("/auth/forgot-password", json={"email": "alice@example.com"})
        token = _token(outbox, "reset_password")
    elif flow == "login_link":
        client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
        token = _token(outbox, "login_link")
    elif flow == "confirm_email":
        token = _token(outbox, "confirm_email")
    else:
        signed_in = auth.sign_in("alice@example.com", PASSWORD).token
        r = client.post("/auth/change-email", json={"new_email": "alice@new.example", "password": PASSWORD},
                        headers=bearer(signed_in), cookies=False)  # fmt: skip
        assert r.status == 200
        token = _token(outbox, "email_change_confirm")
    events.clear()
    outbox.clear()

    results = run_together(20, lambda n: client.post(path, json=body_of(token), cookies=False))
    statuses = Counter(r.status for r in results)
    assert statuses == {200: 1, 401: 19}, statuses
    assert {r.json()["error"]["code"] for r in results if r.status == 401} == {"INVALID_TOKEN"}
    if flow == "reset_password":
        assert events["password_reset"] == 1
        assert len(outbox.find("password_reset")) == 1
    elif flow == "change_email":
        assert events["email_changed"] == 1
        assert [m.to for m in outbox.find("email_changed")] == ["alice@example.com"]
        assert fault_db.count("authgate_users", "email_canonical = 'alice@new.example'") == 1
    elif flow == "confirm_email":
        assert events["user_confirmed"] == 1
    else:
        assert events["user_logged_in"] == 1
    assert fault_db.count("authgate_users") == 1


def _guess_in_parallel(client: Any, count: int) -> Counter[str]:
    def guess(n: int) -> str:
        r = client.post("/auth/sign-in/email", cookies=False,
                        json={"email": "victim@example.com", "password": f"wrong guess {n}"})  # fmt: skip
        return str(r.json()["error"]["code"]) if r.status != 200 else "OK"

    return Counter(run_together(count, guess))


@pytest.mark.parametrize("framework", ["flask"])
@pytest.mark.parametrize("counters", ["memory", "redis"])
def test_f3_parallel_wrong_passwords_cannot_pass_the_limit(
    fault_db: Database,
    make_http: Callable[..., Any],
    events: Counter[str],
    counters: str,
    request: pytest.FixtureRequest,
) -> None:
    storage = "memory://"
    if counters == "redis":
        storage = request.getfixturevalue("private_redis").url
    client = make_http(
        database_url=fault_db.url, rate_limit_storage=storage, sign_in_max_failures=10
    )
    client.auth.sign_up("victim@example.com", PASSWORD)
    hasher = client.auth.ctx.hasher
    verified = Counter[str]()
    real_verify = hasher.verify

    def counting_verify(*args: Any, **kwargs: Any) -> Any:
        verified["n"] += 1
        return real_verify(*args, **kwargs)

    hasher.verify = counting_verify
    events.clear()

    codes = _guess_in_parallel(client, 200)
    assert codes == {"INVALID_CREDENTIALS": 10, "RATE_LIMITED": 190}, codes
    assert events["login_failed"] == 10 and verified["n"] == 10  # exactly the attempts processed
    r = client.post(
        "/auth/sign-in/email", json={"email": "victim@example.com", "password": PASSWORD}
    )
    assert r.status == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
    assert int(r.header("Retry-After") or 0) >= 1


def test_f3_redis_counters_are_shared_by_two_processes(
    private_redis: PrivateRedis, make_auth: Callable[..., Any]
) -> None:
    """Two ``Auth`` objects (two app processes) on one Redis share the per-identity counter."""
    from authgate.errors import AuthError

    first = make_auth(rate_limit_storage=private_redis.url, sign_in_max_failures=10)
    second = make_auth(
        store=first.store, rate_limit_storage=private_redis.url, sign_in_max_failures=10
    )
    first.sign_up("victim@example.com", PASSWORD)

    def guess(n: int) -> str:
        try:
            (first, second)[n % 2].sign_in("victim@example.com", f"wrong {n}")
        except AuthError as exc:
            return exc.code
        return "OK"

    codes = Counter(run_together(40, guess))
    assert codes == {"INVALID_CREDENTIALS": 10, "RATE_LIMITED": 30}, codes
