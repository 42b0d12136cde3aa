"""Invitations and invite-only sign-up (``invite_only``).

An invitation is a signed, expiring, single-use token naming the invited
address. Signing up with it confirms that address (the link proved it), and
only that address can use it.
"""

from __future__ import annotations

from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import InvalidToken, UserExists
from authgate.flows import audit
from authgate.flows.links import expires_in_minutes, link_url, redeem
from authgate.flows.validation import valid_email
from authgate.models import canonical_email
from authgate.tokens import state_fingerprint

__all__ = ["PURPOSE", "check_invitation", "claim_invitation", "invite", "invited_address"]

PURPOSE = "invite"


def invite(ctx: Context, email: object, invited_by: Any = None, client: Client = NO_CLIENT) -> str:
    """Invite ``email`` to sign up; returns the invitation token (also emailed).

    Raises:
        ValidationError: a malformed address.
        UserExists: the address already has an account.
    """
    address = valid_email(email)
    canonical = canonical_email(address)
    if ctx.users.get_user_by_email(canonical) is not None:
        raise UserExists()
    inviter_id = None if invited_by is None else str(invited_by.id)
    token = ctx.email_tokens.issue(
        PURPOSE, None, state_fingerprint(PURPOSE, canonical), {"email": address, "by": inviter_id}
    )
    ctx.mail.send(
        "invitation", address, None,
        link=link_url(ctx, "/sign-up", token),
        invited_by=invited_by,
        expires_in_minutes=expires_in_minutes(ctx.settings.invite_within),
    )  # fmt: skip
    audit.record(ctx, "invite", user=invited_by, client=client)
    signals.user_invited.send(ctx.sender, user=invited_by, email=address, invited_by=invited_by,
                              token=token)  # fmt: skip
    return token


def invited_address(ctx: Context, token: object) -> str:
    """The address an invitation was sent to, without using it (the sign-up page shows it).

    An invitation already used still answers here; signing up with it does not.

    Raises:
        InvalidToken: a bad or expired invitation.
    """
    redeemed = redeem(ctx, PURPOSE, token, ctx.settings.invite_within, claim=False)
    email = redeemed.payload.data.get("email")
    if not isinstance(email, str):
        raise InvalidToken()
    return email


def check_invitation(ctx: Context, token: object, email: str) -> Any:
    """Verify (without using) an invitation for ``email``; returns the token payload."""
    payload = redeem(ctx, PURPOSE, token, ctx.settings.invite_within, claim=False).payload
    invited = payload.data.get("email")
    canonical = canonical_email(email)
    if not isinstance(invited, str) or canonical_email(invited) != canonical:
        raise InvalidToken()
    if payload.fingerprint != state_fingerprint(PURPOSE, canonical):
        raise InvalidToken()
    return payload


def claim_invitation(ctx: Context, payload: Any) -> None:
    """Use an invitation once; a second use is ``INVALID_TOKEN``."""
    if not ctx.tokens.claim_token(payload.jti, PURPOSE, None, payload.expires_at, ctx.now()):
        raise InvalidToken()
