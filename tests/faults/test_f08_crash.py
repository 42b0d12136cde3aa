"""F8 — the worker process is killed (SIGKILL) between two steps of a flow (SECURITY.md §5.2, R6, R7).

A real subprocess runs the flow on a real database and is ``kill -9``ed at a
named barrier (:mod:`tests.faults.worker`):

* (a) after the password-change write committed, before the other sessions
  were deleted: their rows are still there, yet every one is refused — the
  security stamp rotated in the same write (R7);
* (b) after the email-change confirmation committed, before the
  notification reached the mailer (or once it was claimed for sending):
  exactly one address is the account's, the new one, and the notice to the
  old address, committed with the change, is sent exactly once by the next
  process to start; the dispatchers of two processes never send one notice twice;
* (c) after the sign-up committed, before the confirmation email: one
  unconfirmed account; resending works; signing up again adds nobody.

The parent checks with ``session_cache_ttl=0`` (another process's writes are
otherwise seen within that ttl, as documented).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import InvalidCredentials, InvalidToken
from authgate.models import Notice, utcnow
from authgate.testing import OutboxMailer

from ..core.conftest import FAST_HASHING, PASSWORD, SECRET
from .conftest import Database
from .test_f01_f03_concurrency import NEW_PASSWORD, _token
from .worker import crash_at, run_together

pytestmark = pytest.mark.slow


def _wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


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


@pytest.mark.parametrize("barrier", ["outbox:deliver", "mailer:send"])
def test_f8b_crash_after_email_change_commit(
    fault_db: Database, make_auth: Callable[..., Auth], tmp_path: Path, barrier: str
) -> None:
    """Killed after the confirmation committed: before the notice reached the mailer
    (``outbox:deliver``), or once it was claimed for sending (``mailer:send``)."""
    outbox = OutboxMailer()
    auth = make_auth(database_url=fault_db.direct_url, session_cache_ttl=0, send_email=outbox)
    user = auth.users.create_user(email="alice@example.com", password=PASSWORD)
    auth.change_email(user, "alice@new.example", PASSWORD)
    crash = crash_at(
        _spec(fault_db, "confirm_email", barrier, token=_token(outbox, "email_change_confirm")),
        tmp_path,
    )
    assert crash.reached == "barrier" and crash.returncode == -9
    # Exactly one address is the account's: the new one.
    assert fault_db.count("authgate_users") == 1
    assert auth.users.get_user("alice@example.com") is None
    assert auth.users.get_user("alice@new.example") is not None
    assert auth.sign_in("alice@new.example", PASSWORD).token
    # The notice to the OLD address was committed with the change, and not sent.
    [row] = fault_db.rows("authgate_outbox")
    assert (row["kind"], row["recipient"]) == ("email_changed", "alice@example.com")
    assert row["attempts"] == (1 if barrier == "mailer:send" else 0)
    assert "token" not in repr(row).lower()
    assert outbox.find("email_changed") == []
    # A new process (here: a new Auth, a minute later) sends it once, from its start.
    later = OutboxMailer()
    restarted = make_auth(database_url=fault_db.direct_url, send_email=later,
                          clock=lambda: utcnow() + dt.timedelta(seconds=61))  # fmt: skip
    _wait_for(lambda: fault_db.count("authgate_outbox") == 0)
    _wait_for(lambda: not restarted.outbox.dispatching)
    [notice] = later.find("email_changed")
    assert notice.to == "alice@example.com" and "alice@new.example" not in notice.text
    assert "a***@n***.example" in notice.text  # the new address, masked
    assert restarted.outbox.flush().sent == 0 and len(later.messages) == 1


def test_f8b_dispatchers_of_two_processes_never_send_one_notice_twice(
    fault_db: Database, make_auth: Callable[..., Auth], tmp_path: Path
) -> None:
    auth = make_auth(database_url=fault_db.direct_url)
    past = utcnow() - dt.timedelta(minutes=5)
    fields = {"kind": "account_deleted", "subject": "Your account was deleted", "text": "Gone.",
              "html": "<p>Gone.</p>", "created_at": past, "next_attempt_at": past}  # fmt: skip
    notices = [
        Notice(id=str(uuid.uuid4()), to=f"user{i}@example.com", user_id=f"u{i}", **fields)
        for i in range(60)
    ]
    auth.store.add_notices(notices)
    logs = [tmp_path / f"sent-{n}.jsonl" for n in range(2)]
    spec = {"secret": SECRET, "database_url": fault_db.direct_url, "step": "flush_outbox",
            "settings": FAST_HASHING, "send_delay": 0.002}  # fmt: skip
    specs = [
        {**spec, "sent_log": str(log), "peer_logs": [str(p) for p in logs if p != log]}
        for log in logs
    ]
    run_together(specs, tmp_path)
    sent = [json.loads(line) for log in logs if log.exists() for line in log.read_text().splitlines()]
    recipients = [s["to"] for s in sent]
    assert sorted(recipients) == sorted(n.to for n in notices)  # every one, each exactly once
    assert len({s["pid"] for s in sent}) == 2  # both were sending (each waits for the other)
    assert fault_db.count("authgate_outbox") == 0


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
