"""Refresh tokens: rotation with reuse detection (``POST /token/refresh``).

A refresh token is 256 random bits, stored as its SHA-256 digest, and
belongs to a family: the session the sign-in created. Each refresh:

1. looks the token up. Unknown: ``INVALID_TOKEN``.
2. Already retired (a refresh replaced it) and presented again: someone
   holds a copy, the thief or the client. The whole family ends (the session
   is deleted, with every token of it), an audit event
   ``refresh_token_reuse`` is recorded, and the answer is ``INVALID_TOKEN``.
   Within ``refresh_reuse_grace`` seconds of its retirement it is only
   refused (clients that refresh from two tabs at once).
3. Checks the session as a session lookup does (live, not idle, stamp
   unchanged, user active): a password change or reset, a deactivation, a
   deletion and any stamp rotation have ended the family.
4. Retires the token and stores its successor in ONE conditional write
   (:meth:`~authgate.stores.base.RefreshTokenStore.rotate_refresh_token`).
   Of concurrent refreshes with one token (both read it before either
   retired it) exactly one wins; the others get ``INVALID_TOKEN`` and the
   family stays whole (better-auth CVE-2026-53517: a race must neither fork
   the family nor end it).
5. Answers a new pair: a new access token of the same session, and the new
   refresh token.
"""

from __future__ import annotations

import datetime as dt

from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import FeatureDisabled, InvalidToken, ValidationError
from authgate.flows import audit
from authgate.flows.sessions import (
    check_session,
    refresh_record,
    session_info,
    token_pair,
)
from authgate.results import AuthResult
from authgate.tokens import MAX_TOKEN_LENGTH, new_session_token, token_digest

__all__ = ["refresh", "revoke_refresh_token"]


def _digest(ctx: Context, token: object) -> str:
    if ctx.access_tokens is None or ctx.refresh_tokens is None:
        raise FeatureDisabled("Access and refresh tokens are not enabled.")
    if token is None or token == "":
        raise ValidationError(fields={"refresh_token": "required"})
    if not isinstance(token, str):
        raise ValidationError(fields={"refresh_token": "invalid"})
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValidationError(fields={"refresh_token": "too_long"})
    return token_digest(token)  # opaque: any other text is simply no refresh token


def refresh(ctx: Context, token: object, client: Client = NO_CLIENT) -> AuthResult:
    """Exchange a refresh token for a new pair (the presented one is retired).

    Returns:
        ``{user, token, refresh_token, expires_in, token_type}`` as a sign-in answers.

    Raises:
        ValidationError: no refresh token given (``required``), or not a string.
        InvalidToken: unknown, expired, retired (its family then ends) or lost a race.
        UserNotFound / AccountDisabled: the user is gone or deactivated.
        FeatureDisabled: ``jwt_access_tokens`` is off.
    """
    digest = _digest(ctx, token)
    store = ctx.refresh_tokens
    assert store is not None
    now = ctx.now()
    found = store.get_refresh_token(digest)
    if found is None:
        raise InvalidToken()
    if found.used_at is not None:
        grace = dt.timedelta(seconds=ctx.settings.refresh_reuse_grace)
        if now - found.used_at >= grace:
            _end_family(ctx, found.session_id, found.user_id, client)
        raise InvalidToken()
    if found.expires_at <= now:
        raise InvalidToken()
    session = ctx.sessions.get_session_by_id(found.session_id)
    if session is None:
        raise InvalidToken()
    record, user = session
    check_session(ctx, record, user, now)
    assert user is not None
    info = session_info(record, user)
    new = new_session_token()
    if not store.rotate_refresh_token(digest, refresh_record(ctx, new, info, user.id, now), now):
        raise InvalidToken()  # a concurrent refresh won; the family stays as it was
    ctx.sessions.touch_session(record.id, now)  # a refresh is a use of the session
    return token_pair(ctx, user, info, new)


def _end_family(ctx: Context, session_id: str, user_id: str, client: Client) -> None:
    """A retired refresh token came back: end its session and every token of it."""
    ended = ctx.sessions.delete_session(session_id)
    assert ctx.refresh_tokens is not None
    ctx.refresh_tokens.delete_refresh_tokens(session_id)
    user = ctx.users.get_user(user_id)
    audit.record(
        ctx, "refresh_token_reuse", outcome="failure", user=user, client=client,
        reason="reused", session_ended=ended,
    )  # fmt: skip


def revoke_refresh_token(ctx: Context, token: object, client: Client = NO_CLIENT) -> None:
    """End the family of a refresh token (sign-out by refresh token, auth101's ``/revoke``).

    Raises:
        InvalidToken: not a live refresh token.
    """
    digest = _digest(ctx, token)
    assert ctx.refresh_tokens is not None
    found = ctx.refresh_tokens.get_refresh_token(digest)
    if found is None or found.used_at is not None or found.expires_at <= ctx.now():
        raise InvalidToken()
    if not ctx.sessions.delete_session(found.session_id):
        raise InvalidToken()
    ctx.refresh_tokens.delete_refresh_tokens(found.session_id)
    user = ctx.users.get_user(found.user_id)
    audit.record(ctx, "sign_out", user=user, client=client)
