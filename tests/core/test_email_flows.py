"""Email-driven flows from Python: confirmation, reset, change of address, magic links,
invitations and notifications, with every token failure (SPEC §2, SECURITY.md §1.5)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authgate import Auth
from authgate.errors import (
    AccountDisabled,
    AuthError,
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCredentials,
    InvalidToken,
    UserExists,
    ValidationError,
)
from authgate.testing import OutboxMailer, links

from .conftest import PASSWORD, Clock

NEW_PASSWORD = "new staple battery horse"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_auth: Callable[..., Auth], outbox: OutboxMailer) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        return make_auth(send_email=outbox, base_url="https://app.example", **settings)

    return factory


def token_from(outbox: OutboxMailer, kind: str, to: str | None = None) -> str:
    message = outbox.last(kind, to=to)
    url = links(message)[0]
    assert url.startswith("https://app.example/auth/")
    return parse_qs(urlsplit(url).query)["token"][0]


# -- confirmation ------------------------------------------------------------------------
def test_confirmation_flow(mk: Callable[..., Auth], outbox: OutboxMailer, signals_log: list[Any]) -> None:
    auth = mk(confirmable=True)
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert r.token is None
    message = outbox.last("confirm_email")
    assert message.to == "alice@example.com"
    assert "/auth/verify-email?token=" in message.text and message.html
    with pytest.raises(EmailNotConfirmed):
        auth.sign_in("alice@example.com", PASSWORD)
    result = auth.confirm_email(token_from(outbox, "confirm_email"))
    assert result.user.email_confirmed and result.token  # signed in after confirming
    assert auth.get_session(result.token).user.email_confirmed
    assert auth.sign_in("alice@example.com", PASSWORD).token
    assert "user_confirmed" in [name for name, _ in signals_log]


def test_confirmation_token_is_single_use(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    token = token_from(outbox, "confirm_email")
    auth.confirm_email(token)
    with pytest.raises(InvalidToken):
        auth.confirm_email(token)  # never signs anyone in a second time (FS #134)


def test_older_confirmation_links_die_once_confirmed(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    first = token_from(outbox, "confirm_email")
    auth.send_confirmation("alice@example.com")
    second = token_from(outbox, "confirm_email")
    assert first != second
    auth.confirm_email(second)
    with pytest.raises(InvalidToken):
        auth.confirm_email(first)


def test_confirmation_expires(mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock) -> None:
    auth = mk(confirmable=True, confirm_email_within=3600)
    auth.sign_up("alice@example.com", PASSWORD)
    token = token_from(outbox, "confirm_email")
    clock.advance(3601)
    with pytest.raises(InvalidToken):
        auth.confirm_email(token)


def test_resend_says_nothing_about_the_address(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    outbox.clear()
    assert auth.send_confirmation("nobody@example.com") is None
    assert auth.send_confirmation("ALICE@example.com") is None
    assert [m.to for m in outbox.messages] == ["alice@example.com"]  # the stored address


def test_resend_is_limited_per_address(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True, email_send_limit=3)
    auth.sign_up("alice@example.com", PASSWORD)
    for _ in range(6):
        auth.send_confirmation("alice@example.com")
    # The sign-up's own link counts: at most 3 confirmation emails in the hour.
    assert len(outbox.find("confirm_email")) == 3


def test_send_confirmation_needs_the_feature(mk: Callable[..., Auth]) -> None:
    with pytest.raises(FeatureDisabled):
        mk().send_confirmation("alice@example.com")


def test_existing_address_gets_a_notice_not_an_error(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    outbox.clear()
    again = auth.sign_up("ALICE@example.com", "another fine password")
    assert again.token is None
    assert [(m.kind, m.to) for m in outbox.messages] == [("registration_attempt", "alice@example.com")]


def test_welcome_email_when_confirmation_is_off(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    mk().sign_up("alice@example.com", PASSWORD)
    assert outbox.last("welcome").to == "alice@example.com"
    outbox.clear()
    mk(notify_registered=False).sign_up("bob@example.com", PASSWORD)
    assert outbox.messages == []


def test_links_use_base_url_not_a_request_host(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    urls = links(outbox.last("confirm_email"))
    assert urls and all(url.rstrip("/").startswith("https://app.example") for url in urls)
    assert all("evil" not in url and "localhost" not in url for url in urls)


# -- reset ---------------------------------------------------------------------------------
def test_reset_flow(mk: Callable[..., Auth], outbox: OutboxMailer, signals_log: list[Any]) -> None:
    auth = mk()
    first = auth.sign_up("alice@example.com", PASSWORD)
    other = auth.sign_in("alice@example.com", PASSWORD)
    outbox.clear()
    auth.forgot_password("ALICE@EXAMPLE.COM")
    token = token_from(outbox, "reset_password", to="alice@example.com")
    result = auth.reset_password(token, NEW_PASSWORD)
    assert result.token is None  # no automatic sign-in by default
    for session in (first, other):
        assert auth.verify_token(session.token) is None  # every session ended
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", PASSWORD)
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token
    assert outbox.last("password_reset").to == "alice@example.com"
    names = [name for name, _ in signals_log]
    assert "reset_password_instructions_sent" in names and "password_reset" in names


def test_forgot_password_same_answer_for_unknown(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    outbox.clear()
    assert auth.forgot_password("nobody@example.com") is None
    assert outbox.messages == []
    with pytest.raises(ValidationError):
        auth.forgot_password("not an address")


def test_reset_token_single_use_and_dies_with_any_password_change(
    mk: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    used = token_from(outbox, "reset_password")
    auth.forgot_password("alice@example.com")
    spare = token_from(outbox, "reset_password")
    auth.reset_password(used, NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        auth.reset_password(used, "yet another password")
    with pytest.raises(InvalidToken):
        auth.reset_password(spare, "yet another password")  # died with the first reset
    auth.forgot_password("alice@example.com")
    late = token_from(outbox, "reset_password")
    auth.change_password(r.user, NEW_PASSWORD, "changed meanwhile here")
    with pytest.raises(InvalidToken):
        auth.reset_password(late, "yet another password")


def test_reset_token_expires(mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    token = token_from(outbox, "reset_password")
    clock.advance(3601)  # default: one hour
    with pytest.raises(InvalidToken):
        auth.reset_password(token, NEW_PASSWORD)


def test_weak_new_password_does_not_use_up_the_link(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    token = token_from(outbox, "reset_password")
    with pytest.raises(ValidationError) as info:
        auth.reset_password(token, "short")
    assert info.value.fields == {"new_password": "too_short"}
    auth.reset_password(token, NEW_PASSWORD)


def test_reset_clears_the_sign_in_throttle(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            auth.sign_in("alice@example.com", "wrong password!")
    auth.forgot_password("alice@example.com")  # still available while throttled
    auth.reset_password(token_from(outbox, "reset_password"), NEW_PASSWORD)
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token


def test_login_after_reset(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(login_after_reset=True)
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    result = auth.reset_password(token_from(outbox, "reset_password"), NEW_PASSWORD)
    assert auth.get_session(result.token).user.email == "alice@example.com"


def test_inactive_users_get_no_reset(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    token = token_from(outbox, "reset_password")
    auth.users.deactivate_user("alice@example.com")
    outbox.clear()
    auth.forgot_password("alice@example.com")
    assert outbox.messages == []
    with pytest.raises(InvalidToken):  # the stamp rotated with deactivation
        auth.reset_password(token, NEW_PASSWORD)


def test_concurrent_reset_redemptions_exactly_one_wins(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    token = token_from(outbox, "reset_password")
    outbox.clear()
    barrier = threading.Barrier(10)

    def redeem(n: int) -> str:
        barrier.wait()
        try:
            auth.reset_password(token, f"new password number {n}")
        except AuthError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(redeem, range(10)))
    assert outcomes.count("ok") == 1
    assert outcomes.count("INVALID_TOKEN") == 9
    assert len(outbox.find("password_reset")) == 1


# -- cross-purpose and tampering -------------------------------------------------------------
def test_tokens_are_bound_to_their_purpose(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(confirmable=True, passwordless=True)
    auth.sign_up("alice@example.com", PASSWORD)
    confirm = token_from(outbox, "confirm_email")
    auth.forgot_password("alice@example.com")
    reset = token_from(outbox, "reset_password")
    auth.send_login_link("alice@example.com")
    login = token_from(outbox, "login_link")
    session = auth.users.create_user(email="bob@example.com", password=PASSWORD)
    bearer = auth.sign_in("bob@example.com", PASSWORD).token
    del session
    with pytest.raises(InvalidToken):
        auth.reset_password(confirm, NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        auth.sign_in_with_link(reset)
    with pytest.raises(InvalidToken):
        auth.confirm_email(login)
    for token in (bearer, reset, login):
        with pytest.raises(InvalidToken):
            auth.confirm_email(token)
    with pytest.raises(InvalidToken):
        auth.sign_in_with_link(bearer)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-3] + ("A" if t[-3] != "A" else "B") + t[-2:],  # in the signature
    lambda t: t[:10] + ("x" if t[10] != "x" else "y") + t[11:],
    lambda t: t + "x",
    lambda t: t.split(".")[0],
    lambda t: "",
])  # fmt: skip
def test_tampered_tokens(mk: Callable[..., Auth], outbox: OutboxMailer, mangle: Callable[[str], str]) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    token = token_from(outbox, "reset_password")
    with pytest.raises(InvalidToken):
        auth.reset_password(mangle(token), NEW_PASSWORD)
    auth.reset_password(token, NEW_PASSWORD)


def test_token_of_another_secret_is_refused(mk: Callable[..., Auth], outbox: OutboxMailer,
                                            make_auth: Callable[..., Auth]) -> None:  # fmt: skip
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")
    token = token_from(outbox, "reset_password")
    other = Auth("another-secret-" + "y" * 32, store=auth.store, send_email=outbox,
                 argon2_memory_cost=1024, argon2_time_cost=1)  # fmt: skip
    with pytest.raises(InvalidToken):
        other.reset_password(token, NEW_PASSWORD)


# -- change of email ----------------------------------------------------------------------------
def test_change_email(mk: Callable[..., Auth], outbox: OutboxMailer, signals_log: list[Any]) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    outbox.clear()
    auth.change_email(r.user, "alice@new.example", PASSWORD)
    assert auth.users.get_user(r.user.id).email == "alice@example.com"  # not yet
    message = outbox.last("email_change_confirm")
    assert message.to == "alice@new.example"
    result = auth.confirm_email(token_from(outbox, "email_change_confirm"))
    user = auth.users.get_user(r.user.id)
    assert user.email == "alice@new.example" and user.email_confirmed
    assert auth.verify_token(r.token) is None  # a credential change ends sessions
    # Confirming the new address proves that mailbox, not the account: no session (S7).
    assert result.token is None and result.session is None
    notice = outbox.last("email_changed")
    assert notice.to == "alice@example.com"  # the OLD address is told
    assert auth.sign_in("alice@new.example", PASSWORD).token
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", PASSWORD)
    assert any(name == "email_changed" and kw["old_email"] == "alice@example.com"
               for name, kw in signals_log)  # fmt: skip


def test_change_email_needs_the_password(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    outbox.clear()
    with pytest.raises(InvalidCredentials):
        auth.change_email(r.user, "alice@new.example", "not my password")
    assert outbox.messages == []
    with pytest.raises(ValidationError) as info:
        auth.change_email(r.user, "bad address", PASSWORD)
    assert info.value.fields == {"new_email": "invalid"}


def test_change_email_to_a_taken_address_reveals_nothing(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.sign_up("bob@example.com", PASSWORD)
    outbox.clear()
    assert auth.change_email(r.user, "BOB@example.com", PASSWORD) is None
    assert [(m.kind, m.to) for m in outbox.messages] == [("registration_attempt", "bob@example.com")]


def test_change_email_link_dies_with_a_password_change(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.change_email(r.user, "alice@new.example", PASSWORD)
    token = token_from(outbox, "email_change_confirm")
    auth.change_password(r.user, PASSWORD, NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        auth.confirm_email(token)
    assert auth.users.get_user(r.user.id).email == "alice@example.com"


def test_change_email_link_is_single_use(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.change_email(r.user, "alice@new.example", PASSWORD)
    token = token_from(outbox, "email_change_confirm")
    auth.confirm_email(token)
    with pytest.raises(InvalidToken):
        auth.confirm_email(token)


def test_change_email_switched_off(mk: Callable[..., Auth]) -> None:
    auth = mk(change_email=False)
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(FeatureDisabled):
        auth.change_email(r.user, "alice@new.example", PASSWORD)


# -- magic links ------------------------------------------------------------------------------------
def test_magic_link(mk: Callable[..., Auth], outbox: OutboxMailer, clock: Clock) -> None:
    auth = mk(passwordless=True)
    auth.sign_up("alice@example.com", PASSWORD)
    auth.send_login_link("Alice@example.com")
    token = token_from(outbox, "login_link", to="alice@example.com")
    result = auth.sign_in_with_link(token)
    assert auth.get_session(result.token).user.email == "alice@example.com"
    with pytest.raises(InvalidToken):
        auth.sign_in_with_link(token)
    auth.send_login_link("alice@example.com")
    late = token_from(outbox, "login_link")
    clock.advance(601)  # ten minutes
    with pytest.raises(InvalidToken):
        auth.sign_in_with_link(late)


def test_magic_link_unknown_address_and_feature_switch(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(passwordless=True)
    outbox.clear()
    assert auth.send_login_link("nobody@example.com") is None
    assert outbox.messages == []
    with pytest.raises(FeatureDisabled):
        mk().send_login_link("alice@example.com")


def test_magic_link_removes_a_squatters_password(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    """Someone signed up with the victim's address before the victim used a link."""
    auth = mk(passwordless=True, confirmable=True, login_without_confirmation=True)
    squatter = auth.sign_up("victim@example.com", "squatter knows this")
    auth.send_login_link("victim@example.com")
    result = auth.sign_in_with_link(token_from(outbox, "login_link"))
    assert result.user.email_confirmed and result.user.password_hash is None
    assert auth.verify_token(squatter.token) is None
    with pytest.raises(InvalidCredentials):
        auth.sign_in("victim@example.com", "squatter knows this")


