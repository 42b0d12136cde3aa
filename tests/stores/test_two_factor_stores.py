"""Second factors on every store (memory, SQLite, PostgreSQL, MariaDB, Redis sessions):
single use under concurrency — one recovery code or one TOTP step used by many threads at
once, exactly one wins — and replay refused by another ``Auth`` over the same database."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp
import pytest

from authgate import Auth
from authgate.errors import InvalidCode, InvalidToken, TwoFactorRequired
from authgate.models import utcnow
from authgate.stores.base import Store
from authgate.testing import OutboxMailer
from tests.stores.test_contract import run_together

SECRET = "stores-secret-" + "x" * 32
PASSWORD = "correct horse battery"
FAST = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
THREADS = 8


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


def make_auth(store: Store, clock: Clock, **settings: Any) -> Auth:
    return Auth(SECRET, store=store, clock=clock, two_factor=True, two_factor_max_failures=100,
                **FAST, **settings)  # fmt: skip


def enrolled(auth: Auth, clock: Clock) -> tuple[Any, pyotp.TOTP, list[str]]:
    result = auth.sign_up("alice@example.com", PASSWORD)
    setup = auth.totp_setup(result.user)
    totp = pyotp.TOTP(setup["secret"])
    codes = auth.totp_enable(result.user, totp.at(clock()))
    clock.now += dt.timedelta(seconds=30)
    return result.user, totp, codes


def challenges(auth: Auth, count: int) -> list[str]:
    found = []
    for _ in range(count):
        try:
            auth.sign_in("alice@example.com", PASSWORD)
        except TwoFactorRequired as exc:
            found.append(exc.challenge)
    assert len(found) == count
    return found


def test_one_recovery_code_used_at_once_by_many(store: Store) -> None:
    clock = Clock()
    auth = make_auth(store, clock)
    user, _, codes = enrolled(auth, clock)
    tickets = challenges(auth, THREADS)
    results = run_together(THREADS, lambda i: auth.verify_two_factor(
        tickets[i], codes[0], method="recovery_code"))  # fmt: skip
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(r, InvalidCode) for r in results if isinstance(r, Exception)), results
    assert auth.two_factor_status(user)["recovery_codes_left"] == 9


def test_one_totp_step_used_at_once_by_many(store: Store) -> None:
    clock = Clock()
    auth = make_auth(store, clock)
    _, totp, _ = enrolled(auth, clock)
    tickets = challenges(auth, THREADS)
    code = totp.at(clock())
    results = run_together(THREADS, lambda i: auth.verify_two_factor(tickets[i], code))
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(r, InvalidCode) for r in results if isinstance(r, Exception)), results


def test_one_challenge_completes_once_at_most(store: Store) -> None:
    clock = Clock()
    auth = make_auth(store, clock)
    _, _, codes = enrolled(auth, clock)
    [ticket] = challenges(auth, 1)
    results = run_together(4, lambda i: auth.verify_two_factor(
        ticket, codes[i], method="recovery_code"))  # fmt: skip
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1, results
    assert all(isinstance(r, InvalidToken) for r in results if isinstance(r, Exception)), results


def test_replay_refused_by_another_auth_over_the_same_database(store: Store) -> None:
    clock = Clock()
    first = make_auth(store, clock)
    _, totp, _ = enrolled(first, clock)
    code = totp.at(clock())
    assert first.verify_two_factor(challenges(first, 1)[0], code).token
    second = make_auth(store, clock)  # another process: nothing in memory
    with pytest.raises(InvalidCode):
        second.verify_two_factor(challenges(second, 1)[0], code)


def test_emailed_codes_turned_on_once_and_seen_by_another_auth(store: Store) -> None:
    clock = Clock()
    outbox = OutboxMailer()
    first = make_auth(store, clock, send_email=outbox)
    user = first.sign_up("alice@example.com", PASSWORD).user
    results = run_together(4, lambda i: first.enable_email_codes(user))
    assert sorted(len(r) for r in results) == [0, 0, 0, 10], results  # one set, made once
    second = make_auth(store, clock, send_email=outbox)  # another process
    assert second.two_factor_status(user)["email"] is True
    [ticket] = challenges(second, 1)
    second.send_two_factor_code(ticket)
    found = re.search(r"\b(\d{6})\b", outbox.find("two_factor_code")[-1].text)
    assert found is not None
    assert first.verify_two_factor(ticket, found.group(1), method="email").token
    with pytest.raises(InvalidToken):
        second.verify_two_factor(ticket, found.group(1), method="email")
    second.disable_two_factor(user, PASSWORD)
    assert first.two_factor_status(user)["email"] is False
    assert first.sign_in("alice@example.com", PASSWORD).token
