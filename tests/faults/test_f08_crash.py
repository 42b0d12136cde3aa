"""F8 — the worker process is killed (SIGKILL) between two steps of a flow (SECURITY.md §5.2, R6, R7).

A real subprocess runs the flow on a real database and is ``kill -9``ed at a
named barrier (:mod:`tests.faults.worker`):

* (a) after the password-change write committed, before the other sessions
  were deleted: their rows are still there, yet every one is refused — the
  security stamp rotated in the same write (R7);
* (b) after the email-change confirmation committed, before the
  notification: exactly one address is the account's, the new one;
* (c) after the sign-up committed, before the confirmation email: one
  unconfirmed account; resending works; signing up again adds nobody.

The parent checks with ``session_cache_ttl=0`` (another process's writes are
otherwise seen within that ttl, as documented).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import InvalidCredentials, InvalidToken
from authgate.testing import OutboxMailer

from ..core.conftest import FAST_HASHING, PASSWORD, SECRET
from .conftest import Database
from .test_f01_f03_concurrency import NEW_PASSWORD, _token
from .worker import crash_at

pytestmark = pytest.mark.slow


def _spec(db: Database, step: str, barrier: str, **args: Any) -> dict[str, Any]:
    return {
        "secret": SECRET, "database_url": db.direct_url, "step": step, "barrier": barrier,
        "args": args, "settings": {**FAST_HASHING, "confirmable": True,
                                   "login_without_confirmation": True},
    }  # fmt: skip


def test_f8a_crash_after_password_change_commit(
    fault_db: Database, make_auth: Callable[..., Auth], tmp_path: Path
) -> None:
    auth = make_auth(database_url=fault_db.direct_url, session_cache_ttl=0)
    keep = auth.sign_up("alice@example.com", PASSWORD).token
    others = [auth.sign_in("alice@example.com", PASSWORD).token for _ in range(2)]
    crash = crash_at(
        _spec(fault_db, "change_password", "store:delete_user_sessions", email="alice@example.com",
              password=PASSWORD, new_password=NEW_PASSWORD, keep_token=keep),
        tmp_path,
    )  # fmt: skip
    assert crash.reached == "barrier" and crash.returncode == -9
    assert fault_db.count("authgate_sessions") == 3  # the deletion never happened...
    for token in [keep, *others]:  # ...yet no old session works (the caller's is re-stamped later)
        with pytest.raises(InvalidToken):
            auth.get_session(token)
        assert auth.verify_token(token) is None
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", PASSWORD)
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token


def test_f8b_crash_after_email_change_commit(
    fault_db: Database, make_auth: Callable[..., Auth], tmp_path: Path
) -> None:
    outbox = OutboxMailer()
    auth = make_auth(database_url=fault_db.direct_url, session_cache_ttl=0, send_email=outbox)
    user = auth.users.create_user(email="alice@example.com", password=PASSWORD)
    auth.change_email(user, "alice@new.example", PASSWORD)
    crash = crash_at(
        _spec(fault_db, "confirm_email", "mail:send", token=_token(outbox, "email_change_confirm")),
        tmp_path,
    )
    assert crash.reached == "barrier"
    assert fault_db.count("authgate_users") == 1
    assert auth.users.get_user("alice@example.com") is None
    assert auth.users.get_user("alice@new.example") is not None
    assert auth.sign_in("alice@new.example", PASSWORD).token


def test_f8c_crash_after_sign_up_commit_before_mail(
    fault_db: Database, make_auth: Callable[..., Auth], tmp_path: Path
) -> None:
    outbox = OutboxMailer()
    auth = make_auth(database_url=fault_db.direct_url, confirmable=True, send_email=outbox)
    crash = crash_at(
        _spec(fault_db, "sign_up", "mail:send", email="bob@example.com", password=PASSWORD),
        tmp_path,
    )
    assert crash.reached == "barrier"
    [row] = fault_db.rows("authgate_users")
    assert row["email_canonical"] == "bob@example.com" and row["email_confirmed_at"] is None
    again = auth.sign_up("bob@example.com", PASSWORD)  # the user tries again: same answer
    assert again.token is None and fault_db.count("authgate_users") == 1
    auth.send_confirmation("bob@example.com")
    confirmed = auth.confirm_email(_token(outbox, "confirm_email"))
    assert confirmed.user.email_confirmed
