"""F5 — the database fails in the middle of a write (SECURITY.md §5.2, R5).

The failure is injected on the real database (SQLite, PostgreSQL, MariaDB)
at a chosen statement or on COMMIT. Each time: a clean 503, not one row of
the failed write left behind (checked in the tables), and the same request
succeeds right afterwards — the address is free, the link still works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import InvalidCredentials, InvalidToken, ServiceUnavailable
from authgate.testing import OutboxMailer

from ..core.conftest import PASSWORD
from .checks import assert_unavailable
from .conftest import Database
from .database import fail_at
from .test_f01_f03_concurrency import NEW_PASSWORD, _token

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("framework", ["flask", "django"])
@pytest.mark.parametrize("point", ["insert", "commit"])
def test_f5_sign_up_fails_mid_write(
    fault_db: Database, make_http: Callable[..., Any], point: str,
    errors_logged: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    client = make_http(database_url=fault_db.url, send_email=OutboxMailer(), confirmable=True)
    where: dict[str, Any] = (
        {"statement": "INSERT INTO authgate_users"} if point == "insert" else {"commit": True}
    )
    with fail_at(client.auth.store.engine, **where) as injected:
        r = client.post(
            "/auth/sign-up/email", json={"email": "alice@example.com", "password": PASSWORD}
        )
    assert injected.fired
    assert_unavailable(r, errors_logged)
    assert fault_db.count("authgate_users") == 0
    assert client.auth.mail.mailer.find() == []  # no email for an account that does not exist
    r = client.post(
        "/auth/sign-up/email", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert r.status == 200
    assert fault_db.count("authgate_users") == 1


@pytest.mark.parametrize("point", ["links", "commit"])
def test_f5_user_with_roles_is_all_or_nothing(
    fault_db: Database, make_auth: Callable[..., Auth], point: str
) -> None:
    """The user row, the new role and the role links are one transaction."""
    auth = make_auth(database_url=fault_db.url)
    where: dict[str, Any] = (
        {"statement": "INSERT INTO authgate_user_roles"} if point == "links" else {"commit": True}
    )
    with fail_at(auth.store.engine, **where) as injected, pytest.raises(ServiceUnavailable):
        auth.users.create_user(email="alice@example.com", password=PASSWORD, roles=["admin"])
    assert injected.fired
    for table in ("authgate_users", "authgate_roles", "authgate_user_roles"):
        assert fault_db.count(table) == 0, table
    user = auth.users.create_user(email="alice@example.com", password=PASSWORD, roles=["admin"])
    assert user.role_names == ["admin"]


def test_f5_invited_sign_up_fails_mid_write_keeps_the_invitation(
    fault_db: Database, make_auth: Callable[..., Auth]
) -> None:
    """A sign-up that fails must not use up the invitation it came with."""
    auth = make_auth(database_url=fault_db.url, invite_only=True, send_email=OutboxMailer())
    invitation = auth.invite("bob@example.com")
    with (
        fail_at(auth.store.engine, statement="INSERT INTO authgate_users"),
        pytest.raises(ServiceUnavailable),
    ):
        auth.sign_up("bob@example.com", PASSWORD, invite_token=invitation)
    assert fault_db.count("authgate_users") == 0
    assert fault_db.count("authgate_used_tokens") == 0
    result = auth.sign_up("bob@example.com", PASSWORD, invite_token=invitation)
    assert result.user.email_confirmed is True
    # Still single use: after the account is deleted, the used invitation makes nothing.
    auth.users.delete_user("bob@example.com")
    with pytest.raises(InvalidToken):
        auth.sign_up("bob@example.com", PASSWORD, invite_token=invitation)
    assert fault_db.count("authgate_users") == 0


def test_f5_reset_fails_on_commit_then_works(
    fault_db: Database, make_auth: Callable[..., Auth]
) -> None:
    outbox = OutboxMailer()
    auth = make_auth(database_url=fault_db.url, send_email=outbox)
    session = auth.sign_up("alice@example.com", PASSWORD).token
    auth.forgot_password("alice@example.com")
    token = _token(outbox, "reset_password")
    with fail_at(auth.store.engine, commit=True), pytest.raises(ServiceUnavailable):
        auth.reset_password(token, NEW_PASSWORD)
    assert auth.sign_in("alice@example.com", PASSWORD).token  # nothing changed
    assert auth.get_session(session).user.email == "alice@example.com"
    assert fault_db.count("authgate_used_tokens") == 0
    auth.reset_password(token, NEW_PASSWORD)  # the link was not used up
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", PASSWORD)
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token


@pytest.mark.parametrize("point", ["outbox", "commit"])
def test_f5_a_change_and_its_notice_are_all_or_nothing(
    fault_db: Database, make_auth: Callable[..., Auth], point: str
) -> None:
    """The notice row is written in the change's transaction: a failure leaves neither."""
    outbox = OutboxMailer()
    auth = make_auth(database_url=fault_db.url, send_email=outbox, notify_registered=False)
    user = auth.sign_up("alice@example.com", PASSWORD).user
    where: dict[str, Any] = (
        {"statement": "INSERT INTO authgate_outbox"} if point == "outbox" else {"commit": True}
    )
    with fail_at(auth.store.engine, **where) as injected, pytest.raises(ServiceUnavailable):
        auth.change_password(user, PASSWORD, NEW_PASSWORD)
    assert injected.fired
    assert fault_db.count("authgate_outbox") == 0 and outbox.find("password_changed") == []
    assert auth.sign_in("alice@example.com", PASSWORD).token  # nothing changed
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    assert [m.to for m in outbox.find("password_changed")] == ["alice@example.com"]
    assert fault_db.count("authgate_outbox") == 0  # sent, then removed
