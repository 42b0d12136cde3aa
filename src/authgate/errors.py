"""Errors raised by authgate.

Every failure that reaches a caller is an :class:`AuthError`. The HTTP status
lives on the exception, so no integration needs an ``except -> status`` ladder::

    AuthError (code, message, status, to_dict())
    ├── ValidationError      VALIDATION_ERROR       400  (.fields: {"password": "too_short"})
    ├── UserExists           USER_EXISTS            409
    ├── InvalidCredentials   INVALID_CREDENTIALS    401
    ├── InvalidToken         INVALID_TOKEN          401
    ├── Unauthorized         UNAUTHORIZED           401
    ├── UserNotFound         USER_NOT_FOUND         401
    ├── Forbidden            FORBIDDEN              403
    ├── AccountDisabled      ACCOUNT_DISABLED       403
    ├── EmailNotConfirmed    EMAIL_NOT_CONFIRMED    403
    ├── TwoFactorRequired    TWO_FACTOR_REQUIRED    401  (.challenge)
    ├── FeatureDisabled      FEATURE_DISABLED       404
    ├── InvalidCode          INVALID_CODE           401
    ├── ReauthRequired       REAUTH_REQUIRED        401
    ├── CSRFFailed           CSRF_FAILED            403
    ├── RateLimited          RATE_LIMITED           429  (.retry_after seconds)
    ├── ServiceUnavailable   SERVICE_UNAVAILABLE    503  (.retry_after seconds)
    ├── NotFound             NOT_FOUND              404  (no such endpoint under the prefix)
    ├── MethodNotAllowed     METHOD_NOT_ALLOWED     405  (.allowed, sent as ``Allow``)
    ├── PayloadTooLarge      PAYLOAD_TOO_LARGE      413
    ├── UnsupportedMediaType UNSUPPORTED_MEDIA_TYPE 415
    └── InternalError        INTERNAL_ERROR         500  (.reference, also in the log)

Codes are stable strings (:class:`ErrorCode`); tests and clients should match on
the code, never on the wording of the message.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from authgate.i18n import DEFAULT_LOCALE, N_, Formatted, current_locale, gettext

__all__ = [
    "REASON_TEXTS",
    "AccountDisabled",
    "AuthError",
    "CSRFFailed",
    "EmailNotConfirmed",
    "ErrorCode",
    "FeatureDisabled",
    "Forbidden",
    "InternalError",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidToken",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ReauthRequired",
    "ServiceUnavailable",
    "TwoFactorRequired",
    "Unauthorized",
    "UnsupportedMediaType",
    "UserExists",
    "UserNotFound",
    "ValidationError",
    "localized_message",
    "reason_text",
]


class ErrorCode(str, enum.Enum):
    """The stable error codes of SPEC §2."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    USER_EXISTS = "USER_EXISTS"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"
    UNAUTHORIZED = "UNAUTHORIZED"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    ACCOUNT_DISABLED = "ACCOUNT_DISABLED"
    EMAIL_NOT_CONFIRMED = "EMAIL_NOT_CONFIRMED"
    TWO_FACTOR_REQUIRED = "TWO_FACTOR_REQUIRED"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    INVALID_CODE = "INVALID_CODE"
    REAUTH_REQUIRED = "REAUTH_REQUIRED"
    CSRF_FAILED = "CSRF_FAILED"
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INTERNAL_ERROR = "INTERNAL_ERROR"

    def __str__(self) -> str:
        return self.value


