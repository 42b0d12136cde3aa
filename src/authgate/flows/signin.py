"""Password sign-in by email, username, or either.

Unknown identifiers and wrong passwords are indistinguishable: same error,
and exactly one password verification on both paths (a dummy one for unknown
users). Account state (disabled, unconfirmed) is revealed only after the
password is right. A legacy or outdated hash is rehashed with a
compare-and-swap so a concurrent password change is never reverted.
"""

from __future__ import annotations

from typing import Any, Literal, NoReturn

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    AccountDisabled,
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCredentials,
    RateLimited,
    ValidationError,
)
from authgate.flows import audit
from authgate.flows.sessions import start_session
from authgate.flows.validation import require_text
from authgate.models import canonical_email, canonical_username
from authgate.results import AuthResult

__all__ = ["authenticate", "check_password", "password_input", "record_sign_in", "sign_in"]

IdentifierKind = Literal["email", "username", "any"]


def _canonical_identity(ctx: Context, identifier: str, by: IdentifierKind) -> tuple[str, str]:
    """``(kind, canonical)`` of what the user typed."""
    if by == "email" or (by == "any" and ("@" in identifier or not ctx.settings.usernames)):
        return "email", canonical_email(identifier)
    return "username", canonical_username(identifier)


def _find(ctx: Context, kind: str, canonical: str) -> Any | None:
    if kind == "email":
        return ctx.users.get_user_by_email(canonical)
    return ctx.users.get_user_by_username(canonical)


def password_input(ctx: Context, password: object, field: str = "password") -> str:
    """A password as typed at sign-in: present, a string, not over the maximum length.

    The minimum length is not enforced here (older accounts may predate it);
    the maximum is, before any hashing, so a 1 MiB "password" costs nothing.
    """
    if password is None or password == "":
        raise ValidationError(fields={field: "required"})
    if not isinstance(password, str):
        raise ValidationError(fields={field: "invalid"})
    if len(password) > ctx.settings.password_max_length:
        raise ValidationError(fields={field: "too_long"})
    return password


def check_password(ctx: Context, user: Any, password: str) -> Any:
    """Verify ``password`` for ``user``, rehashing a legacy hash; return the (fresh) user.

    Raises ``INVALID_CREDENTIALS`` on a mismatch.
    """
    stored = user.password_hash  # read once: the CAS below must compare with what was verified
    ok, new_hash = ctx.hasher.verify(password, stored)
    if not ok:
        raise InvalidCredentials()
    if new_hash is not None:
        updated = ctx.users.update_user(
            user.id, {"password_hash": new_hash}, expect={"password_hash": stored}
        )
        user = updated or user
    return user


def authenticate(
    ctx: Context,
    identifier: object,
    password: object,
    *,
    by: IdentifierKind = "any",
    client: Client = NO_CLIENT,
) -> Any:
    """Check an identifier and password with throttling; return the user or raise.

    Raises:
        ValidationError: missing or malformed input (an over-long password is
            refused here, before any hashing).
        RateLimited: too many failures for this identity or client IP.
        InvalidCredentials: unknown identifier or wrong password.
        AccountDisabled / EmailNotConfirmed: only once the password is right.
    """
    field = "email" if by == "email" else "username" if by == "username" else "identifier"
    text = require_text(identifier, field, 320).strip()
    secret = password_input(ctx, password)
    kind, canonical = _canonical_identity(ctx, text, by)
    throttle_key = f"{kind}:{canonical}"
    try:
        ctx.throttle.attempt(throttle_key, client.ip)
    except RateLimited:
        audit.record(ctx, "sign_in", outcome="failure", client=client, reason="throttled")
        raise

    user = _find(ctx, kind, canonical)
    if user is None or user.password_hash is None:
        ctx.hasher.dummy_verify(secret)
        _failed(ctx, None, throttle_key, canonical, client, "unknown")
    try:
        user = check_password(ctx, user, secret)
    except InvalidCredentials:
        _failed(ctx, user, throttle_key, canonical, client, "password")
    ctx.throttle.succeeded(throttle_key)
    if not user.is_active:
        audit.record(ctx, "sign_in", outcome="failure", user=user, client=client, reason="disabled")
        raise AccountDisabled()
    if (
        ctx.settings.confirmable
        and user.email_confirmed_at is None
        and not ctx.settings.login_without_confirmation
    ):
        audit.record(
            ctx, "sign_in", outcome="failure", user=user, client=client, reason="unconfirmed"
        )
        raise EmailNotConfirmed()
    return user


def _failed(
    ctx: Context, user: Any, throttle_key: str, canonical: str, client: Client, reason: str
) -> NoReturn:
    ctx.throttle.failed(throttle_key, client.ip)
    audit.record(ctx, "sign_in", outcome="failure", user=user, client=client, reason=reason)
    signals.login_failed.send(
        ctx.sender, user=user, identifier=canonical, ip=client.ip, reason=reason
    )
    raise InvalidCredentials()


def record_sign_in(ctx: Context, user: Any, client: Client) -> Any:
    """Update the trackable columns (times, IPs, count) in one write."""
    if not ctx.settings.trackable:
        return user
    now = ctx.now()
    changes = {
        "last_sign_in_at": user.current_sign_in_at or now,
        "current_sign_in_at": now,
        "last_sign_in_ip": user.current_sign_in_ip or client.ip,
        "current_sign_in_ip": client.ip,
        "sign_in_count": (user.sign_in_count or 0) + 1,
    }
    return ctx.users.update_user(user.id, changes) or user


def sign_in(
    ctx: Context,
    identifier: object,
    password: object,
    *,
    remember: object = False,
    by: IdentifierKind = "any",
    client: Client = NO_CLIENT,
) -> AuthResult:
    """Sign in with an email or username and a password; start a session."""
    if not isinstance(remember, bool):
        raise ValidationError(fields={"remember": "invalid"})
    if by == "username" and not ctx.settings.usernames:
        raise FeatureDisabled("Sign-in by username is not enabled.")
    user = authenticate(ctx, identifier, password, by=by, client=client)
    user = record_sign_in(ctx, user, client)
    result = start_session(ctx, user, remember=remember, client=client)
    assert result.session is not None
    audit.record(ctx, "sign_in", user=user, client=client, factor="password")
    signals.user_logged_in.send(
        ctx.sender, user=user, session_id=result.session.id, ip=client.ip, method="password"
    )
    return result
