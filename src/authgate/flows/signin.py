"""Password sign-in by email, username, or either.

Unknown identifiers and wrong passwords are indistinguishable: same error,
and exactly one password verification on both paths (a dummy one for unknown
users). Account state (disabled, unconfirmed) is revealed only after the
password is right. A legacy or outdated hash is rehashed with a
compare-and-swap so a concurrent password change is never reverted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    AccountDisabled,
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCredentials,
    RateLimited,
    Unauthorized,
    UserNotFound,
    ValidationError,
)
from authgate.flows import audit, two_factor
from authgate.flows.sessions import start_session
from authgate.flows.validation import require_text
from authgate.models import canonical_email, canonical_username
from authgate.results import AuthResult

__all__ = [
    "Verified",
    "account_key",
    "authenticate",
    "check_password",
    "password_input",
    "record_sign_in",
    "sign_in",
    "sign_in_user",
    "verify_credentials",
]

#: The session ``method`` of a sign-in the application vouched for (``login_user``).
APP = "app"

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
        raise ValidationError(
            f"The password must be at most {ctx.settings.password_max_length} characters.",
            fields={field: "too_long"},
        )
    return password


@dataclass(frozen=True)
class Verified:
    """A user whose password was just checked, and the credential state that check saw.

    ``stamp`` and ``password_hash`` are read *before* the password is verified
    and never re-read: whatever a flow writes afterwards (a session, the
    sign-in count) is conditional on them, so a sign-in that raced a password
    reset or change cannot come out bound to the new credentials (finding S2).
    """

    user: Any
    stamp: str
    password_hash: str | None

    @property
    def expect(self) -> dict[str, Any]:
        """The ``expect`` of a conditional write that holds only while nothing changed."""
        return {"security_stamp": self.stamp, "password_hash": self.password_hash}


def check_password(ctx: Context, user: Any, password: str) -> Verified:
    """Verify ``password`` for ``user``, rehashing a legacy hash; return what was verified.

    Raises ``INVALID_CREDENTIALS`` on a mismatch.
    """
    # Read once, before verifying: a store may hand out objects that change
    # under us (the in-memory store's own records), and the state decides.
    stored, stamp = user.password_hash, user.security_stamp
    ok, new_hash = ctx.hasher.verify(password, stored)
    if not ok:
        raise InvalidCredentials()
    verified = Verified(user, stamp, stored)
    if new_hash is not None:
        updated = ctx.users.update_user(
            user.id, {"password_hash": new_hash}, expect=verified.expect
        )
        if updated is not None:  # else a concurrent change won: its hash stays (R10)
            verified = Verified(updated, stamp, new_hash)
    return verified


def _resolve(ctx: Context, kind: str, canonical: str) -> tuple[Any | None, str]:
    """The account an identifier names, and its throttling key.

    The key is the account's (``user:<id>``) whatever identifier named it, so
    its email and its username share one bucket (finding S8); an identifier
    that names no account is keyed by its canonical form.
    """
    user = _find(ctx, kind, canonical)
    return user, (f"{kind}:{canonical}" if user is None else account_key(user))


def account_key(user: Any) -> str:
    """The sign-in throttling key of an account (cleared by a successful reset)."""
    return f"user:{user.id}"


def verify_credentials(
    ctx: Context,
    identifier: object,
    password: object,
    *,
    by: IdentifierKind = "any",
    client: Client = NO_CLIENT,
) -> Verified:
    """Check an identifier and password with throttling; return what was verified, or raise.

    Raises:
        ValidationError: missing or malformed input (an over-long password is
            refused here, before any hashing).
        RateLimited: too many failures for this account or client IP.
        InvalidCredentials: unknown identifier or wrong password.
        AccountDisabled / EmailNotConfirmed: only once the password is right.
    """
    field = "email" if by == "email" else "username" if by == "username" else "identifier"
    text = require_text(identifier, field, 320).strip()
    secret = password_input(ctx, password)
    kind, canonical = _canonical_identity(ctx, text, by)
    user, throttle_key = _resolve(ctx, kind, canonical)
    try:
        ctx.throttle.attempt(throttle_key, client.ip)
    except RateLimited:
        audit.record(ctx, "sign_in", outcome="failure", user=user, client=client,
                     reason="throttled")  # fmt: skip
        raise
    if user is None or user.password_hash is None:
        ctx.hasher.dummy_verify(secret, ctx.decoys.pick(canonical))
        _failed(ctx, None, throttle_key, canonical, client, "unknown")
    try:
        verified = check_password(ctx, user, secret)
    except InvalidCredentials:
        _failed(ctx, user, throttle_key, canonical, client, "password")
    ctx.throttle.succeeded(throttle_key)
    user = verified.user
    if not user.is_active:
        audit.record(ctx, "sign_in", outcome="failure", user=user, client=client,
                     reason="disabled")  # fmt: skip
        raise AccountDisabled()
    if (
        ctx.settings.confirmable
        and user.email_confirmed_at is None
        and not ctx.settings.login_without_confirmation
    ):
        audit.record(ctx, "sign_in", outcome="failure", user=user, client=client,
                     reason="unconfirmed")  # fmt: skip
        raise EmailNotConfirmed()
    return verified


def authenticate(
    ctx: Context,
    identifier: object,
    password: object,
    *,
    by: IdentifierKind = "any",
    client: Client = NO_CLIENT,
) -> Any:
    """:func:`verify_credentials`, answering the user only (HTTP Basic creates no session).

    An account that signs in with a second factor is refused (``UNAUTHORIZED``):
    a password alone must never stand for it.
    """
    user = verify_credentials(ctx, identifier, password, by=by, client=client).user
    if two_factor.needs_second_factor(ctx, user):
        raise Unauthorized(
            "This account signs in with a second factor; HTTP Basic is not accepted for it."
        )
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


def record_sign_in(
    ctx: Context, user: Any, client: Client, expect: Mapping[str, Any]
) -> Any | None:
    """Record a sign-in (times, IPs, count) in one write, conditional on ``expect``.

    ``expect`` is the credential state the sign-in verified. When it no
    longer holds (a reset or password change landed meanwhile) nothing is
    written and ``None`` is returned: the credential the sign-in proved is no
    longer the account's, and the caller refuses it. With ``trackable`` off
    the same condition is checked without writing.
    """
    changes: dict[str, Any] = {}
    if ctx.settings.trackable:
        now = ctx.now()
        changes = {
            "last_sign_in_at": user.current_sign_in_at or now,
            "current_sign_in_at": now,
            "last_sign_in_ip": user.current_sign_in_ip or client.ip,
            "current_sign_in_ip": client.ip,
            "sign_in_count": (user.sign_in_count or 0) + 1,
        }
    return ctx.users.update_user(user.id, changes, expect=expect)


def sign_in(
    ctx: Context,
    identifier: object,
    password: object,
    *,
    remember: object = False,
    by: IdentifierKind = "any",
    client: Client = NO_CLIENT,
    trusted_device: str | None = None,
) -> AuthResult:
    """Sign in with an email or username and a password; start a session.

    With ``two_factor`` on, a user with a second factor gets
    ``TWO_FACTOR_REQUIRED`` instead (no session), unless ``trusted_device`` is
    their valid trusted-device cookie (:mod:`authgate.flows.two_factor`).
    """
    if not isinstance(remember, bool):
        raise ValidationError(fields={"remember": "invalid"})
    if by == "username" and not ctx.settings.usernames:
        raise FeatureDisabled("Sign-in by username is not enabled.")
    verified = verify_credentials(ctx, identifier, password, by=by, client=client)
    two_factor.gate(ctx, verified.user, stamp=verified.stamp, remember=remember,
                    trusted_device=trusted_device, client=client)  # fmt: skip
    user = record_sign_in(ctx, verified.user, client, verified.expect)
    if user is None:  # the password was changed or reset while it was being checked
        raise InvalidCredentials()
    result = start_session(ctx, user, stamp=verified.stamp, remember=remember, client=client)
    assert result.session is not None
    audit.record(ctx, "sign_in", user=user, client=client, factor="password")
    signals.user_logged_in.send(
        ctx.sender, user=user, session_id=result.session.id, ip=client.ip, method="password"
    )
    return result


def sign_in_user(
    ctx: Context, user: Any, *, remember: object = False, client: Client = NO_CLIENT
) -> AuthResult:
    """Start a session for a user the application has authenticated itself (``login_user``).

    No password is checked: the app vouches for the user (an SSO callback, a
    test, a sign-in form of its own). The user is read again from the store,
    so a stale object cannot resurrect old credentials; a deactivated or
    deleted user is refused. The session is fresh and recorded as a sign-in
    (tracking, audit trail, :data:`~authgate.signals.user_logged_in` with
    ``method="app"``).

    Raises:
        AccountDisabled: the user is deactivated.
        UserNotFound: the user does not exist (any more).
        ValidationError: ``remember`` is not a bool.
    """
    if not isinstance(remember, bool):
        raise ValidationError(fields={"remember": "invalid"})
    recorded = None
    for _ in range(3):  # a concurrent credential change: sign in as the account is now
        fresh = ctx.users.get_user(getattr(user, "id", None))
        if fresh is None:
            raise UserNotFound()
        if not fresh.is_active:
            raise AccountDisabled()
        stamp = fresh.security_stamp
        recorded = record_sign_in(ctx, fresh, client, {"security_stamp": stamp})
        if recorded is not None:
            break
    if recorded is None:
        raise UserNotFound()
    two_factor.gate(ctx, recorded, stamp=stamp, remember=remember, factor=APP, client=client)
    result = start_session(ctx, recorded, stamp=stamp, remember=remember, client=client,
                           method=APP)  # fmt: skip
    assert result.session is not None
    audit.record(ctx, "sign_in", user=recorded, client=client, factor=APP)
    signals.user_logged_in.send(
        ctx.sender, user=recorded, session_id=result.session.id, ip=client.ip, method=APP
    )
    return result
