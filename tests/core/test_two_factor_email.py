"""Emailed codes as a user's own second factor (issue 11): turned on with a fresh session,
then a password sign-in asks for a code mailed to the account's address (or a recovery
code); wrong and reused codes fail; turning two-step verification off removes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import (
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    ReauthRequired,
    TwoFactorRequired,
    ValidationError,
)
from authgate.testing import OutboxMailer

from .conftest import PASSWORD, Clock
from .test_two_factor import ALICE, BOB, challenge_of, emailed_code, enrol


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_auth: Callable[..., Auth], outbox: OutboxMailer) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        return make_auth(two_factor=True, send_email=outbox, **settings)

    return factory


def turn_on(auth: Auth, email: str = ALICE) -> tuple[Any, str, list[str]]:
    result = auth.sign_up(email, PASSWORD)
    assert result.token is not None
    codes = auth.enable_email_codes(result.user, token=result.token)
    return result.user, result.token, codes


def test_enable_answers_ten_recovery_codes_and_sign_in_asks_for_an_emailed_code(
    mk: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    auth = mk()
    user, _, codes = turn_on(auth)
    assert len(codes) == 10 and len(set(codes)) == 10
    status = auth.two_factor_status(user)
    assert status["enabled"] is True and status["email"] is True and status["totp"] is False
    assert status["methods"] == ["email", "recovery_code"]
    assert status["recovery_codes_left"] == 10
    assert "Codes sent to this address" in outbox.find("two_factor_changed")[-1].text
    assert any(e.kind == "two_factor_enable" and e.details.get("method") == "email"
               for e in auth.audit.events(user))  # fmt: skip
    error = challenge_of(auth)
    assert error.methods == ["email", "recovery_code"]
    with pytest.raises(ValidationError):  # no app: totp is not a method of this challenge
        auth.verify_two_factor(error.challenge, "123456")
    auth.send_two_factor_code(error.challenge)
    code = emailed_code(outbox)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InvalidCode):
        auth.verify_two_factor(error.challenge, wrong, method="email")
    result = auth.verify_two_factor(error.challenge, code, method="email")
    assert result.token and str(result.user.id) == str(user.id)
    again = challenge_of(auth).challenge
    with pytest.raises((InvalidCode, InvalidToken)):  # single use
        auth.verify_two_factor(error.challenge, code, method="email")
    with pytest.raises(InvalidCode):  # not a code of the new challenge
        auth.verify_two_factor(again, code, method="email")


def test_a_recovery_code_completes_it_too(mk: Callable[..., Auth]) -> None:
    auth = mk()
    _, _, codes = turn_on(auth)
    assert auth.verify_two_factor(challenge_of(auth).challenge, codes[0],
                                  method="recovery_code").token  # fmt: skip
    with pytest.raises(InvalidCode):
        auth.verify_two_factor(challenge_of(auth).challenge, codes[0], method="recovery_code")


def test_enable_needs_a_fresh_session_of_that_user(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    result = auth.sign_up(ALICE, PASSWORD)
    bob = auth.sign_up(BOB, PASSWORD)
    with pytest.raises(InvalidToken):
        auth.enable_email_codes(result.user, token=bob.token)
    clock.advance(auth.settings.freshness + 1)
    with pytest.raises(ReauthRequired):
        auth.enable_email_codes(result.user, token=result.token)
    assert auth.two_factor_status(result.user)["enabled"] is False
    assert auth.sign_in(ALICE, PASSWORD).token  # nothing was turned on
    assert result.token is not None
    token = auth.reauthenticate(result.token, PASSWORD)
    assert len(auth.enable_email_codes(result.user, token=token)) == 10


def test_enable_twice_changes_nothing_and_keeps_the_codes(mk: Callable[..., Auth]) -> None:
    auth = mk()
    user, token, codes = turn_on(auth)
    assert auth.enable_email_codes(user, token=token) == []
    assert auth.two_factor_status(user)["recovery_codes_left"] == 10
    assert auth.verify_two_factor(challenge_of(auth).challenge, codes[3],
                                  method="recovery_code").token  # fmt: skip


def test_with_an_app_already_the_recovery_codes_stay(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    user, _, codes = enrol(auth, clock=clock)
    assert auth.enable_email_codes(user) == []
    assert auth.verify_two_factor(challenge_of(auth).challenge, codes[0],
                                  method="recovery_code").token  # fmt: skip
    assert challenge_of(auth).methods == ["totp", "recovery_code", "email"]


def test_email_not_a_method_is_feature_disabled(mk: Callable[..., Auth]) -> None:
    auth = mk(two_factor_methods=["totp"])
    result = auth.sign_up(ALICE, PASSWORD)
    with pytest.raises(FeatureDisabled):
        auth.enable_email_codes(result.user, token=result.token)
    assert auth.sign_in(ALICE, PASSWORD).token


def test_two_factor_off_is_feature_disabled(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    result = auth.sign_up(ALICE, PASSWORD)
    with pytest.raises(FeatureDisabled):
        auth.enable_email_codes(result.user, token=result.token)


def test_disable_turns_it_off(mk: Callable[..., Auth], outbox: OutboxMailer) -> None:
    auth = mk()
    user, _, _ = turn_on(auth)
    with pytest.raises(InvalidCredentials):
        auth.disable_two_factor(user, "not the password")
    assert auth.two_factor_status(user)["email"] is True
    auth.disable_two_factor(user, PASSWORD)
    status = auth.two_factor_status(user)
    assert status["enabled"] is False and status["email"] is False
    assert status["methods"] == [] and status["recovery_codes_left"] == 0
    assert auth.sign_in(ALICE, PASSWORD).token  # the password alone again
    assert "turned off" in outbox.find("two_factor_changed")[-1].text
    assert len(auth.enable_email_codes(user)) == 10  # and it can be turned on again
    with pytest.raises(TwoFactorRequired):
        auth.sign_in(ALICE, PASSWORD)


def test_reset_by_an_administrator_removes_it(mk: Callable[..., Auth]) -> None:
    auth = mk()
    user, _, _ = turn_on(auth)
    auth.reset_two_factor(user)
    assert auth.two_factor_status(user)["email"] is False
    assert auth.sign_in(ALICE, PASSWORD).token


def test_it_satisfies_enforcement(mk: Callable[..., Auth]) -> None:
    auth = mk(two_factor_required=True)
    result = auth.sign_up(ALICE, PASSWORD)
    assert auth.two_factor_status(result.user)["setup_required"] is True
    auth.enable_email_codes(result.user, token=result.token)
    status = auth.two_factor_status(result.user)
    assert status["setup_required"] is False and status["enabled"] is True
    error = challenge_of(auth)
    assert error.methods == ["email", "recovery_code"] and not error.setup_required


def test_an_unconfirmed_address_cannot_receive_the_codes(
    mk: Callable[..., Auth], outbox: OutboxMailer
) -> None:
    from .test_audit import token_from

    auth = mk(confirmable=True, login_without_confirmation=True)
    result = auth.sign_up(ALICE, PASSWORD)
    assert result.token is not None
    with pytest.raises(EmailNotConfirmed):
        auth.enable_email_codes(result.user, token=result.token)
    assert auth.two_factor_status(result.user)["enabled"] is False
    auth.confirm_email(token_from(outbox, "confirm_email"))
    assert len(auth.enable_email_codes(result.user, token=result.token)) == 10
