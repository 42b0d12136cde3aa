"""The stored audit trail from Python (``auth.audit``): what each flow records, never a secret,
never a failed flow because of it, retention and the hourly purge (SECURITY.md #22, issue 8 §4)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authgate import Auth, SecurityEvent, signals
from authgate.audit import EVENT_KINDS, PURGE_INTERVAL
from authgate.errors import (
    AccountDisabled,
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCredentials,
    RateLimited,
    ReauthRequired,
    ServiceUnavailable,
    ValidationError,
)
from authgate.stores.memory import MemoryStore
from authgate.testing import OutboxMailer, links

from .conftest import PASSWORD, Clock

NEW_PASSWORD = "new staple battery horse"
CANARY = "S3cret-Canary-passphrase"
IP, UA = "198.51.100.4", "Canary-Browser/1.0"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_auth: Callable[..., Auth], outbox: OutboxMailer) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        return make_auth(send_email=outbox, base_url="https://app.example", **settings)

    return factory


def token_from(outbox: OutboxMailer, kind: str) -> str:
    return parse_qs(urlsplit(links(outbox.last(kind))[0]).query)["token"][0]


def kinds(auth: Auth, user: Any = None, **filters: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, outcome, details) of the stored events, oldest first."""
    events = auth.audit.events(user, limit=1000, **filters)
    return [(e.kind, e.outcome, e.details) for e in reversed(events)]


# -- what is recorded ---------------------------------------------------------------------


