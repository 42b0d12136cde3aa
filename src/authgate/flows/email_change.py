"""Change of email address: the new address is confirmed before it replaces the old.

``change_email`` checks the password and mails a link to the NEW address; the
old one stays in force until that link is used. Completing the change rotates
the security stamp in the same write (every session ends) and tells the OLD
address. The answer never says whether the new address belongs to someone
else: that owner is told instead, and no link is sent.
"""

from __future__ import annotations

from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import FeatureDisabled, InvalidToken, UserExists, ValidationError
from authgate.flows import audit
from authgate.flows.account import reload_user, verify_current_password
from authgate.flows.links import expires_in_minutes, fingerprint, link_url, within_send_limit
from authgate.flows.sessions import require_fresh
from authgate.flows.validation import valid_email
from authgate.models import canonical_email, new_stamp

__all__ = ["PURPOSE", "change_email", "complete_change"]

PURPOSE = "change_email"


def change_email(
    ctx: Context,
    user: Any,
    new_email: object,
    password: object,
    client: Client = NO_CLIENT,
    *,
    token: str | None = None,
) -> None:
    """Ask to change the address: mails a confirmation link to ``new_email``.

    With ``token`` (the caller's session), the session must be fresh first;
    then the password is checked.
    """
    if not ctx.settings.change_email:
        raise FeatureDisabled("Changing the email address is not enabled.")
    user = reload_user(ctx, user)
    require_fresh(ctx, user, token, kind="email_change_request", client=client)
    address = valid_email(new_email, "new_email")
    canonical = canonical_email(address)
    if canonical == user.email_canonical:
        raise ValidationError("That is already your address.", fields={"new_email": "invalid"})
    user = verify_current_password(
        ctx, user, password, "password", client, kind="email_change_request"
    ).user
    # The same event whatever follows (address taken, limit reached): the user's
    # own event list must not tell whether the address has an account.
    audit.record(ctx, "email_change_request", user=user, client=client)
    if not within_send_limit(ctx, PURPOSE, canonical):
        return
    owner = ctx.users.get_user_by_email(canonical)
    if owner is not None:
        ctx.outbox.send("registration_attempt", owner.email, owner)
        return
    token = ctx.email_tokens.issue(PURPOSE, user.id, fingerprint(PURPOSE, user), {"email": address})
    ctx.mail.send(
        "email_change_confirm", address, user,
        link=link_url(ctx, "/verify-email", token), new_email=address, old_email=user.email,
        expires_in_minutes=expires_in_minutes(ctx.settings.confirm_email_within),
    )  # fmt: skip


def complete_change(ctx: Context, user: Any, stamp: str, data: dict[str, Any]) -> Any:
    """Make the confirmed new address the user's, rotating the stamp in the same write."""
    new_email = data.get("email")
    if not isinstance(new_email, str):
        raise InvalidToken()
    old_email = user.email
    notices = (
        ctx.outbox.prepare(
            "email_changed", old_email, user, old_email=old_email, new_email=new_email
        )
        if ctx.settings.notify_email_changed
        else ()
    )
    try:
        updated = ctx.users.update_user(
            user.id,
            {"email": new_email, "email_confirmed_at": ctx.now(), "security_stamp": new_stamp()},
            expect={"security_stamp": stamp},
            outbox=notices,
        )
    except UserExists:  # taken since the link was sent
        raise InvalidToken("That address is no longer available.") from None
    if updated is None:
        raise InvalidToken()
    try:  # the address changed: its notice goes out whatever fails from here on
        ctx.sessions.delete_user_sessions(user.id)
        audit.record(ctx, "email_change", user=updated)
        signals.email_changed.send(ctx.sender, user=updated, old_email=old_email)
    finally:
        ctx.outbox.deliver(notices, updated)
    return updated
