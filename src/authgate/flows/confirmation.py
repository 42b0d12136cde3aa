"""Email confirmation: send a link, confirm it once, complete an email change.

A confirmation token is bound to the address and to "not confirmed yet", so
it dies if the address changes or once any confirmation succeeds, and it is
claimed once in the store, so a second click never signs anyone in again
(Flask-Security #134). ``confirm_email`` also completes an email change and
confirms an added address: the token says which it is.
"""

from __future__ import annotations

from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import AccountDisabled, FeatureDisabled, InvalidToken
from authgate.flows import audit, email_change, emails, two_factor
from authgate.flows.links import (
    expires_in_minutes,
    fingerprint,
    link_url,
    redeem,
    within_send_limit,
)
from authgate.flows.sessions import EMAIL_LINK, start_session
from authgate.flows.validation import valid_email
from authgate.models import canonical_email
from authgate.results import AuthResult

__all__ = ["confirm_email", "send_confirmation", "send_confirmation_to"]

PURPOSE = "confirm_email"


def send_confirmation_to(ctx: Context, user: Any) -> None:
    """Email ``user`` a confirmation link (no limit check: callers decide)."""
    token = ctx.email_tokens.issue(PURPOSE, user.id, fingerprint(PURPOSE, user))
    ctx.mail.send(
        "confirm_email", user.email, user,
        link=link_url(ctx, "/verify-email", token),
        expires_in_minutes=expires_in_minutes(ctx.settings.confirm_email_within),
    )  # fmt: skip


def send_confirmation(ctx: Context, email: object) -> None:
    """Resend the confirmation link. Same answer whether or not the address is known."""
    if not ctx.settings.confirmable:
        raise FeatureDisabled("Email confirmation is not enabled.")
    address = canonical_email(valid_email(email))
    user = ctx.users.get_user_by_email(address)
    if user is None or user.email_confirmed_at is not None or not user.is_active:
        return
    if within_send_limit(ctx, PURPOSE, address):
        send_confirmation_to(ctx, user)


def confirm_email(ctx: Context, token: object, client: Client = NO_CLIENT) -> AuthResult:
    """Confirm an address (new account, email change or added address).

    Only the confirmation of a new account signs the user in (with
    ``login_after_confirm``): a link confirming an email change or an added
    address proves control of *that* mailbox, not of the account, and a
    mistyped address must not hand the account over (finding S7).
    """
    settings = ctx.settings
    attempts = (
        (PURPOSE, _complete_confirmation),
        (email_change.PURPOSE, email_change.complete_change),
        (emails.PURPOSE, emails.complete_add),
    )
    for purpose, complete in attempts:
        try:
            payload, user, stamp = redeem(ctx, purpose, token, settings.confirm_email_within)
        except InvalidToken:
            continue
        if not user.is_active:
            raise AccountDisabled()
        updated = complete(ctx, user, stamp, payload.data)
        audit.record(ctx, "email_confirm", user=updated, client=client, purpose=purpose)
        if (
            purpose == PURPOSE
            and settings.login_after_confirm
            and not two_factor.needs_second_factor(ctx, updated)
        ):
            return start_session(ctx, updated, stamp=stamp, client=client, method=EMAIL_LINK)
        return AuthResult(user=updated, token=None)
    raise InvalidToken()


def _complete_confirmation(ctx: Context, user: Any, stamp: str, data: dict[str, Any]) -> Any:
    updated = ctx.users.update_user(
        user.id,
        {"email_confirmed_at": ctx.now()},
        expect={"email_confirmed_at": None, "security_stamp": stamp},
    )
    if updated is None:  # confirmed concurrently by another click, or the account changed
        raise InvalidToken()
    signals.user_confirmed.send(ctx.sender, user=updated)
    return updated
