"""Forgot / reset password.

``forgot_password`` answers the same for every address and does the same
work on the request path (the email is rendered and sent in the background).
The link goes to the *stored* address of the account whose canonical address
matches, never to the typed one. A reset token is bound to the security
stamp and the password hash, so it dies with any password change (including
its own use), and the reset rotates the stamp in the same write as the new
hash: every session ends, and of concurrent redemptions exactly one wins.
"""

from __future__ import annotations

from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import AccountDisabled, FeatureDisabled, InvalidToken
from authgate.flows import audit, two_factor
from authgate.flows.links import (
    mail_link,
    redeem,
)
from authgate.flows.sessions import start_session
from authgate.flows.signin import account_key
from authgate.flows.validation import identifiers_of
from authgate.models import new_stamp
from authgate.results import AuthResult

__all__ = ["forgot_password", "reset_password"]

PURPOSE = "reset_password"


def forgot_password(ctx: Context, email: object, client: Client = NO_CLIENT) -> None:
    """Email a reset link if the address belongs to an active account; same answer otherwise."""
    if not ctx.settings.recoverable:
        raise FeatureDisabled("Password recovery is not enabled.")
    sent = mail_link(
        ctx, email, purpose=PURPOSE, kind="reset_password", path="/reset-password",
        lifetime=ctx.settings.reset_password_within,
    )  # fmt: skip
    if sent is None:
        return
    user, token = sent
    audit.record(ctx, "password_reset_request", user=user, client=client)
    signals.reset_password_instructions_sent.send(ctx.sender, user=user, token=token)


def reset_password(
    ctx: Context, token: object, new_password: object, client: Client = NO_CLIENT
) -> AuthResult:
    """Set a new password with a reset token; every session ends.

    Returns the user, and a session token when ``login_after_reset`` is on.
    """
    if not ctx.settings.recoverable:
        raise FeatureDisabled("Password recovery is not enabled.")
    # Check the token before the password so a bad link says INVALID_TOKEN first,
    # but do not claim it until the new password is acceptable.
    payload, user, stamp = redeem(
        ctx, PURPOSE, token, ctx.settings.reset_password_within, claim=False
    )
    if not user.is_active:
        raise AccountDisabled()
    secret = ctx.policy.validate(
        new_password,
        identifiers_of(user.email, user.username, ctx.settings.site_name),
        field="new_password",
    )
    new_hash = ctx.hasher.hash(secret)
    rotated = new_stamp()
    changes: dict[str, Any] = {
        "password_hash": new_hash,
        "security_stamp": rotated,
        "password_changed_at": ctx.now(),
    }
    if user.email_confirmed_at is None:  # the link proved the address
        changes["email_confirmed_at"] = ctx.now()
    notices = (
        ctx.outbox.prepare("password_reset", user.email, user)
        if ctx.settings.notify_password_reset
        else ()
    )
    updated = ctx.users.update_user(
        user.id, changes, expect={"security_stamp": stamp}, outbox=notices
    )
    if updated is None:
        raise InvalidToken()
    try:  # the password changed: its notice goes out whatever fails from here on
        if not ctx.tokens.claim_token(
            payload.jti, PURPOSE, payload.user_id, payload.expires_at, ctx.now()
        ):
            raise InvalidToken()
        ctx.sessions.delete_user_sessions(user.id)
        ctx.throttle.clear(account_key(updated))
        audit.record(ctx, "password_reset", user=updated, client=client)
        signals.password_reset.send(ctx.sender, user=updated)
    finally:
        ctx.outbox.deliver(notices, updated)
    if ctx.settings.login_after_reset and not two_factor.needs_second_factor(ctx, updated):
        return start_session(ctx, updated, stamp=rotated, client=client)
    return AuthResult(user=updated, token=None)
