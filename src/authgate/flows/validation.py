"""Input checks shared by the flows. Each failure is a ``ValidationError`` naming the field."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email

from authgate.errors import ValidationError
from authgate.models import app_fields
from authgate.settings import Settings

__all__ = [
    "check_app_fields",
    "identifiers_of",
    "profile_fields",
    "require_text",
    "signup_fields",
    "valid_email",
    "valid_username",
]

#: RFC 5321 caps an address at 254 characters.
MAX_EMAIL_LENGTH = 254
USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 64
_USERNAME_PUNCTUATION = frozenset("._-")


def require_text(value: object, field: str, max_length: int = 1024) -> str:
    """A non-empty string of at most ``max_length`` characters, or ``ValidationError``."""
    if value is None or value == "":
        raise ValidationError(fields={field: "required"})
    if not isinstance(value, str):
        raise ValidationError(fields={field: "invalid"})
    if len(value) > max_length:
        raise ValidationError(fields={field: "too_long"})
    if not value.strip():
        raise ValidationError(fields={field: "required"})
    return value


def valid_email(value: object, field: str = "email") -> str:
    """Validate an email address; return its normalised form (domain lower-cased, IDNA decoded).

    No DNS lookups: deliverability is proven by the confirmation email.
    """
    text = require_text(value, field, MAX_EMAIL_LENGTH).strip()
    try:
        result = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        raise ValidationError(fields={field: "invalid"}) from None
    return result.normalized


def valid_username(value: object, field: str = "username") -> str:
    """Validate a username: 3–64 letters, digits, ``.``, ``_`` or ``-``, NFKC-normalised.

    ``@`` is never allowed, so a username can never be mistaken for an email.
    """
    text = require_text(value, field, USERNAME_MAX_LENGTH * 4)
    text = unicodedata.normalize("NFKC", text).strip()
    if len(text) < USERNAME_MIN_LENGTH:
        raise ValidationError(fields={field: "too_short"})
    if len(text) > USERNAME_MAX_LENGTH:
        raise ValidationError(fields={field: "too_long"})
    if not all(ch.isalnum() or ch in _USERNAME_PUNCTUATION for ch in text):
        raise ValidationError(fields={field: "invalid"})
    return text


def signup_fields(settings: Settings, model: type[Any]) -> tuple[str, ...]:
    """The app columns a visitor may set at sign-up: the setting, else the model's declaration.

    Raises:
        ValueError: a name that is not an app column of ``model`` (authgate's own
            columns, private ones and unknown names can never be allowed).
    """
    names = tuple(settings.signup_fields) or tuple(getattr(model, "__authgate_signup_fields__", ()))
    return _app_columns("signup_fields", names, model, "set at sign-up")


def profile_fields(settings: Settings, model: type[Any]) -> tuple[str, ...]:
    """The app columns a signed-in user may change on their own profile.

    The ``profile_fields`` setting, else the model's ``__authgate_profile_fields__``,
    else the sign-up allow-list (:func:`signup_fields`).

    Raises:
        ValueError: a name that is not an app column of ``model``.
    """
    names = tuple(settings.profile_fields) or tuple(
        getattr(model, "__authgate_profile_fields__", ())
    )
    if not names:
        return signup_fields(settings, model)
    return _app_columns("profile_fields", names, model, "changed by their user")


def _app_columns(
    setting: str, names: tuple[str, ...], model: type[Any], what: str
) -> tuple[str, ...]:
    columns = set(app_fields(model))
    wrong = [name for name in names if name not in columns]
    if wrong:
        choices = ", ".join(sorted(columns)) or "none: the model has no app columns"
        raise ValueError(
            f"{setting} names {', '.join(map(repr, wrong))}, which is not an app column "
            f"of {model.__name__} (allowed: {choices}); authgate's own columns (email, "
            f"is_active, roles...) and private ones can never be {what}"
        )
    return names


def check_app_fields(
    model: type[Any], fields: Mapping[str, Any], allowed: Collection[str]
) -> dict[str, Any]:
    """Keep only the allowed app columns; anything else (roles, is_active, id...) is rejected.

    Sign-up must never let a client set privileged attributes (SECURITY.md #25):
    only the names in ``allowed`` (see :func:`signup_fields`) pass, every other
    one is ``unknown_field``.
    """
    unknown = {name: "unknown_field" for name in fields if name not in allowed}
    if unknown:
        raise ValidationError(fields=unknown)
    table = getattr(model, "__table__", None)
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        column = table.columns[name] if table is not None else None
        if column is not None and value is not None:
            length = getattr(column.type, "length", None)
            if isinstance(value, str) and length is not None and len(value) > length:
                raise ValidationError(fields={name: "too_long"})
            if not isinstance(value, str | int | float | bool):
                raise ValidationError(fields={name: "invalid"})
        checked[name] = value
    return checked


def identifiers_of(email: str | None, username: str | None, *extra: str | None) -> list[str]:
    """Context words a password must not equal: the email, its local part, the username."""
    words: list[str] = []
    if email:
        words += [email, email.split("@", 1)[0]]
    if username:
        words.append(username)
    words += [w for w in extra if w]
    return words
