"""Server-side sessions: create, look up, list and revoke.

A session is valid while all of these hold:

* its absolute expiry has not passed (``session_lifetime``, or
  ``remember_lifetime`` for remember-me sessions);
* it has been used within ``session_idle_timeout`` (not for remember-me);
* the security stamp it was created with still equals the user's, so any
  credential change, made in the same database write as the stamp rotation,
  ends it even if nothing else happens afterwards;
* the user still exists and is active.

Activity is recorded at most once per touch interval, so a busy session does
not write to the database on every request.

With ``jwt_access_tokens``, :func:`start_session` (the one place every way
of signing in goes through) also issues the token pair: a JWT access token
naming the session (``sid``) and the first refresh token of the session's
family. The session stays the server-side state: it is listed, revoked and
ended by credential changes as any other, its ``authenticated_at`` is what
freshness is measured on (an access token makes the same checks through its
session), and ending it ends its refresh tokens. Every function here that
takes a token accepts an access token in place of the session token.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    AccountDisabled,
    InvalidToken,
    ReauthRequired,
    UserNotFound,
    ValidationError,
)
from authgate.flows import audit
from authgate.models import RefreshTokenRecord, SessionRecord
from authgate.results import AuthResult, SessionEntry, SessionInfo
from authgate.session_cache import StoreNeeded
from authgate.tokens import MAX_TOKEN_LENGTH, looks_like_jwt, new_session_token, token_digest

__all__ = [
    "EMAIL_LINK",
    "PASSWORD",
    "check_session",
    "create_session",
    "deleted_user_marker",
    "ensure_fresh",
    "forget_user_sessions",
    "get_session",
    "idle_deadline",
    "is_fresh",
    "list_sessions",
    "own_session",
    "refresh_record",
    "require_fresh",
    "revoke_other_sessions",
    "revoke_session",
    "session_id_of",
    "session_info",
    "session_record",
    "sign_out",
    "signed_in_by_link",
    "start_session",
    "token_pair",
    "verify_token",
]

#: Never record activity more often than this many seconds.
MAX_TOUCH_INTERVAL = 300

#: How a session was established, kept in its ``data["method"]`` (freshness
#: rules differ: see :mod:`authgate.flows.reauth`). A password was typed.
PASSWORD = "password"
#: An emailed link was opened (sign-in link, or a confirmation that signs in).
EMAIL_LINK = "email_link"


def _touch_interval(ctx: Context) -> int:
    idle = ctx.settings.session_idle_timeout
    if idle is None:
        return MAX_TOUCH_INTERVAL
    return max(1, min(MAX_TOUCH_INTERVAL, idle // 20))


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def create_session(
    ctx: Context,
    user: Any,
    *,
    stamp: str,
    remember: bool = False,
    client: Client = NO_CLIENT,
    method: str = PASSWORD,
) -> tuple[str, SessionRecord]:
    """Store a new session for ``user``; return the token (shown once) and the record.

    ``stamp`` is the security stamp of the credential state the caller
    *verified* (read before the password check, or written by the caller's
    own conditional update), never one re-read afterwards: a sign-in that
    raced a password reset then yields a session the lookup refuses, instead
    of one stamped with the new credentials (finding S2). ``method``
    (:data:`PASSWORD`, :data:`EMAIL_LINK`) records how the user proved who
    they are; the session is fresh from now.
    """
    now = ctx.now()
    lifetime = ctx.settings.remember_lifetime if remember else ctx.settings.session_lifetime
    token = new_session_token()
    record = SessionRecord(
        id=secrets.token_hex(16),  # hex: never starts with "-" (a CLI argument)
        token_hash=token_digest(token),
        user_id=str(user.id),
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=lifetime),
        authenticated_at=now,
        security_stamp=stamp,
        remember=bool(remember),
        ip=_clip(client.ip, 64),
        user_agent=_clip(client.user_agent, 512),
        data={"method": method},
    )
    ctx.sessions.create_session(record)
    return token, record


def session_info(record: SessionRecord, user: Any) -> SessionInfo:
    """The :class:`SessionInfo` of a session record and its user."""
    return _info(record, user)


def _info(record: SessionRecord, user: Any) -> SessionInfo:
    return SessionInfo(
        id=record.id,
        user=user,
        created_at=record.created_at,
        last_seen_at=record.last_seen_at,
        expires_at=record.expires_at,
        authenticated_at=record.authenticated_at,
        remember=record.remember,
        ip=record.ip,
        user_agent=record.user_agent,
    )


def start_session(
    ctx: Context,
    user: Any,
    *,
    stamp: str,
    remember: bool = False,
    client: Client = NO_CLIENT,
    method: str = PASSWORD,
) -> AuthResult:
    """Create a session bound to ``stamp`` (see :func:`create_session`) and wrap it as a sign-in.

    With ``jwt_access_tokens`` the result carries the token pair of the new
    session (:func:`token_pair`); the session token is then
    :attr:`~authgate.results.AuthResult.session_token` (the cookie's value).
    """
    token, record = create_session(
        ctx, user, stamp=stamp, remember=remember, client=client, method=method
    )
    info = _info(record, user)
    if ctx.access_tokens is None:
        return AuthResult(user=user, token=token, session=info)
    refresh = new_session_token()
    assert ctx.refresh_tokens is not None
    first = refresh_record(ctx, refresh, info, user.id, record.created_at)
    ctx.refresh_tokens.add_refresh_token(first)
    return token_pair(ctx, user, info, refresh, session_token=token)


def token_pair(
    ctx: Context,
    user: Any,
    session: SessionInfo,
    refresh: str,
    *,
    session_token: str | None = None,
) -> AuthResult:
    """A new access token of ``session`` for ``user``, with the refresh token ``refresh``
    (already stored), as the answer of a sign-in or a refresh."""
    assert ctx.access_tokens is not None
    access = ctx.access_tokens.issue(user, session.id, ctx.now())
    return AuthResult(
        user=user,
        token=access,
        session=session,
        refresh_token=refresh,
        expires_in=ctx.settings.access_token_lifetime,
        session_token=session_token,
        aliases=("access_token",) if ctx.settings.auth101_compat else (),
    )


def refresh_record(
    ctx: Context, refresh: str, session: SessionInfo, user_id: Any, now: dt.datetime
) -> RefreshTokenRecord:
    """The record of a refresh token of ``session``'s family, issued ``now``: it lives
    ``refresh_token_lifetime``, never past the session's own expiry."""
    lifetime = dt.timedelta(seconds=ctx.settings.refresh_token_lifetime)
    return RefreshTokenRecord(
        token_hash=token_digest(refresh),
        session_id=session.id,
        user_id=str(user_id),
        created_at=now,
        expires_at=min(now + lifetime, session.expires_at),
    )


def _is_live(ctx: Context, record: SessionRecord, now: dt.datetime) -> bool:
    if now >= record.expires_at:
        return False
    idle = ctx.settings.session_idle_timeout
    return record.remember or idle is None or now - record.last_seen_at < dt.timedelta(seconds=idle)


def idle_deadline(ctx: Context, session: SessionInfo) -> dt.datetime | None:
    """When ``session`` idle-expires unless used again; ``None`` when it cannot.

    Remember-me sessions and a ``session_idle_timeout`` of ``None`` never go
    idle. The deadline is counted from the last recorded activity, which lags
    real use by at most a few minutes, so it is never later than the real one.
    """
    idle = ctx.settings.session_idle_timeout
    if session.remember or idle is None:
        return None
    return min(session.expires_at, session.last_seen_at + dt.timedelta(seconds=idle))


def _touch_due(ctx: Context, record: SessionRecord, now: dt.datetime) -> bool:
    return (now - record.last_seen_at).total_seconds() >= _touch_interval(ctx)


def _serve_until(ctx: Context, record: SessionRecord) -> dt.datetime:
    """Until when a live session may be answered without the store.

    From then on the store must be asked again: the session expires, goes
    idle, or has activity to record.
    """
    until = min(record.expires_at, record.last_seen_at + dt.timedelta(seconds=_touch_interval(ctx)))
    idle = ctx.settings.session_idle_timeout
    if not record.remember and idle is not None:
        until = min(until, record.last_seen_at + dt.timedelta(seconds=idle))
    return until


def check_session(ctx: Context, record: SessionRecord, user: Any | None, now: dt.datetime) -> None:
    """Refuse a stored session that is no longer valid (see the module docstring).

    Raises:
        InvalidToken: expired (then deleted), idle too long, or its stamp is not the user's.
        UserNotFound: its user is gone.
        AccountDisabled: its user is deactivated.
    """
    if not _is_live(ctx, record, now):
        ctx.sessions.delete_session(record.id)
        raise InvalidToken()
    if user is None:
        raise UserNotFound()
    if not secrets.compare_digest(record.security_stamp, user.security_stamp):
        raise InvalidToken()
    if not user.is_active:
        raise AccountDisabled()


def _lookup(
    ctx: Context, token: object, *, memory_only: bool = False
) -> tuple[SessionRecord, SessionInfo]:
    """The live session behind ``token`` (record and info), from the cache or the store.

    ``token`` is a session token or an access token (``jwt_access_tokens``),
    whose ``sid`` names the session. With ``memory_only``,
    :class:`StoreNeeded` is raised instead of going to the store (async
    integrations then retry in a worker thread).
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    claims = None
    if ctx.access_tokens is not None and looks_like_jwt(token):
        claims = ctx.access_tokens.verify(token)
        if claims.session_id is None:  # signed by auth101: no session behind it
            raise InvalidToken()
    digest = token_digest(token)
    cache = ctx.session_cache
    epoch = 0
    if cache is not None:
        hit = cache.get(digest)
        # Anything the store must confirm or record (an expiry, activity) is a
        # miss: only sessions still plainly live are answered from memory.
        if hit is not None and ctx.now() < hit.until:
            return hit.record, hit.info
        epoch = cache.epoch
    if memory_only:
        raise StoreNeeded()
    if claims is not None:
        found = ctx.sessions.get_session_by_id(claims.session_id)  # type: ignore[arg-type]
        if found is None or found[0].user_id != claims.subject:
            raise InvalidToken()
    else:
        found = ctx.sessions.get_session(digest)
        if found is None:
            # Sessions go with their user; a tombstone left at deletion tells the
            # difference between "no such session" and "its user was deleted".
            if ctx.tokens.is_claimed(deleted_user_marker(digest)):
                raise UserNotFound()
            raise InvalidToken()
    record, user = found
    now = ctx.now()
    check_session(ctx, record, user, now)
    if _touch_due(ctx, record, now):
        ctx.sessions.touch_session(record.id, now)
        record.last_seen_at = now
    info = _info(record, user)
    if cache is not None:
        until = _serve_until(ctx, record)
        if claims is not None:
            until = min(until, dt.datetime.fromtimestamp(claims.expires_at, dt.timezone.utc))
        cache.put(digest, record, info, until, epoch)
    return record, info


def deleted_user_marker(token_hash: str) -> str:
    """The claim left for each session of a deleted user (never a real token id)."""
    return "deleted-user:" + token_hash[:48]


def forget_user_sessions(ctx: Context, user: Any) -> None:
    """Before deleting ``user``: leave a tombstone for each live session (until it would expire)."""
    now = ctx.now()
    for record in ctx.sessions.list_sessions(user.id):
        if record.expires_at > now:
            ctx.tokens.claim_token(
                deleted_user_marker(record.token_hash), "deleted_user", user.id,
                record.expires_at, now,
            )  # fmt: skip


def session_record(ctx: Context, token: object) -> tuple[SessionRecord, SessionInfo]:
    """The live session behind ``token``: its record (``authenticated_at``, ``data``) and info.

    Raises ``INVALID_TOKEN`` (or ``USER_NOT_FOUND``, ``ACCOUNT_DISABLED``) like :func:`get_session`.
    """
    return _lookup(ctx, token)


def get_session(ctx: Context, token: object, *, memory_only: bool = False) -> SessionInfo:
    """The session behind ``token``; raises ``INVALID_TOKEN`` (or ``USER_NOT_FOUND``).

    With ``memory_only``, only the session cache is asked: :class:`StoreNeeded`
    means the answer needs the store (a miss, or activity to record).
    """
    return _lookup(ctx, token, memory_only=memory_only)[1]


def verify_token(ctx: Context, token: object) -> Any | None:
    """The user behind ``token`` or ``None``; never raises for a bad token.

    A storage outage still raises ``SERVICE_UNAVAILABLE``: failing closed is
    not the same as "no such token".
    """
    try:
        return _lookup(ctx, token)[1].user
    except (InvalidToken, UserNotFound, AccountDisabled):
        return None


def sign_out(ctx: Context, token: object, client: Client = NO_CLIENT) -> bool:
    """Revoke the session behind ``token``. ``True`` if a live session was ended."""
    try:
        record, info = _lookup(ctx, token)
    except (InvalidToken, UserNotFound, AccountDisabled):
        return False
    removed = ctx.sessions.delete_session(record.id)
    if removed:
        audit.record(ctx, "sign_out", user=info.user, client=client)
        signals.user_logged_out.send(ctx.sender, user=info.user, session_id=record.id)
    return removed


def list_sessions(ctx: Context, user: Any, current: str | None = None) -> list[SessionEntry]:
    """The user's live sessions, newest first; ``current`` (a token or session id) is flagged."""
    current_id = None
    records = ctx.sessions.list_sessions(user.id)
    if current is not None:
        current_id = session_id_of(ctx, current)
        if current_id is None:
            digest = token_digest(current)
            current_id = next((r.id for r in records if r.token_hash == digest), current)
    now = ctx.now()
    return [
        SessionEntry(
            id=r.id,
            created_at=r.created_at,
            last_seen_at=r.last_seen_at,
            expires_at=r.expires_at,
            ip=r.ip,
            user_agent=r.user_agent,
            current=r.id == current_id,
        )
        for r in records
        if _is_live(ctx, r, now) and r.security_stamp == user.security_stamp
    ]


def session_id_of(ctx: Context, token: str) -> str | None:
    """The session an access token names (its ``sid``); ``None`` for anything else."""
    if ctx.access_tokens is None or not looks_like_jwt(token):
        return None
    try:
        return ctx.access_tokens.verify(token).session_id
    except InvalidToken:
        return None


def revoke_session(ctx: Context, user: Any, session_id: object, client: Client = NO_CLIENT) -> None:
    """Revoke one of the user's own sessions. Another user's session id is "invalid"."""
    if not isinstance(session_id, str) or not session_id or len(session_id) > 128:
        raise ValidationError(fields={"session_id": "invalid"})
    if not ctx.sessions.delete_session(session_id, user_id=user.id):
        raise ValidationError(fields={"session_id": "invalid"})
    audit.record(ctx, "session_revoke", user=user, client=client)
    signals.user_logged_out.send(ctx.sender, user=user, session_id=session_id)


def revoke_other_sessions(
    ctx: Context, user: Any, keep_token: object, client: Client = NO_CLIENT
) -> int:
    """Revoke every session of ``user`` except the one behind ``keep_token``.

    ``keep_token``'s session must be fresh (a credential proven within
    ``freshness`` seconds), else ``REAUTH_REQUIRED``.
    """
    record = require_fresh(ctx, user, keep_token, kind="sessions_revoke_others", client=client)
    if record is None:  # no token: no session to keep
        raise InvalidToken()
    count = ctx.sessions.delete_user_sessions(user.id, except_session_id=record.id)
    audit.record(ctx, "sessions_revoke_others", user=user, client=client, count=count)
    return count


def own_session(ctx: Context, user: Any, token: object) -> SessionRecord | None:
    """``user``'s live session behind ``token``, or ``None`` (no token, not theirs, not live)."""
    if token is None:
        return None
    try:
        record, info = _lookup(ctx, token)
    except (InvalidToken, UserNotFound, AccountDisabled):
        return None
    return record if str(info.user.id) == str(user.id) else None


# -- freshness ------------------------------------------------------------------------


def is_fresh(ctx: Context, record: SessionRecord) -> bool:
    """Whether the session proved a credential within the last ``freshness`` seconds."""
    age = ctx.now() - record.authenticated_at
    return age < dt.timedelta(seconds=ctx.settings.freshness)


def signed_in_by_link(record: SessionRecord | None) -> bool:
    """Whether the session was established by an emailed link (no password was typed)."""
    return record is not None and record.data.get("method") == EMAIL_LINK


def require_fresh(
    ctx: Context, user: Any, token: object, *, kind: str, client: Client = NO_CLIENT
) -> SessionRecord | None:
    """The caller's own live session behind ``token``, checked to be fresh.

    ``None`` when no token is given: the Python API called without a session
    (the application vouches for the user) and HTTP Basic (the password was
    proven in the request itself) need no freshness.

    Raises:
        InvalidToken: ``token`` is not a live session of ``user``.
        ReauthRequired: the session's last credential proof is older than
            ``freshness`` (recorded as a failed ``kind`` event).
    """
    if token is None:
        return None
    record, info = _lookup(ctx, token)
    if str(info.user.id) != str(user.id):
        raise InvalidToken()
    ensure_fresh(ctx, user, record, kind=kind, client=client)
    return record


def ensure_fresh(
    ctx: Context, user: Any, record: SessionRecord, *, kind: str, client: Client = NO_CLIENT
) -> None:
    """``REAUTH_REQUIRED`` (recorded as a failed ``kind`` event) unless ``record`` is fresh."""
    if not is_fresh(ctx, record):
        audit.record(
            ctx, kind, outcome="failure", user=user, client=client, reason="reauth_required"
        )
        raise ReauthRequired()
