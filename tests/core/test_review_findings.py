"""Regression tests for findings of the December review (``shared/findings/README.md``).

| finding | what it was | tests |
|---|---|---|
| S5  | imported legacy hashes were told apart by sign-in time | ``test_decoys_*`` |
| S7  | confirming an added address or an email change signed the clicker in | ``test_only_sign_up_confirmation_*`` |
| S8  | email and username were two throttle buckets; a reset cleared one | ``test_one_bucket_per_account*`` |
| S10 | clients without an address shared one per-IP bucket | ``test_unknown_addresses_*`` |
| S11 | stored bcrypt hashes were verified at any cost | ``test_bcrypt_cost_*`` |
| U2  | ``two_factor``/``passkeys`` accepted and did nothing (passkeys: refused without an RP) | ``test_unbuilt_features_are_refused`` |
| U3  | ``base_url`` unset was silent | ``test_base_url_*`` |
| U8  | password errors did not state the limits; no common-password check | ``test_password_messages_*`` |
| U9  | the console mailer printed live tokens outside debug | ``test_console_mailer_*`` |
| U12 | the lockout message did not say how to get back in | ``test_lockout_message_*`` |

Store-backed variants run in ``tests/test_credential_binding.py`` (S2) and
``tests/stores/test_sqlalchemy_models.py`` (S3, S4).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import time
import warnings
from collections.abc import Callable
from typing import Any

import bcrypt
import pytest

from authgate import Auth
from authgate.errors import (
    InvalidCredentials,
    RateLimited,
    ValidationError,
    localized_message,
)
from authgate.mail.console import ConsoleMailer
from authgate.passwords import PasswordHasher
from authgate.settings import InsecureSettingWarning, Settings
from authgate.testing import OutboxMailer

from .conftest import FAST_HASHING, PASSWORD, SECRET

NEW_PASSWORD = "brand new horse battery"


def _django_hash(password: str, iterations: int = 1000) -> str:
    salt = "seasalt12345"
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(key).decode()}"


# -- S5: decoys follow the stored legacy hashes ------------------------------------------


def _verified_schemes(auth: Auth) -> list[str]:
    """Patch the hasher so every underlying verification records the stored hash's scheme."""
    seen: list[str] = []
    real = auth.ctx.hasher._verify

    def spy(hasher: Any, secret: str, stored: str) -> bool:
        seen.append(stored.split("$", 1)[0] or stored.split("$")[1])
        return bool(real(hasher, secret, stored))

    auth.ctx.hasher._verify = spy  # type: ignore[method-assign]
    return seen


