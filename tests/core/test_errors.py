"""Every SPEC error code has its class, status and JSON shape."""

from __future__ import annotations

import pytest

import authgate
from authgate import errors

SPEC_CODES = {
    "VALIDATION_ERROR": 400,
    "USER_EXISTS": 409,
    "INVALID_CREDENTIALS": 401,
    "INVALID_TOKEN": 401,
    "UNAUTHORIZED": 401,
    "USER_NOT_FOUND": 401,
    "FORBIDDEN": 403,
    "ACCOUNT_DISABLED": 403,
    "EMAIL_NOT_CONFIRMED": 403,
    "TWO_FACTOR_REQUIRED": 401,
    "FEATURE_DISABLED": 404,
    "INVALID_CODE": 401,
    "REAUTH_REQUIRED": 401,
    "CSRF_FAILED": 403,
    "RATE_LIMITED": 429,
    "SERVICE_UNAVAILABLE": 503,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

CLASSES = [
    errors.ValidationError, errors.UserExists, errors.InvalidCredentials, errors.InvalidToken,
    errors.Unauthorized, errors.UserNotFound, errors.Forbidden, errors.AccountDisabled,
    errors.EmailNotConfirmed, errors.TwoFactorRequired, errors.FeatureDisabled,
    errors.InvalidCode, errors.ReauthRequired, errors.CSRFFailed, errors.RateLimited,
    errors.ServiceUnavailable, errors.NotFound, errors.MethodNotAllowed, errors.PayloadTooLarge,
    errors.UnsupportedMediaType,
]  # fmt: skip


def test_every_spec_code_has_a_class_with_its_status() -> None:
    seen = {}
    for cls in CLASSES:
        exc = cls()
        assert isinstance(exc, authgate.AuthError)
        seen[exc.code] = exc.status
        body = exc.to_dict()
        assert body["error"]["code"] == exc.code
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert seen == SPEC_CODES
    # INTERNAL_ERROR: the answer to an unexpected exception (not raised by flows).
    assert {c.value for c in errors.ErrorCode} == {*SPEC_CODES, "INTERNAL_ERROR"}


def test_method_not_allowed_carries_the_allow_header() -> None:
    exc = errors.MethodNotAllowed(allowed=["GET", "HEAD", "OPTIONS"])
    assert exc.status == 405 and exc.code == "METHOD_NOT_ALLOWED"
    assert exc.headers() == {"Allow": "GET, HEAD, OPTIONS"}


def test_internal_error_names_only_its_reference() -> None:
    exc = errors.InternalError("abc123")
    assert exc.status == 500 and exc.to_dict()["error"] == {
        "code": "INTERNAL_ERROR", "message": "Internal error (ref abc123)."
    }


def test_validation_error_lists_fields() -> None:
    exc = errors.ValidationError(fields={"password": "too_short", "email": "invalid"})
    body = exc.to_dict()["error"]
    assert body["fields"] == {"password": "too_short", "email": "invalid"}
    assert "password is too short" in body["message"].lower()


def test_retry_after_errors_carry_header_and_seconds() -> None:
    exc = errors.RateLimited(retry_after=42)
    assert exc.headers() == {"Retry-After": "42"}
    assert exc.to_dict()["error"]["retry_after"] == 42
    assert errors.ServiceUnavailable(retry_after=0).retry_after == 1


def test_two_factor_required_carries_challenge() -> None:
    exc = errors.TwoFactorRequired(challenge="abc")
    assert exc.to_dict()["error"]["challenge"] == "abc"


def test_auth_error_custom_code_and_status() -> None:
    exc = authgate.AuthError("nope", code="FORBIDDEN", status=403)
    assert (exc.code, exc.status, exc.message, str(exc)) == ("FORBIDDEN", 403, "nope", "nope")
    assert "FORBIDDEN" in repr(exc)


@pytest.mark.parametrize("cls", CLASSES)
def test_errors_are_exported_from_the_package(cls: type) -> None:
    assert getattr(authgate, cls.__name__) is cls
