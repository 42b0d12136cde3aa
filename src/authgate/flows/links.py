"""Emailed links: issue a purpose-bound token, build its URL, redeem it exactly once.

Every failure while redeeming (bad signature, expired, other purpose, unknown
user, stale state, already used) is the same ``INVALID_TOKEN``: an attacker
learns nothing about why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple
from urllib.parse import quote

from authgate.context import Context
from authgate.errors import InvalidToken
from authgate.flows.validation import valid_email
from authgate.models import canonical_email
from authgate.tokens import TokenPayload, constant_time_equals, state_fingerprint

__all__ = [
    "DEFAULT_BASE_URL",
    "Redeemed",
    "fingerprint",
    "link_url",
    "mail_link",
    "redeem",
    "within_send_limit",
]

#: Where emailed links point when ``base_url`` is not set (development only).
DEFAULT_BASE_URL = "http://localhost:8000"


def fingerprint(purpose: str, user: Any) -> str:
    """The state a token of ``purpose`` is bound to; any change kills the token.

    * ``confirm_email``: the address and whether it is confirmed yet.
    * ``reset_password``: the security stamp and the password hash (any
      credential change, including the reset itself, rotates the stamp).
    * ``login_link`` / ``change_email``: the security stamp and the address.
    """
    if purpose == "confirm_email":
        return state_fingerprint(purpose, user.email_canonical, user.email_confirmed_at is None)
    if purpose == "reset_password":
        return state_fingerprint(purpose, user.security_stamp, user.password_hash or "")
    return state_fingerprint(purpose, user.security_stamp, user.email_canonical)


def link_url(ctx: Context, path: str, token: str) -> str:
    """An absolute link under the API prefix, built from ``base_url`` (never the Host header)."""
    base = ctx.settings.base_url or DEFAULT_BASE_URL  # Auth() warned when it is unset
    return f"{base.rstrip('/')}{ctx.url_prefix}{path}?token={quote(token, safe='')}"


def within_send_limit(ctx: Context, kind: str, address_canonical: str) -> bool:
    """Whether another ``kind`` email may go to this address this hour."""
    return ctx.throttle.allow(
        f"mail:{kind}", address_canonical, ctx.settings.email_send_limit, 3600
    )


class Redeemed(NamedTuple):
    """A verified (and, unless asked not to, claimed) emailed token."""

    payload: TokenPayload
    #: The token's user (``None`` for tokens without one, such as invitations).
    user: Any
    #: The user's security stamp the token was checked against (empty without a
    #: user): a session or change that follows must be bound to it, not re-read.
    stamp: str


def redeem(
    ctx: Context, purpose: str, token: object, max_age: int, *, claim: bool = True
) -> Redeemed:
    """Verify a token of ``purpose`` and load its user; claim it once when ``claim``.

    Raises ``INVALID_TOKEN`` on every failure.
    """
    payload = ctx.email_tokens.verify(purpose, token, max_age)
    user, stamp = None, ""
    if payload.user_id is not None:
        user = ctx.users.get_user(payload.user_id)
        if user is None:
            raise InvalidToken()
        stamp = user.security_stamp
        if not constant_time_equals(payload.fingerprint, fingerprint(purpose, user)):
            raise InvalidToken()
    if claim and not ctx.tokens.claim_token(
        payload.jti, purpose, payload.user_id, payload.expires_at, ctx.now()
    ):
        raise InvalidToken()
    return Redeemed(payload, user, stamp)


def expires_in_minutes(seconds: int) -> int:
    """A lifetime in whole minutes, for email wording."""
    return max(1, int(dt.timedelta(seconds=seconds).total_seconds() // 60))


def mail_link(
    ctx: Context, email: object, *, purpose: str, kind: str, path: str, lifetime: int
) -> tuple[Any, str] | None:
    """Mail a ``purpose`` link to the active account of ``email``, within the send limit.

    Returns ``(user, token)``, or ``None`` when nothing was sent (unknown or
    inactive address, limit reached): the caller answers the same either way.
    The link goes to the *stored* address, never to the typed one.
    """
    canonical = canonical_email(valid_email(email))
    user = ctx.users.get_user_by_email(canonical)
    if user is None or not user.is_active or not within_send_limit(ctx, purpose, canonical):
        return None
    token = ctx.email_tokens.issue(purpose, user.id, fingerprint(purpose, user))
    ctx.mail.send(
        kind, user.email, user,
        link=link_url(ctx, path, token), expires_in_minutes=expires_in_minutes(lifetime),
    )  # fmt: skip
    return user, token
