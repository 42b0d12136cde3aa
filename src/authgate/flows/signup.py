"""Self-service sign-up.

The INSERT is the arbiter of uniqueness: there is no check-then-insert, and a
lost race comes back from the store as ``UserExists``. With ``confirmable``
on, an address that is already registered gets exactly the answer a new one
would (a look-alike user that is never stored, no token), after the same
amount of work (one password hash), so sign-up cannot be used to learn who
has an account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import FeatureDisabled, UserExists, ValidationError
from authgate.flows.sessions import start_session
from authgate.flows.validation import check_app_fields, valid_email, valid_username
from authgate.results import AuthResult

__all__ = ["identifiers_of", "sign_up"]


def identifiers_of(email: str | None, username: str | None, *extra: str | None) -> list[str]:
    """Context words a password must not equal: the email, its local part, the username."""
    words: list[str] = []
    if email:
        words += [email, email.split("@", 1)[0]]
    if username:
        words.append(username)
    words += [w for w in extra if w]
    return words


def sign_up(
    ctx: Context,
    email: object,
    password: object,
    *,
    username: object = None,
    fields: Mapping[str, Any] | None = None,
    client: Client = NO_CLIENT,
) -> AuthResult:
    """Register a new user and, unless confirmation is required first, sign them in.

    Args:
        email: the address; validated and normalised (domain lower-cased).
        password: checked against the password policy.
        username: required when ``usernames`` is on; refused otherwise.
        fields: values for the app's own user columns; any other name
            (``roles``, ``is_active``, ``id``...) is a ``VALIDATION_ERROR``.
        client: IP and user agent for the session.
    """
    settings = ctx.settings
    if not settings.registerable:
        raise FeatureDisabled("Sign-up is not enabled.")
    if settings.invite_only:
        raise FeatureDisabled("Sign-up is by invitation only.")
    errors: dict[str, str] = {}
    clean_email = clean_username = None
    try:
        clean_email = valid_email(email)
    except ValidationError as exc:
        errors.update(exc.fields)
    if settings.usernames:
        try:
            clean_username = valid_username(username)
        except ValidationError as exc:
            errors.update(exc.fields)
    elif username is not None:
        errors["username"] = "unknown_field"
    try:
        extra = check_app_fields(ctx.user_model, fields or {})
    except ValidationError as exc:
        errors.update(exc.fields)
        extra = {}
    try:
        secret = ctx.policy.validate(
            password, identifiers_of(clean_email, clean_username, settings.site_name)
        )
    except ValidationError as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationError(fields=errors)
    assert clean_email is not None

    password_hash = ctx.hasher.hash(secret)
    values: dict[str, Any] = {
        **extra,
        "email": clean_email,
        "username": clean_username,
        "password_hash": password_hash,
        "is_active": True,
        "email_confirmed_at": None,
    }
    try:
        user = ctx.users.create_user(values)
    except UserExists as exc:
        if settings.confirmable and exc.field == "email":
            # Same shape, same status, no token: indistinguishable from a new sign-up.
            return AuthResult(user=ctx.user_model(**{**values, "password_hash": None}), token=None)
        raise

    if settings.confirmable and not settings.login_without_confirmation:
        result = AuthResult(user=user, token=None)
    else:
        result = start_session(ctx, user, client=client)
    signals.user_registered.send(ctx.sender, user=user)
    return result