class AuthError(Exception):
    """Base class of every authgate failure.

    Attributes:
        code: the stable machine-readable code (a string, see :class:`ErrorCode`).
        message: a human-readable sentence, safe to show to the end user.
        status: the HTTP status an integration answers with.
    """

    default_code: ClassVar[ErrorCode] = ErrorCode.VALIDATION_ERROR
    default_status: ClassVar[int] = 400
    default_message: ClassVar[str] = N_("The request could not be processed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | ErrorCode | None = None,
        status: int | None = None,
    ) -> None:
        self.code: str = str(code or self.default_code)
        self.message: str = message or self.default_message
        self.status: int = status or self.default_status
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with this error (e.g. ``Retry-After``)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of SPEC §2: ``{"error": {"code": ..., "message": ...}}``."""
        return {"error": {"code": self.code, "message": self.message}}


class ValidationError(AuthError):
    """Missing or invalid input. ``fields`` maps each failing field to a reason.

    Reasons: ``required``, ``invalid``, ``too_short``, ``too_long``,
    ``too_common``, ``breached``, ``contains_identifier``, ``unknown_field``.
    """

    default_code = ErrorCode.VALIDATION_ERROR
    default_status = 400
    default_message = N_("Some fields are missing or invalid.")

    def __init__(
        self, message: str | None = None, *, fields: Mapping[str, str] | None = None
    ) -> None:
        self.fields: dict[str, str] = dict(fields or {})
        super().__init__(message or _describe_fields(self.fields))

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if self.fields:
            body["error"]["fields"] = dict(self.fields)
        return body


def _describe_fields(fields: Mapping[str, str]) -> str:
    if not fields:
        return ValidationError.default_message
    reasons = {
        "required": "is required",
        "invalid": "is invalid",
        "too_short": "is too short",
        "too_long": "is too long",
        "too_common": "is too common",
        "breached": "has appeared in a data breach",
        "contains_identifier": "must not be your email or username",
        "unknown_field": "is not a known field",
    }
    parts = [f"{name} {reasons.get(reason, reason)}" for name, reason in fields.items()]
    return "; ".join(parts).capitalize() + "."


#: Each ``VALIDATION_ERROR`` reason as a sentence to show next to its field (translated
#: when shown: :func:`reason_text`).
REASON_TEXTS: Mapping[str, str] = {
    "required": N_("This field is required."),
    "invalid": N_("This value is not valid."),
    "too_short": N_("This is too short."),
    "too_long": N_("This is too long."),
    "too_common": N_("This password is too common; choose a less predictable one."),
    "breached": N_("This password has appeared in a data breach; choose another one."),
    "contains_identifier": N_("The password must not contain your email address or username."),
    "unknown_field": N_("This field is not allowed."),
}


def reason_text(reason: str, locale: str | None = None) -> str:
    """The sentence for a ``VALIDATION_ERROR`` reason, in ``locale`` (default: the current one)."""
    return gettext(REASON_TEXTS.get(reason, REASON_TEXTS["invalid"]), locale)


def localized_message(error: AuthError, locale: str | None = None) -> str:
    """``error.message`` in ``locale`` (default: the current one, see :mod:`authgate.i18n`).

    Every message authgate raises is in the catalogs. A ``VALIDATION_ERROR``
    whose message is not (made from its fields, or with run-time values) is
    made again from its fields: each field's name, then its reason as a
    sentence. Any other message (an app's own) stays as it is.
    """
    if (locale or current_locale()) == DEFAULT_LOCALE:
        return error.message
    message = error.message
    if isinstance(message, Formatted) and gettext(message.template, locale) != message.template:
        return gettext(message.template, locale, **message.params)  # its values filled in again
    translated = gettext(error.message, locale)
    if translated == error.message and isinstance(error, ValidationError) and error.fields:
        return " ".join(
            f"{name}: {reason_text(reason, locale)}" for name, reason in error.fields.items()
        )
    return translated


class UserExists(AuthError):
    """The email or username is already registered."""

    default_code = ErrorCode.USER_EXISTS
    default_status = 409
    default_message = N_("An account with this email or username already exists.")

    def __init__(self, message: str | None = None, *, field: str = "email") -> None:
        self.field = field
        super().__init__(message)


class InvalidCredentials(AuthError):
    """Wrong identifier or password; never says which."""

    default_code = ErrorCode.INVALID_CREDENTIALS
    default_status = 401
    default_message = N_("Invalid credentials.")


class InvalidToken(AuthError):
    """A token is malformed, expired, revoked, already used or of another purpose."""

    default_code = ErrorCode.INVALID_TOKEN
    default_status = 401
    default_message = N_("The token is invalid or has expired.")


class Unauthorized(AuthError):
    """No valid credential was supplied."""

    default_code = ErrorCode.UNAUTHORIZED
    default_status = 401
    default_message = N_("Authentication required.")


class UserNotFound(AuthError):
    """The token was valid but its user no longer exists."""

    default_code = ErrorCode.USER_NOT_FOUND
    default_status = 401
    default_message = N_("The user no longer exists.")


class Forbidden(AuthError):
    """Authenticated, but lacking a role or permission."""

    default_code = ErrorCode.FORBIDDEN
    default_status = 403
    default_message = N_("You do not have permission to do this.")


class AccountDisabled(AuthError):
    """The account is deactivated."""

    default_code = ErrorCode.ACCOUNT_DISABLED
    default_status = 403
    default_message = N_("This account is disabled.")


class EmailNotConfirmed(AuthError):
    """The email address must be confirmed before signing in."""

    default_code = ErrorCode.EMAIL_NOT_CONFIRMED
    default_status = 403
    default_message = N_("Please confirm your email address first.")


class TwoFactorRequired(AuthError):
    """The password was right; a second factor is needed. Carries a challenge token."""

    default_code = ErrorCode.TWO_FACTOR_REQUIRED
    default_status = 401
    default_message = N_("A second factor is required.")

    def __init__(
        self,
        message: str | None = None,
        *,
        challenge: str = "",
        methods: Sequence[str] = (),
        setup_required: bool = False,
    ) -> None:
        #: The signed challenge token ``POST /two-factor/verify`` takes (5 minutes, once).
        self.challenge = challenge
        #: The factors that can complete it (``totp``, ``recovery_code``, ``email``, ``passkey``).
        self.methods: list[str] = list(methods)
        #: The account must set up a second factor: ``POST /two-factor/totp/setup`` and
        #: ``/two-factor/totp/enable`` take ``challenge`` instead of a session.
        self.setup_required = setup_required
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        """``{"error": {"code", "message", "challenge", "methods"[, "setup_required"]}}``."""
        body = super().to_dict()
        body["error"]["challenge"] = self.challenge
        body["error"]["methods"] = list(self.methods)
        if self.setup_required:
            body["error"]["setup_required"] = True
        return body


class FeatureDisabled(AuthError):
    """The feature is switched off in settings."""

    default_code = ErrorCode.FEATURE_DISABLED
    default_status = 404
    default_message = N_("This feature is not enabled.")


class InvalidCode(AuthError):
    """A one-time code was wrong or already used."""

    default_code = ErrorCode.INVALID_CODE
    default_status = 401
    default_message = N_("The code is invalid.")


class ReauthRequired(AuthError):
    """The session is not fresh enough for this change."""

    default_code = ErrorCode.REAUTH_REQUIRED
    default_status = 401
    default_message = N_("Please sign in again to make this change.")


class CSRFFailed(AuthError):
    """A cookie-authenticated unsafe request came without a valid CSRF token."""

    default_code = ErrorCode.CSRF_FAILED
    default_status = 403
    default_message = N_("The CSRF token is missing or invalid.")


class _RetryAfterError(AuthError):
    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["retry_after"] = self.retry_after
        return body


class RateLimited(_RetryAfterError):
    """Too many attempts. ``retry_after`` is the number of seconds to wait."""

    default_code = ErrorCode.RATE_LIMITED
    default_status = 429
    default_message = N_("Too many attempts. Please wait and try again.")


class ServiceUnavailable(_RetryAfterError):
    """Storage or mail backend is down; nothing was half-written."""

    default_code = ErrorCode.SERVICE_UNAVAILABLE
    default_status = 503
    default_message = N_("The service is temporarily unavailable. Please try again shortly.")


class NotFound(AuthError):
    """No endpoint at this path under the API prefix."""

    default_code = ErrorCode.NOT_FOUND
    default_status = 404
    default_message = N_("No such endpoint.")


class MethodNotAllowed(AuthError):
    """The path exists, but not with this method. ``allowed`` goes out as ``Allow``."""

    default_code = ErrorCode.METHOD_NOT_ALLOWED
    default_status = 405
    default_message = N_("Method not allowed.")

    def __init__(self, message: str | None = None, *, allowed: Iterable[str] = ()) -> None:
        self.allowed: tuple[str, ...] = tuple(allowed)
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class PayloadTooLarge(AuthError):
    """The request body is over the limit; it was refused before parsing."""

    default_code = ErrorCode.PAYLOAD_TOO_LARGE
    default_status = 413
    default_message = N_("The request body is too large.")


class UnsupportedMediaType(AuthError):
    """A JSON endpoint was sent a body of another content type."""

    default_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    default_status = 415
    default_message = N_("The request body must be JSON (Content-Type: application/json).")


class InternalError(AuthError):
    """An unexpected failure; ``reference`` ties the answer to the logged traceback.

    Integrations answer it instead of a stack trace; the message names the
    reference and nothing else.
    """

    default_code = ErrorCode.INTERNAL_ERROR
    default_status = 500
    default_message = N_("Internal error.")

    def __init__(self, reference: str) -> None:
        self.reference = reference
        super().__init__(f"Internal error (ref {reference}).")
