"""Settings: typed keywords, closest-name suggestions, validation at construction."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from authgate import Auth, Settings
from authgate.settings import InsecureSettingWarning, build_settings

from .conftest import SECRET


def test_defaults_follow_spec() -> None:
    s = build_settings(secret=SECRET)
    assert s.registerable and s.recoverable and s.changeable and s.change_email and s.trackable
    assert not any(
        [s.confirmable, s.login_without_confirmation, s.usernames, s.multiple_emails,
         s.invite_only, s.passwordless, s.two_factor, s.passkeys]
    )  # fmt: skip
    assert s.session_lifetime == 7 * 24 * 3600
    assert s.password_min_length == 8
    assert s.password_max_length == 1024
    assert s.throttle_sign_in and s.sign_in_max_failures == 10
    assert s.argon2_memory_cost == 19456 and s.argon2_time_cost == 2 and s.argon2_parallelism == 1


def test_settings_are_frozen() -> None:
    s = build_settings(secret=SECRET)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.debug = True  # type: ignore[misc]


def test_unknown_keyword_names_closest_setting() -> None:
    with pytest.raises(TypeError, match="did you mean 'confirmable'"):
        Auth(SECRET, confirmabel=True)
    with pytest.raises(TypeError, match="did you mean 'session_lifetime'"):
        Auth(SECRET, session_lifetim=5)


def test_unknown_keyword_without_close_match() -> None:
    with pytest.raises(TypeError, match="unknown setting 'zzzz'"):
        Auth(SECRET, zzzz=1)


def test_missing_secret_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="needs a secret"):
        Auth()


@pytest.mark.parametrize("secret", ["", [], [""], 42])
def test_empty_or_non_string_secret_rejected(secret: object) -> None:
    with pytest.raises(ValueError, match="secret must be a non-empty string"):
        Auth(secret)  # type: ignore[arg-type]


def test_short_secret_warns_with_remedy() -> None:
    with pytest.warns(InsecureSettingWarning, match="token_urlsafe"):
        Auth("change-me")


def test_long_secret_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Auth(SECRET, base_url="https://app.example")


def test_secret_list_is_newest_first() -> None:
    s = build_settings(secret=["n" * 32, "o" * 32])
    assert s.secrets == ("n" * 32, "o" * 32)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("session_lifetime", 0, "greater than 0"),
        ("session_lifetime", "7d", "whole number"),
        ("registerable", "yes", "True or False"),
        ("password_max_length", 32, "at least 64"),
        ("password_min_length", 2000, "must not exceed"),
        ("password_scheme", "md5", "must be one of"),
        ("cookie_samesite", "sideways", "must be one of"),
        ("bcrypt_rounds", 3, "between 4 and 31"),
        ("session_idle_timeout", -1, "positive"),
        ("base_url", "example.com", "absolute http"),
        ("url_prefix", "auth", "must start with"),
        ("password_validator", "not callable", "callable"),
    ],
)
def test_invalid_values_fail_at_construction(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Auth(SECRET, **{name: value})


def test_samesite_none_requires_secure_cookies() -> None:
    with pytest.raises(ValueError, match="requires secure"):
        build_settings(secret=SECRET, cookie_samesite="none", debug=True)


def test_secure_cookies_unless_debug() -> None:
    assert build_settings(secret=SECRET).secure_cookies
    assert not build_settings(secret=SECRET, debug=True).secure_cookies
    assert not build_settings(secret=SECRET, cookie_secure=False).secure_cookies


def test_from_mapping_reads_prefixed_keys_and_converts() -> None:
    s = Settings.from_mapping(
        {
            "AUTHGATE_SECRET": SECRET,
            "AUTHGATE_CONFIRMABLE": "true",
            "AUTHGATE_SESSION_LIFETIME": "60",
            "AUTHGATE_SESSION_IDLE_TIMEOUT": "none",
            "AUTHGATE_CHECK_BREACHED_PASSWORDS": "strict",
            "SECRET_KEY": "ignored: no prefix",
        }
    )
    assert s.confirmable is True
    assert s.session_lifetime == 60
    assert s.session_idle_timeout is None
    assert s.check_breached_passwords == "strict"


def test_from_mapping_secret_list() -> None:
    s = Settings.from_mapping({"AUTHGATE_SECRET": f"{'a' * 32}, {'b' * 32}"})
    assert s.secrets == ("a" * 32, "b" * 32)


def test_from_mapping_unknown_key_names_closest() -> None:
    with pytest.raises(TypeError, match="did you mean AUTHGATE_CONFIRMABLE"):
        Settings.from_mapping({"AUTHGATE_SECRET": SECRET, "AUTHGATE_CONFIRMABEL": "1"})


def test_from_mapping_bad_value() -> None:
    with pytest.raises(ValueError, match="whole number"):
        Settings.from_mapping({"AUTHGATE_SECRET": SECRET, "AUTHGATE_FRESHNESS": "soon"})
    with pytest.raises(ValueError, match="true or false"):
        Settings.from_mapping({"AUTHGATE_SECRET": SECRET, "AUTHGATE_DEBUG": "maybe"})


def test_from_env_overrides_win() -> None:
    s = Settings.from_env({"AUTHGATE_SECRET": SECRET, "AUTHGATE_DEBUG": "1"}, debug=False)
    assert s.debug is False
