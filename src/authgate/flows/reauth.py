"""Reauthentication: prove a credential again so the session is fresh (``POST /reauthenticate``).

Sensitive changes need a credential proven within ``freshness`` seconds in
the session making them (:func:`~authgate.flows.sessions.require_fresh`).
Reauthenticating checks the password of **the session's own user**: there is
no identifier to give, so another account's credential can never make this
session fresh (Flask-Security GHSA-97r5 / GHSA-f66q). Wrong passwords are
throttled per user like every password re-check (the ``reauth`` scope), and
each attempt is recorded in the audit trail.

A cookie session gets a new token on reauthentication (``rotate``): a copy
of the old cookie, taken while the session was stale, does not become fresh
with it (ASVS 7.2.4, SECURITY #39). A bearer token is the caller's own
credential, kept by a program that sent it in the header; it stays the same,
as ``POST /reauthenticate`` answers ``{"success": true}`` (SPEC §5).
"""

from __future__ import annotations

from typing import Any

from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import InvalidToken
from authgate.flows import audit
from authgate.flows.account import reload_user, verify_current_password
from authgate.flows.sessions import session_record
from authgate.tokens import new_session_token, token_digest

__all__ = ["reauthenticate"]


def reauthenticate(
    ctx: Context,
    token: object,
    password: object,
    *,
    rotate: bool = False,
    client: Client = NO_CLIENT,
) -> str:
    """Check the session user's password and make the session behind ``token`` fresh.

    Args:
        token: the session's token.
        password: the password of the session's user (an account without a
            password cannot reauthenticate this way: ``INVALID_CREDENTIALS``).
        rotate: give the session a new token (the old one stops working).
        client: who asked.

    Returns:
        The token to use from now on: the new one with ``rotate``, else ``token``.

    Raises:
        InvalidToken / UserNotFound / AccountDisabled: ``token`` is not a live session.
        ValidationError: no password given (or an over-long one).
        InvalidCredentials: the password is not the session user's.
        RateLimited: too many wrong passwords for this user.
    """
    record, info = session_record(ctx, token)
    user: Any = reload_user(ctx, info.user)
    verify_current_password(ctx, user, password, "password", client, kind="reauthenticate")
    changes: dict[str, Any] = {"authenticated_at": ctx.now()}
    current = str(token)
    if rotate:
        current = new_session_token()
        changes["token_hash"] = token_digest(current)
    if not ctx.sessions.update_session(record.id, changes):  # revoked meanwhile
        raise InvalidToken()
    audit.record(ctx, "reauthenticate", user=user, client=client, factor="password")
    return current