def test_magic_link_for_a_disabled_account(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(passwordless=True)
    auth.sign_up("alice@example.com", PASSWORD)
    auth.send_login_link("alice@example.com")
    token = token_from(outbox, "login_link")
    auth.users.deactivate_user("alice@example.com")
    with pytest.raises(InvalidToken):  # the stamp rotated
        auth.sign_in_with_link(token)
    outbox.clear()
    auth.users.activate_user("alice@example.com")
    auth.send_login_link("alice@example.com")
    token = token_from(outbox, "login_link")
    user = auth.users.get_user("alice@example.com")
    auth.store.update_user(user.id, {"is_active": False})  # deactivated behind our back
    with pytest.raises(AccountDisabled):
        auth.sign_in_with_link(token)


# -- invitations ----------------------------------------------------------------------------------------
def test_invite_only_sign_up(mk: Callable[..., Auth], outbox: OutboxMailer, signals_log: list[Any]) -> None:
    auth = mk(invite_only=True)
    admin = auth.users.create_user(email="admin@example.com", password=PASSWORD, roles=["admin"])
    with pytest.raises(FeatureDisabled):
        auth.sign_up("new@example.com", PASSWORD)
    token = auth.invite("new@example.com", invited_by=admin)
    assert token == token_from(outbox, "invitation", to="new@example.com")
    with pytest.raises(InvalidToken):
        auth.sign_up("other@example.com", PASSWORD, invite_token=token)  # another address
    r = auth.sign_up("NEW@example.com", PASSWORD, invite_token=token)
    assert r.user.email_confirmed and r.token
    with pytest.raises((InvalidToken, UserExists)):
        auth.sign_up("new@example.com", PASSWORD, invite_token=token)
    assert any(name == "user_invited" for name, _ in signals_log)


def test_invitation_expires_and_is_single_use(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk(invite_only=True, invite_within=3600)
    token = auth.invite("a@example.com")
    clock.advance(3601)
    with pytest.raises(InvalidToken):
        auth.sign_up("a@example.com", PASSWORD, invite_token=token)
    token = auth.invite("b@example.com")
    with pytest.raises(ValidationError):
        auth.sign_up("b@example.com", "short", invite_token=token)  # not used up
    auth.sign_up("b@example.com", PASSWORD, invite_token=token)
    auth.users.delete_user("b@example.com")
    with pytest.raises(InvalidToken):
        auth.sign_up("b@example.com", PASSWORD, invite_token=token)


def test_invite_existing_user(mk: Callable[..., Auth]) -> None:
    auth = mk()
    auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(UserExists):
        auth.invite("Alice@example.com")


# -- notifications and mail failures -----------------------------------------------------------------------
def test_change_notifications(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk(usernames=True)
    r = auth.sign_up("alice@example.com", PASSWORD, username="alice")
    auth.change_password(r.user, PASSWORD, NEW_PASSWORD)
    auth.change_username(r.user, "alicia", NEW_PASSWORD)
    assert outbox.last("password_changed").to == "alice@example.com"
    changed = outbox.last("username_changed")
    assert "alice" in changed.text and "alicia" in changed.text
    outbox.clear()
    quiet = mk(usernames=True, notify_password_changed=False, notify_username_changed=False)
    q = quiet.sign_up("q@example.com", PASSWORD, username="quiet")
    outbox.clear()
    quiet.change_password(q.user, PASSWORD, NEW_PASSWORD)
    quiet.change_username(q.user, "quieter", NEW_PASSWORD)
    assert outbox.messages == []


def test_mail_outage_never_loses_the_account(make_auth: Callable[..., Auth], signals_log: list[Any],
                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    broken = OutboxMailer(fail=True)
    auth = make_auth(send_email=broken, confirmable=True)
    r = auth.sign_up("alice@example.com", PASSWORD)  # same answer as with working mail
    assert r.token is None
    assert auth.users.get_user("alice@example.com") is not None
    assert any(name == "mail_failed" for name, _ in signals_log)
    assert "confirm_email" in caplog.text
    working = OutboxMailer()
    auth.mail.use(working)
    auth.send_confirmation("alice@example.com")  # resending works afterwards
    token = parse_qs(urlsplit(links(working.last("confirm_email"))[0]).query)["token"][0]
    assert auth.confirm_email(token).user.email_confirmed


def test_a_plain_callable_is_called_at_once(make_auth: Callable[..., Auth]) -> None:
    received: list[Any] = []
    auth = make_auth(send_email=received.append, confirmable=True)  # SPEC §7: send_email(message)
    auth.sign_up("alice@example.com", PASSWORD)
    [message] = received  # delivered before sign_up returned
    assert (message.kind, message.to, message.user.email) == ("confirm_email", "alice@example.com",
                                                               "alice@example.com")  # fmt: skip
    assert "/auth/verify-email?token=" in message.text and message.html and message.subject
    assert message.to_dict()["kind"] == "confirm_email"


def test_server_mailers_run_in_the_background(make_auth: Callable[..., Auth]) -> None:
    import threading as _threading

    threads: list[str] = []

    class ServerMailer:
        synchronous = False

        def send(self, message: Any) -> None:
            threads.append(_threading.current_thread().name)

    auth = make_auth(send_email=ServerMailer(), confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    auth.mail.flush()
    assert len(threads) == 1 and threads[0] != _threading.current_thread().name
