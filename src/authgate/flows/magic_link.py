"""Passwordless sign-in by a link sent by email (``passwordless``).

The link lives ``login_link_within`` seconds (10 minutes by default, NIST's
limit for out-of-band secrets), works once, and dies with any credential
change. Email is at best AAL1: it proves control of the mailbox, nothing more.

Opening a link for an account whose address was never confirmed confirms it
and *removes any password* set on it, rotating the stamp: someone who signed
up with another person's address beforehand cannot keep a way in
(pre-account hijacking, better-auth GHSA-qq9h).
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
from authgate.flows.sessions import EMAIL_LINK, start_session
from authgate.flows.signin import record_sign_in
from authgate.models import new_stamp
from authgate.results import AuthResult

__all__ = ["send_login_link", "sign_in_with_link"]

PURPOSE = "login_link"


def send_login_link(ctx: Context, email: object, client: Client = NO_CLIENT) -> None:
    """Email a sign-in link to an active account; the same answer for unknown addresses."""
    if not ctx.settings.passwordless:
        raise FeatureDisabled("Sign-in by email link is not enabled.")
    sent = mail_link(
        ctx, email, purpose=PURPOSE, kind="login_link", path="/magic-link/verify",
        lifetime=ctx.settings.login_link_within,
    )  # fmt: skip
    if sent is None:
        return
    user, token = sent
    audit.record(ctx, "login_link_request", user=user, client=client)
    signals.login_link_sent.send(ctx.sender, user=user, token=token)


def sign_in_with_link(ctx: Context, token: object, client: Client = NO_CLIENT) -> AuthResult:
    """Redeem a sign-in link once and start a session."""
    if not ctx.settings.passwordless:
        raise FeatureDisabled("Sign-in by email link is not enabled.")
    _, user, stamp = redeem(ctx, PURPOSE, token, ctx.settings.login_link_within)
    if not user.is_active:
        raise AccountDisabled()
    if user.email_confirmed_at is None:
        rotated = new_stamp()
        changes: dict[str, Any] = {
            "email_confirmed_at": ctx.now(),
            "password_hash": None,
            "security_stamp": rotated,
        }
        updated = ctx.users.update_user(user.id, changes, expect={"security_stamp": stamp})
        if updated is None:
            raise InvalidToken()
        ctx.sessions.delete_user_sessions(user.id)
        user, stamp = updated, rotated
    two_factor.gate(ctx, user, stamp=stamp, factor=EMAIL_LINK, client=client)
    user = record_sign_in(ctx, user, client, {"security_stamp": stamp})
    if user is None:  # the account's credentials changed since the link was checked
        raise InvalidToken()
    result = start_session(ctx, user, stamp=stamp, client=client, method=EMAIL_LINK)
    assert result.session is not None
    audit.record(ctx, "sign_in", user=user, client=client, factor="email_link")
    signals.user_logged_in.send(
        ctx.sender, user=user, session_id=result.session.id, ip=client.ip, method="link"
    )
    return result