def test_decoys_follow_the_share_of_legacy_hashes(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(throttle_sign_in=False)
    for n in range(6):  # 6 of 12 accounts still hold an imported Django hash
        auth.users.create_user(email=f"old{n}@example.com", password_hash=_django_hash("x" * 12))
        auth.sign_up(f"new{n}@example.com", PASSWORD)
    seen = _verified_schemes(auth)
    legacy_priced = 0
    for n in range(200):
        seen.clear()
        with pytest.raises(InvalidCredentials):
            auth.sign_in(f"nobody{n}@example.com", "wrong password")
        legacy_priced += seen == ["pbkdf2_sha256"]
        assert seen in (["pbkdf2_sha256"], ["argon2id"]), seen  # exactly one verification
    assert 60 <= legacy_priced <= 140  # about half, as the accounts are


def test_decoys_are_the_same_for_the_same_identifier(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(throttle_sign_in=False)
    auth.users.create_user(email="old@example.com", password_hash=_django_hash("x" * 12))
    auth.sign_up("new@example.com", PASSWORD)
    seen = _verified_schemes(auth)
    for n in range(20):
        first: list[str] = []
        for _ in range(3):
            seen.clear()
            with pytest.raises(InvalidCredentials):
                auth.sign_in(f"Nobody{n}@Example.com", f"guess {_}")
            first = first or list(seen)
            assert seen == first  # a real account always costs the same; so does a decoy


def test_decoys_cost_what_the_imported_accounts_cost(make_auth: Callable[..., Auth]) -> None:
    """The finding's measurement, structurally: no current-scheme-only answer for unknowns."""
    auth = make_auth(throttle_sign_in=False)
    auth.users.create_user(email="django@example.com", password_hash=_django_hash("pw", 200_000))
    seen = _verified_schemes(auth)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("django@example.com", "wrong password")
    assert seen == ["pbkdf2_sha256"]
    # Every user holds a legacy hash: every unknown identifier is priced like one.
    for n in range(10):
        seen.clear()
        with pytest.raises(InvalidCredentials):
            auth.sign_in(f"nobody{n}@example.com", "wrong password")
        assert seen == ["pbkdf2_sha256"]


def test_a_decoy_never_matches_or_rehashes(make_auth: Callable[..., Auth]) -> None:
    """The decoy is another user's hash: their password must not make an unknown sign-in slower."""
    auth = make_auth(throttle_sign_in=False)
    auth.users.create_user(email="old@example.com", password_hash=_django_hash("their secret pw"))
    hashes: list[str] = []
    real_hash = auth.ctx.hasher.hash
    auth.ctx.hasher.hash = lambda password: hashes.append(password) or real_hash(password)  # type: ignore[method-assign,func-returns-value]
    for n in range(10):
        with pytest.raises(InvalidCredentials):
            auth.sign_in(f"nobody{n}@example.com", "their secret pw")
    assert hashes == []


def test_decoys_are_read_again_after_a_while(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(throttle_sign_in=False)
    auth.sign_up("new@example.com", PASSWORD)
    assert auth.ctx.decoys.pick("nobody@example.com") is None  # no legacy hash: plain decoy
    auth.users.create_user(email="old@example.com", password_hash=_django_hash("x" * 12))
    auth.ctx.decoys._sample = auth.ctx.decoys._sample.__class__(0.0, (), time.monotonic() - 3600)  # type: ignore[union-attr]
    picks = {auth.ctx.decoys.pick(f"n{i}@example.com") for i in range(50)}
    assert picks - {None}  # some unknown identifiers are now priced like the import


# -- S7: only the sign-up confirmation signs in ------------------------------------------


def _token(outbox: OutboxMailer, kind: str) -> str:
    match = re.search(r"token=([^\s\"&]+)", outbox.last(kind).text)
    assert match is not None
    return match.group(1)


def test_only_sign_up_confirmation_starts_a_session(make_auth: Callable[..., Auth]) -> None:
    outbox = OutboxMailer()
    auth = make_auth(confirmable=True, multiple_emails=True, send_email=outbox)
    r = auth.sign_up("alice@example.com", PASSWORD)
    signed_in = auth.confirm_email(_token(outbox, "confirm_email"))
    assert signed_in.token is not None and auth.verify_token(signed_in.token) is not None

    user = auth.users.get_user("alice@example.com")
    auth.add_email(user, "alice@exmaple.com", PASSWORD)  # a typo: someone else's domain
    added = auth.confirm_email(_token(outbox, "email_add_confirm"))
    assert added.token is None and added.session is None

    auth.change_email(user, "alice@new.example", PASSWORD)
    changed = auth.confirm_email(_token(outbox, "email_change_confirm"))
    assert changed.token is None and changed.session is None
    assert list(auth.list_sessions(r.user)) == []  # the change ended every session


# -- S8: one throttle bucket per account ---------------------------------------------------


def _guess(auth: Auth, identifier: str, ip: str = "203.0.113.9", password: str = "wrong") -> str:
    try:
        auth.sign_in(identifier, password, ip=ip)
    except (InvalidCredentials, RateLimited) as exc:
        return exc.code
    return "OK"


def test_one_bucket_per_account_whatever_the_identifier(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(usernames=True, sign_in_max_failures=10)
    auth.sign_up("alice@example.com", PASSWORD, username="alice")
    identifiers = ["alice@example.com", "alice", "ALICE@example.com", "Alice", "ａｌｉｃｅ"]
    results = [_guess(auth, identifiers[n % len(identifiers)]) for n in range(15)]
    assert results.count("INVALID_CREDENTIALS") == 10  # 10 guesses in all, not 10 per identifier
    assert results[10:] == ["RATE_LIMITED"] * 5
    # The owner, from anywhere, with the right password and either identifier: still throttled.
    assert _guess(auth, "alice", "198.51.100.7", PASSWORD) == "RATE_LIMITED"
    assert _guess(auth, "alice@example.com", "198.51.100.7", PASSWORD) == "RATE_LIMITED"


def test_one_bucket_per_account_cleared_by_a_reset(make_auth: Callable[..., Auth]) -> None:
    outbox = OutboxMailer()
    auth = make_auth(usernames=True, send_email=outbox)
    auth.sign_up("alice@example.com", PASSWORD, username="alice")
    for _ in range(10):
        _guess(auth, "alice")
    assert _guess(auth, "alice", password=PASSWORD) == "RATE_LIMITED"
    auth.forgot_password("alice@example.com")  # reset stays available while throttled
    auth.reset_password(_token(outbox, "reset_password"), NEW_PASSWORD)
    assert _guess(auth, "alice", password=NEW_PASSWORD) == "OK"
    assert _guess(auth, "alice@example.com", password=NEW_PASSWORD) == "OK"


# -- S10: no shared bucket for unknown addresses -------------------------------------------


@pytest.mark.parametrize("address", [None, "", "not an address"])
def test_unknown_addresses_share_no_bucket(
    make_auth: Callable[..., Auth], address: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    auth = make_auth(sign_in_ip_max_failures=20)
    auth.sign_up("bob@example.com", PASSWORD)
    with caplog.at_level(logging.WARNING, "authgate.throttle"):
        for n in range(30):  # 30 failures from "no address", over many accounts
            assert _guess(auth, f"nobody{n}@example.com", address) == "INVALID_CREDENTIALS"
        assert _guess(auth, "bob@example.com", address, PASSWORD) == "OK"
    # A real address is still limited per IP.
    for n in range(20):
        _guess(auth, f"other{n}@example.com", "203.0.113.5")
    assert _guess(auth, "bob@example.com", "203.0.113.5", PASSWORD) == "RATE_LIMITED"


def test_unknown_addresses_are_reported(make_auth: Callable[..., Auth], caplog: pytest.LogCaptureFixture) -> None:
    from authgate import ratelimit

    ratelimit._unknown_warned.clear()
    auth = make_auth()
    with caplog.at_level(logging.WARNING, "authgate.throttle"):
        _guess(auth, "a@example.com", None)
        _guess(auth, "b@example.com", None)
    notes = [r for r in caplog.records if "trusted_proxies" in r.getMessage()]
    assert len(notes) == 1  # once, with the remedy


# -- S11: bcrypt costs ---------------------------------------------------------------------

_SALT = "abcdefghijklmnopqrstuu"
_ABSURD = [
    f"$2b$31${_SALT}{'A' * 31}",
    f"$2a$20${_SALT}{'A' * 31}",
    f"$bcrypt-sha256$v=2,t=2b,r=31${_SALT}${'A' * 31}",
    f"$bcrypt-sha256$2b,25${_SALT}${'A' * 31}",
]


@pytest.mark.parametrize("stored", _ABSURD)
def test_bcrypt_cost_is_capped_when_verifying(stored: str) -> None:
    hasher = PasswordHasher(Settings(secret=SECRET))
    started = time.perf_counter()
    assert hasher.verify("password", stored) == (False, None)
    assert time.perf_counter() - started < 2.0  # cost 31 would take days


@pytest.mark.parametrize("stored", _ABSURD)
def test_bcrypt_cost_is_checked_at_import(make_auth: Callable[..., Auth], stored: str) -> None:
    auth = make_auth()
    with pytest.raises(ValidationError) as caught:
        auth.users.create_user(email="imported@example.com", password_hash=stored)
    assert caught.value.fields == {"password_hash": "invalid"}
    assert auth.users.get_user("imported@example.com") is None


def test_bcrypt_cost_within_the_cap_still_verifies(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    stored = bcrypt.hashpw(b"their old password", bcrypt.gensalt(4)).decode()
    auth.users.create_user(email="old@example.com", password_hash=stored)
    assert auth.sign_in("old@example.com", "their old password").token
    custom = PasswordHasher(Settings(secret=SECRET, bcrypt_rounds=18)).hashers["bcrypt"]
    assert custom.max_rounds == 18  # type: ignore[attr-defined]  # a configured cost is verified


# -- U2, U3: settings that would look on while doing nothing -----------------------------


@pytest.mark.parametrize("feature", ["passkeys"])
def test_unbuilt_features_are_refused(feature: str) -> None:
    with pytest.raises(ValueError, match=feature):
        Auth(SECRET, **{feature: True})
    with pytest.raises(ValueError, match=feature):
        Settings.from_mapping({"AUTHGATE_SECRET": SECRET, f"AUTHGATE_{feature.upper()}": "1"})
    assert getattr(Auth(SECRET, **{feature: False}).settings, feature) is False


def test_base_url_unset_warns_at_set_up() -> None:
    with pytest.warns(InsecureSettingWarning, match="base_url=") as caught:
        Auth(SECRET, **FAST_HASHING)
    assert "localhost:8000" in str(caught[0].message)


@pytest.mark.parametrize("settings", [{"base_url": "https://app.example"}, {"debug": True}])
def test_base_url_warning_not_in_debug_or_when_set(settings: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Auth(SECRET, send_email=lambda m: None, **FAST_HASHING, **settings)


# -- U8: password messages and the common list ---------------------------------------------


def test_password_messages_state_the_limits(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    with pytest.raises(ValidationError) as short:
        auth.sign_up("a@example.com", "short")
    assert short.value.fields == {"password": "too_short"}
    assert "at least 8 characters" in short.value.message
    with pytest.raises(ValidationError) as long:
        auth.sign_up("a@example.com", "x" * 1025)
    assert "at most 1024 characters" in long.value.message
    with pytest.raises(ValidationError) as both:
        auth.sign_up("not an address", "short")
    assert both.value.fields == {"email": "invalid", "password": "too_short"}
    assert "at least 8 characters" in both.value.message
    # Translated with its values: the limits are in every language's words too.
    german = localized_message(short.value, "de")
    assert "mindestens 8 Zeichen" in german
    assert "%(" not in localized_message(long.value, "ja") and "1024" in localized_message(long.value, "ja")


def test_password_messages_common_passwords_refused_by_default(
    make_auth: Callable[..., Auth],
) -> None:
    outbox = OutboxMailer()
    auth = make_auth(send_email=outbox)
    with pytest.raises(ValidationError) as caught:
        auth.sign_up("a@example.com", "password123")
    assert caught.value.fields == {"password": "too_common"}
    assert "8 to 1024 characters" in caught.value.message
    r = auth.sign_up("a@example.com", PASSWORD)
    with pytest.raises(ValidationError) as changed:
        auth.change_password(r.user, PASSWORD, "iloveyou123")
    assert changed.value.fields == {"new_password": "too_common"}
    auth.forgot_password("a@example.com")
    with pytest.raises(ValidationError) as reset:
        auth.reset_password(_token(outbox, "reset_password"), "qwertyuiop")
    assert reset.value.fields == {"new_password": "too_common"}


# -- U9: the console mailer ------------------------------------------------------------------


def test_console_mailer_hides_tokens_outside_debug() -> None:
    out = io.StringIO()
    auth = Auth(SECRET, base_url="https://app.example", **FAST_HASHING)
    auth.mail.use(None)  # the default mailer, as when nothing is configured
    assert isinstance(auth.mail.mailer, ConsoleMailer)
    auth.mail.mailer.stream = out
    with pytest.warns(InsecureSettingWarning, match="printed to the console"):
        auth.sign_up("a@example.com", PASSWORD)  # the welcome email is the first one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auth.forgot_password("a@example.com")  # warned once only
    printed = out.getvalue()
    assert "reset-password?token=[hidden: debug is off]" in printed
    assert not re.search(r"token=(?!\[hidden)", printed)


def test_console_mailer_shows_links_in_debug() -> None:
    out = io.StringIO()
    auth = Auth(SECRET, debug=True, **FAST_HASHING)
    auth.mail.mailer.stream = out  # type: ignore[attr-defined]
    auth.sign_up("a@example.com", PASSWORD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auth.forgot_password("a@example.com")
    assert re.search(r"reset-password\?token=[\w.-]{20,}", out.getvalue())


# -- U12: the lockout message ----------------------------------------------------------------


def test_lockout_message_says_how_to_get_back_in(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(sign_in_max_failures=3)
    auth.sign_up("alice@example.com", PASSWORD)
    messages = {}
    for identifier in ("alice@example.com", "nobody@example.com"):
        for _ in range(3):
            _guess(auth, identifier)
        with pytest.raises(RateLimited) as caught:
            auth.sign_in(identifier, PASSWORD)
        messages[identifier] = caught.value.message
    assert "reset your password" in messages["alice@example.com"]
    assert len(set(messages.values())) == 1  # the same words whether the account exists or not
    no_reset = make_auth(sign_in_max_failures=1, recoverable=False)
    _guess(no_reset, "x@example.com")
    with pytest.raises(RateLimited) as caught:
        no_reset.sign_in("x@example.com", PASSWORD)
    assert "reset" not in caught.value.message
