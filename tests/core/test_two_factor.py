"""Second factor through the Python API (SPEC §9, SECURITY.md §1.8 checks 45, 46, 51–54).

TOTP with a frozen clock, replay, cross-user codes and challenges, expired, tampered and
reused challenges, the pending state granting nothing, the per-account throttle, recovery
codes, emailed codes, freshness, trusted devices, enforcement with and without a grace
period, and the extension point other factors register through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyotp
import pytest

from authgate import Auth
from authgate.errors import (
    AuthError,
    FeatureDisabled,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    ReauthRequired,
    TwoFactorRequired,
    Unauthorized,
    ValidationError,
)
from authgate.flows import two_factor
from authgate.testing import OutboxMailer

from .conftest import FAST_HASHING, PASSWORD, SECRET, Clock

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_auth: Callable[..., Auth], outbox: OutboxMailer) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        return make_auth(two_factor=True, send_email=outbox, **settings)

    return factory


def challenge_of(auth: Auth, email: str = ALICE, password: str = PASSWORD, **kw: Any) -> Any:
    with pytest.raises(TwoFactorRequired) as caught:
        auth.sign_in(email, password, **kw)
    return caught.value


def enrol(auth: Auth, email: str = ALICE, clock: Clock | None = None) -> tuple[Any, Any, list]:
    """Sign ``email`` up and set up TOTP; returns (user, pyotp.TOTP, recovery codes)."""
    result = auth.sign_up(email, PASSWORD)
    setup = auth.totp_setup(result.user, token=result.token)
    totp = pyotp.TOTP(setup["secret"])
    codes = auth.totp_enable(result.user, totp.at(auth.clock()), token=result.token)
    if clock is not None:
        clock.advance(30)  # the enabling step is used; the next one is free
    return result.user, totp, codes


# -- settings ---------------------------------------------------------------------------


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="two_factor_methods"):
        Auth(SECRET, two_factor_methods=["sms"])
    with pytest.raises(ValueError, match="totp_skew"):
        Auth(SECRET, totp_skew=-1)
    with pytest.raises(ValueError, match="two_factor_challenge_within"):
        Auth(SECRET, two_factor_challenge_within=3600)
    with pytest.raises(ValueError, match="two_factor_max_failures"):
        Auth(SECRET, two_factor_max_failures=0)
    with pytest.raises(ValueError, match="totp_issuer"):
        Auth(SECRET, totp_issuer="a:b")
    from authgate.settings import Settings

    s = Settings.from_mapping({"AUTHGATE_SECRET": SECRET, "AUTHGATE_TWO_FACTOR": "1",
                               "AUTHGATE_TWO_FACTOR_REQUIRED_ROLES": "admin, staff"})  # fmt: skip
    assert s.two_factor and s.two_factor_required_roles == ("admin", "staff")


def test_two_factor_off_is_feature_disabled(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    user = auth.sign_up(ALICE, PASSWORD).user
    with pytest.raises(FeatureDisabled):
        auth.totp_setup(user)
    assert auth.sign_in(ALICE, PASSWORD).token  # nothing asked


# -- set-up ---------------------------------------------------------------------------


def test_setup_answers_secret_uri_and_qr_and_is_not_active_yet(mk: Callable[..., Auth]) -> None:
    auth = mk(totp_issuer="Example Co")
    result = auth.sign_up(ALICE, PASSWORD)
    setup = auth.totp_setup(result.user, token=result.token)
    assert len(base32_bits(setup["secret"])) >= 160
    assert setup["uri"].startswith("otpauth://totp/Example%20Co:alice%40example.com?")
    assert "issuer=Example%20Co" in setup["uri"]
    assert setup["qr_svg"].startswith("<svg") and "<script" not in setup["qr_svg"]
    assert auth.sign_in(ALICE, PASSWORD).token  # not active before the first code
    stored = auth.ctx.two_factor.get_two_factor(result.user.id)  # type: ignore[union-attr]
    assert stored.totp_pending_secret and setup["secret"] not in stored.totp_pending_secret


def base32_bits(secret: str) -> str:
    return "".join(format("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".index(c), "05b") for c in secret)


def test_enable_needs_a_right_code_and_answers_ten_recovery_codes(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    result = auth.sign_up(ALICE, PASSWORD)
    setup = auth.totp_setup(result.user, token=result.token)
    with pytest.raises(InvalidCode):
        auth.totp_enable(result.user, "000000" if pyotp.TOTP(setup["secret"]).now() != "000000"
                         else "111111", token=result.token)  # fmt: skip
    codes = auth.totp_enable(result.user, pyotp.TOTP(setup["secret"]).at(clock()),
                             token=result.token)  # fmt: skip
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{6}", c) for c in codes)
    assert auth.two_factor_status(result.user)["enabled"] is True
    challenge_of(auth)


def test_enable_without_setup_is_a_validation_error(mk: Callable[..., Auth]) -> None:
    auth = mk()
    user = auth.sign_up(ALICE, PASSWORD).user
    with pytest.raises(ValidationError):
        auth.totp_enable(user, "123456")


def test_secret_encrypted_and_rotation_of_the_secret_list_works(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk()
    user, totp, _ = enrol(auth, clock=clock)
    row = auth.ctx.two_factor.get_two_factor(user.id)  # type: ignore[union-attr]
    assert row.totp_secret and totp.secret not in row.totp_secret
    rotated = Auth(["a-brand-new-secret-" + "y" * 32, SECRET], store=auth.store, clock=clock,
                   two_factor=True, send_email=outbox,
                   argon2_memory_cost=1024, argon2_time_cost=1)  # fmt: skip
    challenge = challenge_of(rotated).challenge
    assert rotated.verify_two_factor(challenge, totp.at(clock())).token


# -- sign-in: the pending state ------------------------------------------------------------


def test_password_answers_two_factor_required_and_no_session(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    user, totp, _ = enrol(auth, clock=clock)
    before = len(auth.list_sessions(user))
    error = challenge_of(auth)
    body = error.to_dict()["error"]
    assert body["code"] == "TWO_FACTOR_REQUIRED" and error.status == 401
    assert body["challenge"] == error.challenge
    assert body["methods"] == ["totp", "recovery_code", "email"]
    assert len(auth.list_sessions(user)) == before  # nothing was created
    assert auth.verify_token(error.challenge) is None  # the challenge is no credential
    with pytest.raises(InvalidToken):
        auth.get_session(error.challenge)
    result = auth.verify_two_factor(error.challenge, totp.at(clock()))
    assert auth.get_session(result.token).user.email == ALICE
    assert len(auth.list_sessions(user)) == before + 1


def test_totp_window_is_server_time_plus_minus_one_step(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    _, totp, _ = enrol(auth, clock=clock)
    clock.advance(300)
    now = clock()
    import datetime as dt

    at = {k: totp.at(now + dt.timedelta(seconds=30 * k)) for k in (-2, -1, 0, 1, 2)}
    for k in (-2, 2):
        if at[k] in (at[-1], at[0], at[1]):
            continue  # a collision of six digits: nothing to learn
        with pytest.raises(InvalidCode):
            auth.verify_two_factor(challenge_of(auth).challenge, at[k])
    assert auth.verify_two_factor(challenge_of(auth).challenge, at[-1]).token
    assert auth.verify_two_factor(challenge_of(auth).challenge, at[1]).token
    with pytest.raises(InvalidCode):  # t is older than t+1, which was used: steps only go up
        auth.verify_two_factor(challenge_of(auth).challenge, at[0])


def test_skew_zero_accepts_the_current_step_only(mk: Callable[..., Auth], clock: Clock) -> None:
    import datetime as dt

    auth = mk(totp_skew=0)
    _, totp, _ = enrol(auth, clock=clock)
    previous = totp.at(clock() - dt.timedelta(seconds=30))
    if previous != totp.at(clock()):
        with pytest.raises(InvalidCode):
            auth.verify_two_factor(challenge_of(auth).challenge, previous)
    assert auth.verify_two_factor(challenge_of(auth).challenge, totp.at(clock())).token


def test_a_totp_code_works_once(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    _, totp, _ = enrol(auth, clock=clock)
    code = totp.at(clock())
    assert auth.verify_two_factor(challenge_of(auth).challenge, code).token
    with pytest.raises(InvalidCode):
        auth.verify_two_factor(challenge_of(auth).challenge, code)
    # a fresh Auth over the same store (another process) refuses it too
    other = mk(store=auth.store)
    with pytest.raises(InvalidCode):
        other.verify_two_factor(challenge_of(other).challenge, code)


def test_another_users_code_and_challenge_do_not_work(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    _, alice_totp, _ = enrol(auth, ALICE)
    _, bob_totp, bob_codes = enrol(auth, BOB, clock=clock)
    bob_challenge = challenge_of(auth, BOB).challenge
    alice_code = alice_totp.at(clock())
    if alice_code != bob_totp.at(clock()):
        with pytest.raises(InvalidCode):
            auth.verify_two_factor(bob_challenge, alice_code)
    alice_challenge = challenge_of(auth).challenge
    with pytest.raises(InvalidCode):  # Bob's recovery code for Alice's challenge
        auth.verify_two_factor(alice_challenge, bob_codes[0], method="recovery_code")
    result = auth.verify_two_factor(bob_challenge, bob_totp.at(clock()))
    assert result.user.email == BOB  # the challenge says whose; never the code


def test_expired_tampered_and_reused_challenges(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    _, totp, _ = enrol(auth, clock=clock)
    expired = challenge_of(auth).challenge
    clock.advance(301)
    with pytest.raises(InvalidToken):
        auth.verify_two_factor(expired, totp.at(clock()))
    challenge = challenge_of(auth).challenge
    with pytest.raises(InvalidToken):
        auth.verify_two_factor(challenge[:-2] + ("AA" if challenge[-2:] != "AA" else "BB"),
                               totp.at(clock()))  # fmt: skip
    with pytest.raises(InvalidToken):  # an emailed-link token is not a challenge
        auth.verify_two_factor(auth.ctx.email_tokens.issue("reset-password", "x", "y"), "123456")
    assert auth.verify_two_factor(challenge, totp.at(clock())).token
    clock.advance(30)
    with pytest.raises(InvalidToken):
        auth.verify_two_factor(challenge, totp.at(clock()))


def test_a_password_change_voids_the_pending_challenge(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    user, totp, _ = enrol(auth, clock=clock)
    challenge = challenge_of(auth).challenge
    auth.change_password(user, PASSWORD, "another good password")
    with pytest.raises(InvalidToken):
        auth.verify_two_factor(challenge, totp.at(clock()))


def test_wrong_codes_are_throttled_per_account_across_addresses(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk(two_factor_max_failures=3)
    _, totp, _ = enrol(auth, clock=clock)
    right = totp.at(clock())
    wrong = "000000" if right != "000000" else "111111"
    for i in range(3):
        with pytest.raises(InvalidCode):
            auth.verify_two_factor(challenge_of(auth).challenge, wrong, ip=f"203.0.113.{i}")
    with pytest.raises(RateLimited):  # even the right code, from yet another address
        auth.verify_two_factor(challenge_of(auth).challenge, right, ip="198.51.100.9")


def test_a_new_emailed_code_does_not_reset_the_count(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk(two_factor_max_failures=2)
    enrol(auth, clock=clock)
    challenge = challenge_of(auth).challenge
    for _ in range(2):
        auth.send_two_factor_code(challenge)
        with pytest.raises(InvalidCode):
            auth.verify_two_factor(challenge, "abcdef", method="email")
    auth.send_two_factor_code(challenge)
    code = emailed_code(outbox)
    with pytest.raises(RateLimited):
        auth.verify_two_factor(challenge, code, method="email")


def emailed_code(outbox: OutboxMailer) -> str:
    message = outbox.find("two_factor_code")[-1]
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found is not None
    return found.group(1)


def test_email_code_completes_once_and_only_its_challenge(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk()
    enrol(auth, clock=clock)
    challenge = challenge_of(auth).challenge
    auth.send_two_factor_code(challenge)
    code = emailed_code(outbox)
    assert code in outbox.find("two_factor_code")[-1].subject
    other = challenge_of(auth).challenge
    with pytest.raises(InvalidCode):  # bound to the challenge it was sent for
        auth.verify_two_factor(other, code, method="email")
    assert auth.verify_two_factor(challenge, code, method="email").token
    auth.send_two_factor_code(other)
    with pytest.raises(InvalidCode):  # the old code does not come back
        auth.verify_two_factor(other, code if code != emailed_code(outbox) else "x1",
                               method="email")  # fmt: skip


def test_email_code_expires(mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer) -> None:
    auth = mk(two_factor_challenge_within=120)
    enrol(auth, clock=clock)
    challenge = challenge_of(auth).challenge
    clock.advance(60)
    auth.send_two_factor_code(challenge)  # lives no longer than its challenge
    clock.advance(61)
    with pytest.raises(InvalidToken):
        auth.verify_two_factor(challenge, emailed_code(outbox), method="email")


def test_email_method_off_is_not_offered(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk(two_factor_methods=["totp"])
    enrol(auth, clock=clock)
    error = challenge_of(auth)
    assert error.methods == ["totp", "recovery_code"]
    with pytest.raises(ValidationError):
        auth.send_two_factor_code(error.challenge)


def test_recovery_code_works_once_and_mails_the_user(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk()
    user, _, codes = enrol(auth, clock=clock)
    outbox.clear()
    result = auth.verify_two_factor(challenge_of(auth).challenge, codes[0].upper(),
                                    method="recovery_code")  # fmt: skip
    assert result.token
    [notice] = outbox.find("two_factor_changed")
    assert "9 recovery codes are left" in notice.text
    with pytest.raises(InvalidCode):
        auth.verify_two_factor(challenge_of(auth).challenge, codes[0], method="recovery_code")
    for code in codes[1:7]:
        auth.verify_two_factor(challenge_of(auth).challenge, code, method="recovery_code")
    assert "Make a new set soon" in outbox.find("two_factor_changed")[-1].text  # 3 left
    assert auth.two_factor_status(user)["recovery_codes_left"] == 3


def test_regenerating_voids_the_old_set(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    user, _, old = enrol(auth, clock=clock)
    new = auth.regenerate_recovery_codes(user)
    assert not set(old) & set(new)
    with pytest.raises(InvalidCode):
        auth.verify_two_factor(challenge_of(auth).challenge, old[1], method="recovery_code")
    assert auth.verify_two_factor(challenge_of(auth).challenge, new[1],
                                  method="recovery_code").token  # fmt: skip


def test_unknown_method_and_bad_input(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    enrol(auth, clock=clock)
    challenge = challenge_of(auth).challenge
    for method in ("sms", "passkey", 3):
        with pytest.raises(ValidationError):
            auth.verify_two_factor(challenge, "123456", method=method)  # type: ignore[arg-type]
    for code in (None, "", {"a": 1}, "x" * 100, "12 34;56"):
        with pytest.raises(ValidationError):
            auth.verify_two_factor(challenge, code)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        auth.verify_two_factor(challenge, "123456", trust_device="yes")  # type: ignore[arg-type]


# -- freshness --------------------------------------------------------------------------


def test_changes_need_a_fresh_session(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    user, totp, _ = enrol(auth, clock=clock)
    token = auth.verify_two_factor(challenge_of(auth).challenge, totp.at(clock())).token
    clock.advance(auth.settings.freshness + 1)
    with pytest.raises(ReauthRequired):
        auth.totp_setup(user, token=token)
    with pytest.raises(ReauthRequired):
        auth.regenerate_recovery_codes(user, token=token)
    with pytest.raises(ReauthRequired):
        auth.disable_two_factor(user, PASSWORD, token=token)
    # another user's password never makes it fresh
    auth.sign_up(BOB, "bobs own password")
    with pytest.raises(InvalidCredentials):
        auth.reauthenticate(token, "bobs own password")
    with pytest.raises(ReauthRequired):
        auth.totp_setup(user, token=token)
    token = auth.reauthenticate(token, PASSWORD)
    assert auth.totp_setup(user, token=token)["secret"]


def test_another_users_session_is_refused(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk()
    alice = auth.sign_up(ALICE, PASSWORD).user
    bob_token = auth.sign_up(BOB, PASSWORD).token
    with pytest.raises(InvalidToken):
        auth.totp_setup(alice, token=bob_token)


def test_disable_needs_the_password_and_turns_it_off(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk()
    user, _, _ = enrol(auth, clock=clock)
    with pytest.raises(InvalidCredentials):
        auth.disable_two_factor(user, "not the password")
    auth.disable_two_factor(user, PASSWORD)
    assert auth.sign_in(ALICE, PASSWORD).token
    assert auth.two_factor_status(user)["recovery_codes_left"] == 0
    assert "turned off" in outbox.find("two_factor_changed")[-1].text
    kinds = [e.kind for e in auth.audit.events(user)]
    assert {"two_factor_setup", "two_factor_enable", "two_factor_disable"} <= set(kinds)


# -- trusted devices ------------------------------------------------------------------


def test_trusted_device_skips_the_code_until_the_password_changes(
    mk: Callable[..., Auth], clock: Clock
) -> None:
    auth = mk()
    user, totp, _ = enrol(auth, clock=clock)
    result = auth.verify_two_factor(challenge_of(auth).challenge, totp.at(clock()),
                                    trust_device=True)  # fmt: skip
    cookie = result.trusted_device
    assert cookie and "trusted_device" not in result.to_dict()
    assert auth.sign_in(ALICE, PASSWORD, trusted_device=cookie).token
    challenge_of(auth, trusted_device="garbage")
    # Bob cannot use Alice's cookie
    enrol(auth, BOB)
    challenge_of(auth, BOB, trusted_device=cookie)
    auth.change_password(user, PASSWORD, "a brand new password")
    challenge_of(auth, password="a brand new password", trusted_device=cookie)


def test_trusted_device_forgotten_and_expired(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk(trusted_device_lifetime=3600)
    user, totp, _ = enrol(auth, clock=clock)
    cookie = auth.verify_two_factor(challenge_of(auth).challenge, totp.at(clock()),
                                    trust_device=True).trusted_device  # fmt: skip
    assert auth.sign_in(ALICE, PASSWORD, trusted_device=cookie).token
    clock.advance(3601)
    challenge_of(auth, trusted_device=cookie)
    clock.advance(30)
    cookie = auth.verify_two_factor(challenge_of(auth).challenge, totp.at(clock()),
                                    trust_device=True).trusted_device  # fmt: skip
    auth.forget_trusted_devices(user)
    challenge_of(auth, trusted_device=cookie)


def test_no_trusted_device_when_off(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk(trusted_device_lifetime=0)
    _, totp, _ = enrol(auth, clock=clock)
    result = auth.verify_two_factor(challenge_of(auth).challenge, totp.at(clock()),
                                    trust_device=True)  # fmt: skip
    assert result.trusted_device is None


# -- other first factors -------------------------------------------------------------------


def test_magic_link_and_login_user_ask_too(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    from authgate.testing import links

    auth = mk(passwordless=True)
    user, totp, _ = enrol(auth, clock=clock)
    auth.send_login_link(ALICE)
    token = links(outbox.find("login_link")[-1])[0].split("token=")[1]
    with pytest.raises(TwoFactorRequired) as caught:
        auth.sign_in_with_link(token)
    assert auth.verify_two_factor(caught.value.challenge, totp.at(clock())).token
    with pytest.raises(TwoFactorRequired):
        auth.login_user(user)


def test_reset_with_login_after_reset_does_not_sign_in(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    from authgate.testing import links

    auth = mk(login_after_reset=True)
    enrol(auth, clock=clock)
    auth.forgot_password(ALICE)
    token = links(outbox.find("reset_password")[-1])[0].split("token=")[1]
    assert auth.reset_password(token, "a brand new password").token is None


# -- enforcement ---------------------------------------------------------------------------


def test_role_enforcement_with_grace_then_without(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk(two_factor_required_roles=["admin"], two_factor_grace_period=3600)
    user = auth.sign_up(ALICE, PASSWORD).user
    auth.sign_up(BOB, PASSWORD)
    auth.users.add_role_to_user(user, "admin")
    result = auth.sign_in(ALICE, PASSWORD)  # within the grace period
    status = auth.two_factor_status(user)
    assert status["setup_required"] is True and status["setup_by"]
    clock.advance(3601)
    assert auth.sign_in(BOB, PASSWORD).token  # not an admin: nothing asked
    error = challenge_of(auth)
    assert error.setup_required and error.methods == ["email"]
    assert error.to_dict()["error"]["setup_required"] is True
    with pytest.raises(InvalidToken):  # the session from before is no way around it... it is
        # still a session (it was granted in the grace period), but a challenge is no session
        auth.get_session(error.challenge)
    assert auth.get_session(result.token)
    # enrolment through the challenge: nothing granted before the factor works
    setup = auth.totp_setup(challenge=error.challenge)
    totp = pyotp.TOTP(setup["secret"])
    with pytest.raises(InvalidCode):
        auth.enroll_two_factor(error.challenge, "000000" if totp.at(clock()) != "000000"
                               else "111111")  # fmt: skip
    codes, signed_in = auth.enroll_two_factor(error.challenge, totp.at(clock()))
    assert len(codes) == 10 and auth.get_session(signed_in.token).user.email == ALICE
    clock.advance(30)
    challenge_of(auth)  # from now on, the usual second step


def test_enforcement_by_email_code_after_grace(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk(two_factor_required=True, two_factor_grace_period=0)
    auth.sign_up(ALICE, PASSWORD)
    error = challenge_of(auth)
    assert error.setup_required
    auth.send_two_factor_code(error.challenge)
    assert auth.verify_two_factor(error.challenge, emailed_code(outbox), method="email").token


def test_enforcement_without_email_needs_the_app(mk: Callable[..., Auth], clock: Clock) -> None:
    auth = mk(two_factor_required=True, two_factor_grace_period=0, two_factor_methods=["totp"])
    auth.sign_up(ALICE, PASSWORD)
    error = challenge_of(auth)
    assert error.methods == []
    with pytest.raises(ValidationError):
        auth.verify_two_factor(error.challenge, "123456")
    enrol(auth, BOB, clock=clock)
    with pytest.raises(InvalidToken):  # an ordinary challenge is no set-up ticket
        auth.totp_setup(challenge=challenge_of(auth, BOB).challenge)


def test_admin_reset_gives_a_new_grace_period(
    mk: Callable[..., Auth], clock: Clock, outbox: OutboxMailer
) -> None:
    auth = mk(two_factor_required=True, two_factor_grace_period=600)
    user, _, _ = enrol(auth, clock=clock)
    clock.advance(7200)
    challenge_of(auth)
    auth.reset_two_factor(user)
    assert auth.sign_in(ALICE, PASSWORD).token  # a new grace period
    assert "administrator" in outbox.find("two_factor_changed")[-1].text
    assert any(e.kind == "two_factor_reset" for e in auth.audit.events(user))


# -- the extension point -------------------------------------------------------------------


@pytest.fixture
def fake_method() -> Iterator[list[Mapping[str, Any]]]:
    seen: list[Mapping[str, Any]] = []

    def available(ctx: Any, user: Any) -> bool:
        return user.email == ALICE

    def verify(ctx: Any, user: Any, body: Mapping[str, Any]) -> None:
        seen.append(body)
        if body.get("credential") != f"signed-by-{user.email}":
            raise InvalidCode()

    two_factor.register_method("fakekey", available, verify)
    yield seen
    two_factor.unregister_method("fakekey")


def test_a_registered_method_enrols_and_verifies(
    mk: Callable[..., Auth], fake_method: list[Mapping[str, Any]]
) -> None:
    auth = mk()
    auth.sign_up(ALICE, PASSWORD)
    error = challenge_of(auth)  # having the factor is enough to be asked
    assert error.methods == ["fakekey", "email"]
    with pytest.raises(InvalidCode):
        auth.verify_two_factor(error.challenge, method="fakekey", credential="forged")
    result = auth.verify_two_factor(error.challenge, method="fakekey",
                                    credential="signed-by-alice@example.com")  # fmt: skip
    assert result.token and fake_method[-1]["challenge"] == error.challenge
    auth.sign_up(BOB, PASSWORD)
    assert auth.sign_in(BOB, PASSWORD).token  # not available to Bob: not asked
    with pytest.raises(ValueError):
        two_factor.register_method("totp", lambda c, u: True, lambda c, u, b: None)


def test_http_basic_cannot_skip_the_second_factor(mk: Callable[..., Auth], clock: Clock) -> None:
    from authgate.flows.signin import authenticate

    auth = mk()
    enrol(auth, clock=clock)
    with pytest.raises(AuthError) as caught:
        authenticate(auth.ctx, ALICE, PASSWORD)
    assert isinstance(caught.value, Unauthorized | TwoFactorRequired)


def test_reset_from_python_removes_passkeys_unless_kept(clock: Clock) -> None:
    """``auth.reset_two_factor`` is the command line's rescue: passkeys go too unless kept."""
    from tests.passkeys.authenticator import Authenticator

    origin = "https://app.example"
    auth = Auth(SECRET, **FAST_HASHING, clock=clock, two_factor=True, passkeys=True,
                base_url=origin, send_email=lambda m: None)  # fmt: skip
    for keep, email in ((True, "kept@example.com"), (False, "gone@example.com")):
        r = auth.sign_up(email, PASSWORD)
        options = auth.passkey_registration_options(r.user, token=r.token)
        answer = Authenticator(origin).create(options.to_dict())
        auth.register_passkey(r.user, answer, options.state, name="Phone", token=r.token)
        assert auth.reset_two_factor(r.user, keep_passkeys=keep) == (0 if keep else 1)
        assert len(auth.list_passkeys(r.user)) == (1 if keep else 0)
