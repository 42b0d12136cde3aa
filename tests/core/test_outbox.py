"""The durable outbox of security notices (SECURITY.md R6, F8b), from Python on the memory
store; the SQL stores run the same contract in ``tests/stores`` and under faults in
``tests/faults/test_f08_crash.py``.

Every notice is stored with the change it reports, sent once after the flow,
resent after a failure until a mailer takes it (with a growing delay), given
up after ``outbox_max_attempts`` with an ERROR; emails with a link to use are
never stored; a write refused by its condition stores nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authgate import Auth
from authgate.errors import InvalidToken
from authgate.mail import EmailMessage
from authgate.models import utcnow
from authgate.outbox import NOTICE_KINDS, Outbox
from authgate.testing import OutboxMailer, links
from tests.passkeys.authenticator import Authenticator

from .conftest import PASSWORD, SECRET, Clock

NEW_PASSWORD = "new staple battery horse"
ALICE = "alice@example.com"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_auth: Callable[..., Auth], outbox: OutboxMailer) -> Iterator[Callable[..., Auth]]:
    """``mk(**settings)``: an Auth mailing to ``outbox``; closed (dispatcher stopped) after."""
    made: list[Auth] = []

    def factory(**settings: Any) -> Auth:
        auth = make_auth(send_email=outbox, base_url="https://app.example", **settings)
        made.append(auth)
        return auth

    yield factory
    for auth in made:
        auth.close()


def token_from(outbox: OutboxMailer, kind: str) -> str:
    return parse_qs(urlsplit(links(outbox.last(kind))[0]).query)["token"][0]


# -- every notice, from the flow that sends it ---------------------------------------------


@dataclass
class Scenario:
    """A flow that ends with a notice: ``prepare`` (emails with links may go out), then
    ``act`` makes the change; the notice goes to ``to``."""

    kind: str
    to: str
    settings: dict[str, Any]
    prepare: Callable[[Auth, OutboxMailer], Any]
    act: Callable[[Auth, OutboxMailer, Any], Any]


def _signed_up(auth: Auth, outbox: OutboxMailer) -> Any:
    return auth.sign_up(ALICE, PASSWORD, **({"username": "alice"} if auth.settings.usernames
                                            else {})).user  # fmt: skip


def _reset_link(auth: Auth, outbox: OutboxMailer) -> str:
    auth.sign_up(ALICE, PASSWORD)
    auth.forgot_password(ALICE)
    return token_from(outbox, "reset_password")


def _change_link(auth: Auth, outbox: OutboxMailer) -> str:
    auth.change_email(_signed_up(auth, outbox), "alice@new.example", PASSWORD)
    return token_from(outbox, "email_change_confirm")


def _confirmed_extra_address(auth: Auth, outbox: OutboxMailer) -> tuple[Any, str]:
    user = _signed_up(auth, outbox)
    auth.add_email(user, "alice@work.example", PASSWORD)
    auth.confirm_email(token_from(outbox, "email_add_confirm"))
    [extra] = [e for e in auth.list_emails(user) if not e["primary"]]
    return user, extra["id"]


def _passkey_options(auth: Auth, outbox: OutboxMailer) -> tuple[Any, Any]:
    user = _signed_up(auth, outbox)
    return user, auth.passkey_registration_options(user)


def _add_passkey(auth: Auth, user: Any, options: Any) -> tuple[Any, Any]:
    answer = Authenticator("https://app.example").create(options.to_dict())
    return user, auth.register_passkey(user, answer, options.state, name="Laptop")


SCENARIOS = [
    Scenario("password_changed", ALICE, {}, _signed_up,
             lambda a, o, user: a.change_password(user, PASSWORD, NEW_PASSWORD)),
    Scenario("password_reset", ALICE, {}, _reset_link,
             lambda a, o, token: a.reset_password(token, NEW_PASSWORD)),
    Scenario("username_changed", ALICE, {"usernames": True}, _signed_up,
             lambda a, o, user: a.change_username(user, "alicia", PASSWORD)),
    Scenario("email_changed", ALICE, {}, _change_link,
             lambda a, o, token: a.confirm_email(token)),
    Scenario("email_changed", ALICE, {"multiple_emails": True}, _confirmed_extra_address,
             lambda a, o, state: a.make_primary_email(state[0], state[1], PASSWORD)),
    Scenario("account_deleted", ALICE, {}, _signed_up,
             lambda a, o, user: a.delete_account(user, PASSWORD)),
    Scenario("registration_attempt", ALICE, {"confirmable": True}, _signed_up,
             lambda a, o, _: a.sign_up(ALICE, "another long password")),
    Scenario("registration_attempt", ALICE, {"notify_registered": False}, _signed_up,
             lambda a, o, _: a.change_email(a.sign_up("bob@example.com", PASSWORD).user,
                                            ALICE, PASSWORD)),
    Scenario("registration_attempt", ALICE, {"multiple_emails": True, "notify_registered": False},
             _signed_up,
             lambda a, o, _: a.add_email(a.sign_up("bob@example.com", PASSWORD).user,
                                         ALICE, PASSWORD)),
    Scenario("welcome", ALICE, {}, lambda a, o: None,
             lambda a, o, _: a.sign_up(ALICE, PASSWORD)),
    Scenario("passkey_added", ALICE, {"passkeys": True}, _passkey_options,
             lambda a, o, state: _add_passkey(a, *state)),
    Scenario("passkey_removed", ALICE, {"passkeys": True},
             lambda a, o: _add_passkey(a, *_passkey_options(a, o)),
             lambda a, o, state: a.delete_passkey(state[0], state[1].id)),
    Scenario("two_factor_changed", ALICE, {"two_factor": True}, _signed_up,
             lambda a, o, user: a.reset_two_factor(user)),
]  # fmt: skip
IDS = [
    "password_changed", "password_reset", "username_changed", "email_changed",
    "email_made_primary", "account_deleted", "registration_attempt_sign_up",
    "registration_attempt_change_email", "registration_attempt_add_email", "welcome",
    "passkey_added", "passkey_removed",
    "two_factor_changed",
]  # fmt: skip


def test_the_scenarios_cover_every_notice_kind() -> None:
    assert {s.kind for s in SCENARIOS} == NOTICE_KINDS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_a_notice_is_sent_once_and_leaves_the_outbox(
    mk: Callable[..., Auth], outbox: OutboxMailer, scenario: Scenario
) -> None:
    auth = mk(**scenario.settings)
    state = scenario.prepare(auth, outbox)
    outbox.clear()
    scenario.act(auth, outbox, state)
    [message] = outbox.find(scenario.kind)
    assert message.to == scenario.to
    assert auth.outbox.pending() == []  # removed once the mailer took it
    assert auth.outbox.flush().sent == 0  # nothing left to resend


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_a_notice_the_mailer_refused_is_sent_again_once(
    mk: Callable[..., Auth], outbox: OutboxMailer, scenario: Scenario, clock: Clock,
    caplog: pytest.LogCaptureFixture, signals_log: list[Any],
) -> None:  # fmt: skip
    auth = mk(**scenario.settings)
    state = scenario.prepare(auth, outbox)
    outbox.clear()
    outbox.fail = True
    with caplog.at_level(logging.WARNING, logger="authgate.mail"):
        scenario.act(auth, outbox, state)  # the change goes ahead, the answer is the usual one
    [waiting] = auth.outbox.pending()
    assert (waiting.kind, waiting.to, waiting.attempts) == (scenario.kind, scenario.to, 1)
    assert waiting.next_attempt_at == clock.now + dt.timedelta(seconds=60)
    [line] = [r for r in caplog.records if r.name == "authgate.mail"]
    assert line.levelname == "WARNING" and "stays in the outbox" in line.getMessage()
    assert [kw["kind"] for name, kw in signals_log if name == "mail_failed"] == [scenario.kind]
    assert auth.outbox.dispatching  # a thread resends it (this test drives it by hand)

    outbox.fail = False
    assert auth.outbox.flush().sent == 0  # not due yet
    clock.advance(60)
    report = auth.outbox.flush()
    assert (report.sent, report.failed, report.waiting) == (1, 0, False)
    [message] = outbox.find(scenario.kind)
    assert message.to == scenario.to and message.subject == waiting.subject
    assert message.text == waiting.text and "token=" not in message.text
    clock.advance(3600)
    assert auth.outbox.flush().sent == 0 and len(outbox.find(scenario.kind)) == 1


def test_a_resent_notice_carries_its_user(mk: Callable[..., Auth], outbox: OutboxMailer,
                                          clock: Clock) -> None:  # fmt: skip
    auth = mk()
    user = _signed_up(auth, outbox)
    outbox.fail = True
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    auth.delete_account(user, NEW_PASSWORD)
    outbox.fail = False
    clock.advance(60)
    assert auth.outbox.flush().sent == 2
    changed, deleted = outbox.find("password_changed")[0], outbox.find("account_deleted")[0]
    assert changed.user_id == deleted.user_id == str(user.id)
    assert changed.user is None and deleted.user is None  # the account is gone by now


def test_the_first_delivery_hands_over_the_changed_user(mk: Callable[..., Auth],
                                                        outbox: OutboxMailer) -> None:  # fmt: skip
    auth = mk(usernames=True)
    user = _signed_up(auth, outbox)
    auth.change_username(user, "alicia", PASSWORD)
    message = outbox.last("username_changed")
    assert message.user.username == "alicia" and message.user_id == str(user.id)
    assert '"alice" to "alicia"' in message.text


# -- retries, backoff, giving up -------------------------------------------------------------


def test_retries_wait_longer_each_time_then_give_up(
    mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock,
    caplog: pytest.LogCaptureFixture, signals_log: list[Any],
) -> None:  # fmt: skip
    auth = mk(outbox_retry_delay=1000, outbox_max_attempts=6)
    user = _signed_up(auth, outbox)
    outbox.fail = True
    caplog.set_level(logging.WARNING, logger="authgate.mail")
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    waits = []
    for attempt in range(2, 7):
        [notice] = auth.outbox.pending()
        assert notice.attempts == attempt - 1
        wait = notice.next_attempt_at - clock.now
        waits.append(int(wait.total_seconds()))
        clock.advance(wait.total_seconds() - 1)
        assert auth.outbox.flush().failed == 0  # one second early: not due
        clock.advance(1)
        report = auth.outbox.flush()
        assert (report.failed, report.given_up) == ((1, 0) if attempt < 6 else (0, 1))
    assert waits == [1000, 2000, 3600, 3600, 3600]  # doubling, at most an hour apart
    assert auth.outbox.pending() == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "password_changed" in errors[0]
    assert "gave up after 6 attempts" in errors[0] and str(user.id) in errors[0]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 5
    assert sum(name == "mail_failed" for name, _ in signals_log) == 6
    assert outbox.find("password_changed") == []


def test_a_notice_never_delivered_is_sent_when_due(
    mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process stopped between the commit and the delivery (F8b in one process)."""
    auth = mk()
    user = _signed_up(auth, outbox)
    outbox.clear()
    monkeypatch.setattr(auth.outbox, "deliver", lambda *args, **kwargs: None)
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    [notice] = auth.outbox.pending()
    assert notice.attempts == 0 and outbox.messages == []
    clock.advance(59)
    assert auth.outbox.flush().sent == 0  # the first delivery still owns it
    clock.advance(1)
    assert auth.outbox.flush().sent == 1
    assert [m.kind for m in outbox.messages] == ["password_changed"]


