"""Several email addresses per user (``multiple_emails``): add, confirm, make primary, remove.

The primary address (``user.email``) signs in and receives mail; extra ones
are confirmed before they can become primary. Adding an address never says
whether it belongs to someone else: its owner is told instead, and the answer
is the same (django-allauth 0.55.0). Making an address primary is a
credential change: the stamp rotates in the same transaction and the old
address is told. Given the caller's session token, adding, removing and
making primary need a fresh session (django-allauth asks for
reauthentication too); freshness is checked first, then the password.
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

__all__ = ["PURPOSE", "add_email", "complete_add", "list_emails", "make_primary", "remove_email"]

PURPOSE = "add_email"


def _enabled(ctx: Context) -> None:
    if not ctx.settings.multiple_emails:
        raise FeatureDisabled("Multiple email addresses are not enabled.")


def list_emails(ctx: Context, user: Any) -> list[dict[str, Any]]:
    """The user's addresses, primary first: ``[{"id", "email", "confirmed", "primary"}]``."""
    _enabled(ctx)
    user = reload_user(ctx, user)
    primary = {
        "id": "primary",
        "email": user.email,
        "confirmed": user.email_confirmed_at is not None,
        "primary": True,
    }
    return [primary, *(r.to_dict() for r in ctx.emails.list_emails(user.id))]


def add_email(
    ctx: Context,
    user: Any,
    email: object,
    password: object,
    client: Client = NO_CLIENT,
    *,
    token: str | None = None,
) -> None:
    """Add an address and mail it a confirmation link (same answer if it is taken)."""
    _enabled(ctx)
    user = reload_user(ctx, user)
    require_fresh(ctx, user, token, kind="email_add", client=client)
    address = valid_email(email)
    canonical = canonical_email(address)
    if canonical == user.email_canonical:
        raise ValidationError("That is already your address.", fields={"email": "invalid"})
    user = verify_current_password(ctx, user, password, "password", client, kind="email_add").user
    # Recorded whatever follows: the user's events must not tell whether it is taken.
    audit.record(ctx, "email_add", user=user, client=client)
    store = ctx.emails
    if not within_send_limit(ctx, PURPOSE, canonical):
        return
    owner = ctx.users.get_user_by_email(canonical)
    extra = store.find_email(canonical)
    if owner is None and extra is not None:
        owner = ctx.users.get_user(extra.user_id)
    if owner is not None:
        if str(owner.id) != str(user.id):
            ctx.outbox.send("registration_attempt", address, owner)
        return
    try:
        record = store.add_email(user.id, address)
    except UserExists:  # added by someone else meanwhile
        return
    token = ctx.email_tokens.issue(PURPOSE, user.id, fingerprint(PURPOSE, user), {"id": record.id})
    ctx.mail.send(
        "email_add_confirm", address, user,
        link=link_url(ctx, "/verify-email", token), new_email=address,
        expires_in_minutes=expires_in_minutes(ctx.settings.confirm_email_within),
    )  # fmt: skip


def complete_add(ctx: Context, user: Any, stamp: str, data: dict[str, Any]) -> Any:
    """Confirm an added address (called by ``confirm_email``)."""
    email_id = data.get("id")
    store = ctx.emails
    record = store.get_email(email_id) if isinstance(email_id, str) else None
    if record is None or record.user_id != str(user.id):
        raise InvalidToken()
    if not store.confirm_email_address(record.id, ctx.now()):
        raise InvalidToken()
    return user


def remove_email(
    ctx: Context,
    user: Any,
    email_id: object,
    client: Client = NO_CLIENT,
    *,
    token: str | None = None,
) -> None:
    """Remove one of the user's extra addresses (the primary one cannot be removed)."""
    _enabled(ctx)
    require_fresh(ctx, user, token, kind="email_remove", client=client)
    store = ctx.emails
    if not isinstance(email_id, str) or not store.delete_email(email_id, user.id):
        raise ValidationError(fields={"email_id": "invalid"})
    audit.record(ctx, "email_remove", user=user, client=client)


def make_primary(
    ctx: Context,
    user: Any,
    email_id: object,
    password: object,
    client: Client = NO_CLIENT,
    *,
    token: str | None = None,
) -> Any:
    """Make a confirmed extra address the primary one; every session ends."""
    _enabled(ctx)
    user = reload_user(ctx, user)
    require_fresh(ctx, user, token, kind="email_make_primary", client=client)
    verified = verify_current_password(
        ctx, user, password, "password", client, kind="email_make_primary"
    )
    user = verified.user
    store = ctx.emails
    if not isinstance(email_id, str):
        raise ValidationError(fields={"email_id": "invalid"})
    refused = ValidationError(
        "Only a confirmed address of yours can become primary.", fields={"email_id": "invalid"}
    )
    record = store.get_email(email_id)
    if record is None or record.user_id != str(user.id) or record.confirmed_at is None:
        raise refused
    old_email = user.email
    # The swap is conditional on the stamp read with the user: the address read
    # here is the one it makes primary (another swap would have rotated the stamp).
    notices = (
        ctx.outbox.prepare(
            "email_changed", old_email, user, old_email=old_email, new_email=record.email
        )
        if ctx.settings.notify_email_changed
        else ()
    )
    updated = store.swap_primary_email(
        user.id, email_id, verified.stamp, new_stamp(), outbox=notices
    )
    if updated is None:
        raise refused
    try:  # the address changed: its notice goes out whatever fails from here on
        ctx.sessions.delete_user_sessions(user.id)
        audit.record(ctx, "email_make_primary", user=updated, client=client)
        signals.email_changed.send(ctx.sender, user=updated, old_email=old_email)
    finally:
        ctx.outbox.deliver(notices, updated)
    return updated