def test_sign_in_outcomes_and_reasons(mk: Callable[..., Auth]) -> None:
    auth = mk(confirmable=True, sign_in_max_failures=3)
    alice = auth.users.create_user(email="alice@example.com", password=PASSWORD)
    carol = auth.users.create_user(email="carol@example.com", password=PASSWORD, confirmed=False)
    dave = auth.users.create_user(email="dave@example.com", password=PASSWORD, active=False)
    auth.sign_in("alice@example.com", PASSWORD, ip=IP, user_agent=UA)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", "wrong password", ip=IP)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("nobody@example.com", "wrong password", ip=IP)
    with pytest.raises(EmailNotConfirmed):
        auth.sign_in("carol@example.com", PASSWORD)
    with pytest.raises(AccountDisabled):
        auth.sign_in("dave@example.com", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            auth.sign_in("alice@example.com", "wrong password")
    with pytest.raises(RateLimited):
        auth.sign_in("alice@example.com", PASSWORD)

    sign_ins = auth.audit.events(kinds="sign_in", limit=100)[::-1]
    assert [(e.outcome, e.details.get("reason"), e.user_id) for e in sign_ins] == [
        ("success", None, str(alice.id)),
        ("failure", "password", str(alice.id)),
        ("failure", "unknown", None),
        ("failure", "unconfirmed", str(carol.id)),
        ("failure", "disabled", str(dave.id)),
        ("failure", "password", str(alice.id)),
        ("failure", "password", str(alice.id)),
        ("failure", "throttled", str(alice.id)),  # the account is known (one bucket each)
    ]
    first = sign_ins[0]
    assert (first.ip, first.user_agent, first.actor, first.details) == (
        IP, UA, "user", {"factor": "password"}
    )  # fmt: skip
    assert first.at == auth.clock() and first.at.tzinfo is not None


def test_account_flows_are_recorded(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True, usernames=True, multiple_emails=True, passwordless=True)
    r = auth.sign_up("alice@example.com", PASSWORD, "alice", ip=IP)
    alice = r.user
    auth.confirm_email(token_from(outbox, "confirm_email"), ip=IP)
    token = auth.sign_in("alice@example.com", PASSWORD).token
    auth.change_username(alice, "alicia", PASSWORD, token=token)
    auth.change_password(alice, PASSWORD, NEW_PASSWORD, current_token=token)
    auth.reauthenticate(token, NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.reauthenticate(token, PASSWORD)
    auth.add_email(alice, "alice2@example.com", NEW_PASSWORD, token=token)
    auth.confirm_email(token_from(outbox, "email_add_confirm"))
    extra = auth.list_emails(alice)[1]["id"]
    auth.make_primary_email(alice, extra, NEW_PASSWORD, token=token)
    token = auth.sign_in("alice2@example.com", NEW_PASSWORD).token
    auth.remove_email(alice, auth.list_emails(alice)[1]["id"], token=token)
    auth.change_email(alice, "alice3@example.com", NEW_PASSWORD, token=token)
    auth.confirm_email(token_from(outbox, "email_change_confirm"))
    auth.forgot_password("alice3@example.com", ip=IP)
    auth.reset_password(token_from(outbox, "reset_password"), PASSWORD)
    auth.send_login_link("alice3@example.com")
    link = auth.sign_in_with_link(token_from(outbox, "login_link"))
    other = auth.sign_in("alice3@example.com", PASSWORD).token
    auth.revoke_session(alice, auth.get_session(other).id)
    auth.sign_in("alice3@example.com", PASSWORD)
    auth.revoke_other_sessions(alice, link.token)
    auth.sign_out(link.token)

    assert [(k, o) for k, o, _ in kinds(auth, alice)] == [
        ("sign_up", "success"),
        ("email_confirm", "success"),
        ("sign_in", "success"),
        ("username_change", "success"),
        ("password_change", "success"),
        ("reauthenticate", "success"),
        ("reauthenticate", "failure"),
        ("email_add", "success"),
        ("email_confirm", "success"),
        ("email_make_primary", "success"),
        ("sign_in", "success"),
        ("email_remove", "success"),
        ("email_change_request", "success"),
        ("email_change", "success"),
        ("email_confirm", "success"),
        ("password_reset_request", "success"),
        ("password_reset", "success"),
        ("login_link_request", "success"),
        ("sign_in", "success"),
        ("sign_in", "success"),
        ("session_revoke", "success"),
        ("sign_in", "success"),
        ("sessions_revoke_others", "success"),
        ("sign_out", "success"),
    ]
    details = kinds(auth, alice)
    assert details[1][2] == {"purpose": "confirm_email"} and details[8][2] == {"purpose": "add_email"}
    assert details[6][2] == {"reason": "password"} and details[18][2] == {"factor": "email_link"}
    assert details[22][2] == {"count": 1}
    assert auth.audit.events(alice, kinds="password_reset_request")[0].ip == IP


def test_refused_sensitive_changes_are_recorded(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(sign_in_max_failures=2)
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.change_email(r.user, "new@example.com", "wrong password", token=r.token)
    with pytest.raises(InvalidCredentials):
        auth.change_password(r.user, "wrong password", NEW_PASSWORD)
    with pytest.raises(RateLimited):
        auth.change_password(r.user, PASSWORD, NEW_PASSWORD)
    clock.advance(3600)
    with pytest.raises(ReauthRequired):
        auth.revoke_other_sessions(r.user, r.token)
    assert [(k, o, d.get("reason")) for k, o, d in kinds(auth, r.user)][1:] == [
        ("email_change_request", "failure", "password"),
        ("password_change", "failure", "password"),
        ("password_change", "failure", "throttled"),
        ("sessions_revoke_others", "failure", "reauth_required"),
    ]


def test_a_taken_address_records_the_same_event(mk: Callable[..., Auth]) -> None:
    """The user's own events (GET /security-events) must not tell whether an address is taken."""
    auth = mk(multiple_emails=True)
    alice = auth.sign_up("alice@example.com", PASSWORD)
    auth.sign_up("bob@example.com", PASSWORD)
    auth.change_email(alice.user, "bob@example.com", PASSWORD, token=alice.token)
    auth.change_email(alice.user, "free@example.com", PASSWORD, token=alice.token)
    auth.add_email(alice.user, "bob@example.com", PASSWORD, token=alice.token)
    auth.add_email(alice.user, "free2@example.com", PASSWORD, token=alice.token)
    events = auth.audit.events(alice.user, kinds=["email_change_request", "email_add"])
    assert [(e.kind, e.outcome, e.details) for e in events] == [
        ("email_add", "success", {}), ("email_add", "success", {}),
        ("email_change_request", "success", {}), ("email_change_request", "success", {}),
    ]  # fmt: skip


def test_sign_up_with_a_taken_address_is_recorded_for_its_owner(mk: Callable[..., Auth]) -> None:
    auth = mk(confirmable=True)
    owner = auth.sign_up("alice@example.com", PASSWORD).user
    auth.sign_up("Alice@example.com", "another long passphrase", ip=IP)
    assert kinds(auth, owner) == [("sign_up", "success", {}),
                                  ("sign_up", "failure", {"reason": "exists"})]  # fmt: skip


def test_admin_and_cli_actions_name_their_actor(auth: Auth) -> None:
    received: list[tuple[Any, str]] = []

    def on_deleted(sender: Any, user: Any, actor: str, **extra: Any) -> None:
        received.append((user.email, actor))

    signals.user_deleted.connect(on_deleted, weak=False)
    try:
        users = auth.users
        bob = users.create_user(email="bob@example.com", password=PASSWORD, confirmed=False)
        users.create_role("editor")
        users.add_role_to_user(bob, "editor")
        users.add_permissions_to_role("editor", "post.edit")
        users.remove_role_from_user(bob, "editor")
        users.deactivate_user(bob)
        users.activate_user(bob)
        users.confirm_user(bob)
        users.set_password(bob, NEW_PASSWORD)
        cli = users.acting_as("cli")
        cli.delete_role("editor")
        cli.delete_user(bob)
    finally:
        signals.user_deleted.disconnect(on_deleted)
    events = auth.audit.events(limit=100)[::-1]
    assert [(e.kind, e.actor, e.user_id == str(bob.id), e.details) for e in events] == [
        ("user_create", "admin", True, {}),
        ("role_create", "admin", False, {"role": "editor"}),
        ("role_add", "admin", True, {"role": "editor"}),
        ("role_permissions", "admin", False, {"role": "editor", "permissions": "post.edit"}),
        ("role_remove", "admin", True, {"role": "editor"}),
        ("user_deactivate", "admin", True, {}),
        ("user_activate", "admin", True, {}),
        ("user_confirm", "admin", True, {}),
        ("password_change", "admin", True, {}),
        ("role_delete", "cli", False, {"role": "editor"}),
        ("account_delete", "cli", True, {}),
    ]
    assert received == [("bob@example.com", "cli")]


def test_self_service_deletion_is_recorded_and_outlives_the_user(
    auth: Auth, signals_log: list[Any]
) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.delete_account(r.user, PASSWORD, token=r.token)
    assert [k for k, _, _ in kinds(auth, r.user)] == ["sign_up", "account_delete"]
    assert auth.audit.events(r.user)[0].actor == "user"
    assert ("user_deleted", {"user": r.user, "actor": "user"}) in signals_log


def test_every_kind_is_documented_and_recorded_somewhere() -> None:
    """A kind recorded by the code is listed (and so documented) in EVENT_KINDS."""
    import pathlib
    import re

    source = pathlib.Path(__file__).parents[2] / "src" / "authgate"
    recorded = set()
    for path in source.rglob("*.py"):
        text = path.read_text()
        recorded |= set(re.findall(r'audit\.record\(\s*(?:self\._ctx|ctx),\s*"(\w+)"', text))
        recorded |= set(re.findall(r'self\._record\(\s*"(\w+)"', text))
        recorded |= set(re.findall(
            r'(?:require_fresh|ensure_fresh|verify_current_password)\([^()]*kind="(\w+)"', text
        ))
    recorded |= {"user_activate", "user_deactivate"}  # one call names either
    assert recorded == set(EVENT_KINDS)


# -- never a secret (SECURITY.md #22) ----------------------------------------------------


def test_no_password_token_or_hash_in_events_or_log_lines(
    mk: Callable[..., Auth], outbox: OutboxMailer, caplog: pytest.LogCaptureFixture
) -> None:
    auth = mk(passwordless=True)
    caplog.set_level("INFO", logger="authgate.audit")
    r = auth.sign_up("alice@example.com", CANARY, ip=IP, user_agent="UA\nforged: line")
    secrets_seen = [CANARY, r.token]
    with pytest.raises(InvalidCredentials):
        auth.sign_in("evil\nname\x1b[31m@example.com", CANARY, user_agent="\x1b[2J")
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", CANARY + "-wrong")
    signed = auth.sign_in("alice@example.com", CANARY)
    auth.reauthenticate(signed.token, CANARY)
    with pytest.raises(InvalidCredentials):
        auth.reauthenticate(signed.token, CANARY + "-wrong")
    auth.forgot_password("alice@example.com")
    reset = token_from(outbox, "reset_password")
    auth.reset_password(reset, CANARY + "-new")
    auth.send_login_link("alice@example.com")
    link = token_from(outbox, "login_link")
    auth.sign_in_with_link(link)
    user = auth.users.get_user(r.user.id)
    secrets_seen += [signed.token, reset, link, CANARY + "-new", CANARY + "-wrong",
                     r.user.password_hash, r.user.security_stamp]  # fmt: skip
    if user.password_hash:
        secrets_seen.append(user.password_hash)

    stored = json.dumps([e.to_dict() for e in auth.audit.events(limit=1000)])
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "authgate.audit"]
    assert len(lines) == len(auth.audit.events(limit=1000)) >= 8
    for text in [stored, *lines]:
        for secret in secrets_seen:
            assert secret and secret not in text
        assert "\n" not in text and "\x1b" not in text
    assert json.loads(lines[0])["user_agent"] == "UA\nforged: line"  # escaped, not dropped


# -- never a failed flow --------------------------------------------------------------------


class FailingEvents(MemoryStore):
    def add_event(self, event: SecurityEvent) -> None:
        raise ServiceUnavailable()


def test_a_storage_failure_never_fails_the_flow(
    make_auth: Callable[..., Auth], caplog: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(store=FailingEvents())
    with caplog.at_level(logging.ERROR, logger="authgate.store"):
        r = auth.sign_up("alice@example.com", PASSWORD)
        with pytest.raises(InvalidCredentials):  # the flow's own error, not the store's
            auth.sign_in("alice@example.com", "wrong password")
        assert auth.sign_in("alice@example.com", PASSWORD).token
    assert auth.get_session(r.token).user.email == "alice@example.com"
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "authgate.store"]
    assert any("sign_up" in m and "ServiceUnavailable" in m for m in logged)
    assert len(logged) == 3 and all(PASSWORD not in m for m in logged)


def test_a_store_without_an_audit_trail_only_logs(make_auth: Callable[..., Auth]) -> None:
    class NoAudit:
        def __init__(self) -> None:
            self._inner = MemoryStore()

        def __getattr__(self, name: str) -> Any:
            if name in {"add_event", "list_events", "purge_events"}:
                raise AttributeError(name)
            return getattr(self._inner, name)

    auth = make_auth(store=NoAudit())
    assert not auth.audit.enabled
    auth.sign_up("alice@example.com", PASSWORD)  # events go to the log only
    with pytest.raises(FeatureDisabled):
        auth.audit.events()
    with pytest.raises(FeatureDisabled):
        auth.audit.purge()


# -- querying -----------------------------------------------------------------------------


def test_events_filters(auth: Auth, clock: Clock) -> None:
    alice = auth.sign_up("alice@example.com", PASSWORD).user
    start = clock()
    clock.advance(60)
    bob = auth.sign_up("bob@example.com", PASSWORD).user
    clock.advance(60)
    auth.sign_in("alice@example.com", PASSWORD)
    assert [e.kind for e in auth.audit.events(alice)] == ["sign_in", "sign_up"]
    assert [e.kind for e in auth.audit.events(str(alice.id))] == ["sign_in", "sign_up"]
    assert [e.user_id for e in auth.audit.events(bob)] == [str(bob.id)]
    assert [e.user_id for e in auth.audit.events(kinds=["sign_up"])] == [str(bob.id), str(alice.id)]
    assert len(auth.audit.events(since=start + dt.timedelta(seconds=60))) == 2
    assert [e.user_id for e in auth.audit.events(before=start + dt.timedelta(seconds=60))] == [
        str(alice.id)
    ]
    assert len(auth.audit.events(limit=1)) == 1


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"kinds": ["sign_inn"]}, "kinds"),
        ({"kinds": "nope"}, "kinds"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"since": dt.datetime(2026, 1, 1)}, "since"),  # naive
        ({"before": "2026-01-01"}, "before"),
        ({"since": dt.datetime.fromisoformat("0001-01-01T00:00:00+01:00")}, "since"),
    ],
)
def test_events_refuses_bad_filters(auth: Auth, filters: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        auth.audit.events(**filters)
    assert info.value.fields == {field: "invalid"}


# -- retention -----------------------------------------------------------------------------


def test_purge_keeps_the_retention(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(audit_retention=7 * 86400)
    auth.sign_up("alice@example.com", PASSWORD)
    clock.advance(6 * 86400)
    auth.sign_in("alice@example.com", PASSWORD)
    clock.advance(2 * 86400)
    assert auth.audit.purge() == 1  # the sign-up, 8 days old
    assert [e.kind for e in auth.audit.events()] == ["sign_in"]
    assert auth.audit.purge(86400) == 1
    assert auth.audit.events() == []
    with pytest.raises(ValidationError):
        auth.audit.purge(0)
    with pytest.raises(ValidationError):
        auth.audit.purge(10**12)  # reaches back before year 1


def test_no_retention_keeps_everything(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(audit_retention=None)
    auth.sign_up("alice@example.com", PASSWORD)
    clock.advance(10 * 365 * 86400)
    auth.sign_in("alice@example.com", PASSWORD)
    auth.audit.wait()
    assert auth.audit.purge() == 0
    assert len(auth.audit.events()) == 2


def test_old_events_are_purged_in_the_background_once_an_hour(
    make_auth: Callable[..., Auth], clock: Clock
) -> None:
    auth = make_auth(audit_retention=3600)
    auth.sign_up("alice@example.com", PASSWORD)  # the first event starts the hour
    assert auth.audit._purging is None
    clock.advance(PURGE_INTERVAL.total_seconds() - 1)
    auth.sign_in("alice@example.com", PASSWORD)
    assert auth.audit._purging is None  # not yet an hour
    clock.advance(2)
    auth.sign_in("alice@example.com", PASSWORD)  # an hour on: the purge starts, off this call
    thread = auth.audit._purging
    assert thread is not None and thread.name == "authgate-audit-purge"
    auth.audit.wait()
    assert [e.kind for e in auth.audit.events()] == ["sign_in", "sign_in"]  # the sign-up is gone
    clock.advance(60)
    auth.sign_in("alice@example.com", PASSWORD)
    assert auth.audit._purging is thread  # at most once an hour


@pytest.mark.parametrize("value", [0, -1])
def test_audit_retention_must_be_positive(make_auth: Callable[..., Auth], value: int) -> None:
    with pytest.raises(ValueError, match="audit_retention"):
        make_auth(audit_retention=value)


def test_audit_retention_from_the_environment() -> None:
    from authgate import Settings

    assert Settings.from_mapping({"AUTHGATE_AUDIT_RETENTION": "none"}, secret="s" * 32).audit_retention is None
    assert Settings.from_mapping({"AUTHGATE_AUDIT_RETENTION": "60"}, secret="s" * 32).audit_retention == 60


@pytest.mark.parametrize("actor", ["", "x" * 17, None])
def test_acting_as_takes_a_short_name(auth: Auth, actor: Any) -> None:
    with pytest.raises(ValueError, match="acting_as"):
        auth.users.acting_as(actor)
    assert auth.users.acting_as("support").actor == "support"