def test_a_last_delivery_that_never_finished_is_given_up(
    mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    auth = mk(outbox_max_attempts=1, outbox_retry_delay=30)
    user = _signed_up(auth, outbox)
    outbox.clear()
    auth.outbox.deliver = lambda *args, **kwargs: None  # type: ignore[method-assign]
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    [notice] = auth.outbox.pending()
    assert auth.store.claim_notice(notice.id, 0, clock.now)  # claimed, then the process died
    with caplog.at_level(logging.ERROR, logger="authgate.mail"):
        assert auth.outbox.flush().given_up == 1
    assert "gave up" in caplog.text and auth.outbox.pending() == [] and outbox.messages == []


def test_a_notice_claimed_elsewhere_is_skipped(mk: Callable[..., Auth], outbox: OutboxMailer,
                                               clock: Clock) -> None:  # fmt: skip
    auth = mk()
    user = _signed_up(auth, outbox)
    outbox.fail = True
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    outbox.fail = False
    clock.advance(60)
    assert len(auth.outbox.pending()) == 1
    real = auth.store.list_notices
    # Another process claims it between this pass's read and its claim.
    auth.store.list_notices = lambda **kw: [  # type: ignore[method-assign]
        n for n in real(**kw) if auth.store.claim_notice(n.id, n.attempts, clock.now) or True
    ]
    assert auth.outbox.flush().skipped == 1
    assert outbox.find("password_changed") == []


# -- what is never stored, and what is never kept ----------------------------------------------


def test_emails_with_a_link_are_never_stored(mk: Callable[..., Auth], outbox: OutboxMailer,
                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    auth = mk(confirmable=True, passwordless=True, multiple_emails=True,
              login_without_confirmation=True)  # fmt: skip
    admin = auth.users.create_user(email="admin@example.com", password=PASSWORD)
    outbox.fail = True
    with caplog.at_level(logging.ERROR, logger="authgate.mail"):
        user = auth.sign_up(ALICE, PASSWORD).user  # confirm_email
        auth.forgot_password(ALICE)  # reset_password
        auth.send_login_link(ALICE)  # login_link
        auth.invite("carol@example.com", invited_by=admin)  # invitation
        auth.change_email(user, "alice@new.example", PASSWORD)  # email_change_confirm
        auth.add_email(user, "alice@work.example", PASSWORD)  # email_add_confirm
    kinds = {"confirm_email", "reset_password", "login_link", "invitation",
             "email_change_confirm", "email_add_confirm"}  # fmt: skip
    assert {k for k in kinds if f"could not deliver {k} email" in caplog.text} == kinds
    assert auth.outbox.pending() == []  # lost, and asked for again by the user
    assert not kinds & NOTICE_KINDS
    for kind in kinds:
        with pytest.raises(ValueError, match="never stored"):
            auth.outbox.prepare(kind, ALICE, user, link="https://app.example/auth/x?token=t")


def test_a_refused_change_keeps_no_notice(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    token = _reset_link(auth, outbox)
    alice = auth.users.get_user(ALICE)
    auth.change_password(alice, PASSWORD, NEW_PASSWORD)  # the reset link dies with it
    outbox.clear()
    with pytest.raises(InvalidToken):
        auth.reset_password(token, "a third long password")
    assert auth.outbox.pending() == [] and outbox.messages == []

    auth.change_email(alice, "taken@example.com", NEW_PASSWORD)
    change = token_from(outbox, "email_change_confirm")
    auth.sign_up("taken@example.com", PASSWORD)  # the address is taken meanwhile
    outbox.clear()
    with pytest.raises(InvalidToken):
        auth.confirm_email(change)
    assert auth.outbox.pending() == [] and outbox.find("email_changed") == []


def test_a_broken_template_never_stops_the_change(
    make_auth: Callable[..., Auth], outbox: OutboxMailer, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    broken = tmp_path / "authgate" / "email"
    broken.mkdir(parents=True)
    (broken / "password_changed.txt").write_text("{{ no_such_value }}")
    auth = make_auth(send_email=outbox, template_dirs=[str(tmp_path)])
    user = _signed_up(auth, outbox)
    with caplog.at_level(logging.ERROR, logger="authgate.mail"):
        auth.change_password(user, PASSWORD, NEW_PASSWORD)
    assert auth.sign_in(ALICE, NEW_PASSWORD).token  # changed
    assert "could not deliver password_changed email" in caplog.text
    assert auth.outbox.pending() == [] and outbox.find("password_changed") == []


def test_a_welcome_for_an_invitation_lost_to_a_race_is_discarded(
    mk: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    auth = mk(invite_only=True)
    token = auth.invite("bob@example.com")
    auth.sign_up("bob@example.com", PASSWORD, invite_token=token)
    auth.delete_account(auth.users.get_user("bob@example.com"), PASSWORD)
    outbox.clear()
    with pytest.raises(InvalidToken):  # the invitation was used: the new account is undone
        auth.sign_up("bob@example.com", PASSWORD, invite_token=token)
    assert auth.outbox.pending() == [] and outbox.find("welcome") == []


# -- the dispatcher thread, Auth start, several dispatchers -------------------------------------


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_dispatcher_thread_resends_then_stops(mk: Callable[..., Auth],
                                                  outbox: OutboxMailer) -> None:  # fmt: skip
    later = [0]  # seconds the clock is moved on (past the retry delay)
    auth = mk(clock=lambda: utcnow() + dt.timedelta(seconds=later[0]))
    auth.outbox.poll_interval = 0.05
    user = _signed_up(auth, outbox)
    outbox.fail = True
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    assert auth.outbox.dispatching
    time.sleep(0.2)  # passes go by: nothing is due yet
    assert auth.outbox.dispatching and len(auth.outbox.pending()) == 1
    outbox.fail = False
    later[0] = 61
    _wait_for(lambda: len(outbox.find("password_changed")) == 1)
    _wait_for(lambda: not auth.outbox.dispatching)  # nothing waits: the thread ends
    assert auth.outbox.pending() == [] and len(outbox.find("password_changed")) == 1


def test_close_stops_the_dispatcher(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    user = _signed_up(auth, outbox)
    outbox.fail = True
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    assert auth.outbox.dispatching
    auth.close()
    assert not auth.outbox.dispatching
    assert len(auth.outbox.pending()) == 1  # kept for the next start


def test_a_dropped_auth_stops_its_dispatcher(make_auth: Callable[..., Auth]) -> None:
    import gc

    failing = OutboxMailer(fail=True)
    auth = make_auth(send_email=failing)
    user = _signed_up(auth, failing)
    auth.change_password(user, PASSWORD, NEW_PASSWORD)
    thread = auth.outbox._thread
    assert thread is not None and thread.is_alive()
    del auth, user
    for _ in range(100):  # collected once the thread holds no reference (between passes)
        gc.collect()
        thread.join(0.05)
        if not thread.is_alive():
            break
    assert not thread.is_alive()


def test_auth_start_sends_what_another_process_left(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    crashed = Auth(SECRET, database_url=url, clock=clock, argon2_memory_cost=1024,
                   argon2_time_cost=1, send_email=OutboxMailer())  # fmt: skip
    try:
        user = crashed.sign_up(ALICE, PASSWORD).user
        monkeypatch.setattr(crashed.outbox, "deliver", lambda *args, **kwargs: None)
        crashed.change_password(user, PASSWORD, NEW_PASSWORD)  # ...and the process dies here
    finally:
        crashed.close()
    clock.advance(60)
    restarted_outbox = OutboxMailer()
    restarted = Auth(SECRET, database_url=url, clock=clock, argon2_memory_cost=1024,
                     argon2_time_cost=1, send_email=restarted_outbox)  # fmt: skip
    try:
        _wait_for(lambda: len(restarted_outbox.find("password_changed")) == 1)
        _wait_for(lambda: not restarted.outbox.dispatching)
        assert restarted.outbox.pending() == []
        assert restarted_outbox.last("password_changed").to == ALICE
    finally:
        restarted.close()


def test_two_dispatchers_never_send_one_notice_twice(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}?timeout=30"
    sent: list[EmailMessage] = []
    lock = threading.Lock()

    def slow_mailer(message: EmailMessage) -> None:
        time.sleep(0.002)
        with lock:
            sent.append(message)

    auths = [Auth(SECRET, database_url=url, clock=clock, send_email=slow_mailer) for _ in "ab"]
    try:
        notices = [
            n
            for i in range(40)
            for n in auths[0].outbox.prepare("account_deleted", f"user{i}@example.com", None)
        ]
        auths[0].store.add_notices(notices)
        clock.advance(60)
        barrier = threading.Barrier(2)

        def run(auth: Auth) -> Any:
            barrier.wait()
            return auth.outbox.flush()

        threads_reports: list[Any] = []
        workers = [threading.Thread(target=lambda a=a: threads_reports.append(run(a))) for a in auths]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert sorted(m.to for m in sent) == sorted(n.to for n in notices)  # each exactly once
        assert sum(r.sent for r in threads_reports) == 40
        assert auths[1].outbox.pending() == []
    finally:
        for auth in auths:
            auth.close()


def test_the_outbox_is_part_of_the_context() -> None:
    auth = Auth(SECRET)
    assert isinstance(auth.outbox, Outbox) and auth.ctx.outbox is auth.outbox
    assert auth.outbox.pending() == [] and not auth.outbox.dispatching


def test_without_a_mailer_nothing_is_resent_until_one_is_given(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``authgate`` command from a shell (the console mailer) must not print and drop
    the notices the app's processes would send; an app given its mailer later sends them."""
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    crashed = Auth(SECRET, database_url=url, clock=clock, send_email=OutboxMailer())
    user = crashed.sign_up(ALICE, PASSWORD).user
    monkeypatch.setattr(crashed.outbox, "deliver", lambda *args, **kwargs: None)
    crashed.change_password(user, PASSWORD, NEW_PASSWORD)
    crashed.close()
    clock.advance(60)
    shell = Auth(SECRET, database_url=url, clock=clock)  # console mailer, debug off
    try:
        assert not shell.outbox.dispatching
        assert len(shell.outbox.pending()) == 1
        later = OutboxMailer()
        shell.mail.use(later)  # e.g. setup_for_flask(auth, app, send_email=...)
        _wait_for(lambda: len(later.find("password_changed")) == 1)
        _wait_for(lambda: not shell.outbox.dispatching)
        assert shell.outbox.pending() == []
    finally:
        shell.close()


def test_a_missing_outbox_table_is_a_warning_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="authgate.mail"):
        auth = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'empty.db'}",
                    create_tables=False, send_email=OutboxMailer())  # fmt: skip
    try:
        [line] = [r.getMessage() for r in caplog.records if r.name == "authgate.mail"]
        assert "authgate_outbox" in line and "authgate db upgrade" in line
        assert not auth.outbox.dispatching
    finally:
        auth.close()


def test_a_failure_after_the_commit_still_sends_the_notice(
    mk: Callable[..., Auth], outbox: OutboxMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is committed: whatever fails next (the session store, a receiver),
    the user is told at once, not at the next start."""
    from authgate import signals
    from authgate.errors import ServiceUnavailable

    auth = mk()
    user = _signed_up(auth, outbox)

    def broken_receiver(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("an app's receiver fails")

    signals.password_changed.connect(broken_receiver)
    try:
        with pytest.raises(RuntimeError):
            auth.change_password(user, PASSWORD, NEW_PASSWORD)
    finally:
        signals.password_changed.disconnect(broken_receiver)
    assert [m.kind for m in outbox.find("password_changed")] == ["password_changed"]

    def sessions_down(*args: Any, **kwargs: Any) -> int:
        raise ServiceUnavailable()

    monkeypatch.setattr(auth.ctx.sessions, "delete_user_sessions", sessions_down)
    auth.change_email(user, "alice@new.example", NEW_PASSWORD)
    with pytest.raises(ServiceUnavailable):
        auth.confirm_email(token_from(outbox, "email_change_confirm"))
    assert outbox.last("email_changed").to == ALICE
    assert auth.outbox.pending() == []
