"""Changes a signed-in user makes to their own account: password, username, profile, deletion.

A password change rotates the security stamp in the same conditional write
as the new hash, so every other session and token dies with it even if the
process stops right after; the caller's own session is re-stamped and kept.

Given the caller's session token, a change that asks for no password (a
password set by a user signed in by an emailed link, or who has none) and
every username change or deletion needs a *fresh* session (see
:func:`~authgate.flows.sessions.require_fresh`); freshness is checked first,
then the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    FeatureDisabled,
    InvalidCredentials,
    RateLimited,
    UserNotFound,
    ValidationError,
)
from authgate.flows import audit
from authgate.flows.sessions import (
    ensure_fresh,
    forget_user_sessions,
    own_session,
    require_fresh,
    signed_in_by_link,
)
from authgate.flows.signin import Verified, account_key, check_password, password_input
from authgate.flows.validation import (
    check_app_fields,
    identifiers_of,
    profile_fields,
    valid_username,
)
from authgate.models import new_stamp

__all__ = [
    "change_password",
    "change_username",
    "delete_account",
    "reload_user",
    "update_profile",
    "verify_current_password",
]


def reload_user(ctx: Context, user: Any) -> Any:
    """The stored state of ``user`` (the object in hand may be stale)."""
    fresh = ctx.users.get_user(user.id)
    if fresh is None:
        raise UserNotFound()
    return fresh


def verify_current_password(
    ctx: Context,
    user: Any,
    password: object,
    field: str,
    client: Client = NO_CLIENT,
    *,
    kind: str,
) -> Verified:
    """Re-check the user's password before a sensitive change (throttled per user).

    A refusal is recorded as a failed ``kind`` event (reason ``password`` or
    ``throttled``). Returns what was verified: a change conditional on
    ``verified.stamp`` cannot apply over a credential change that landed meanwhile.
    """
    secret = password_input(ctx, password, field)
    key = account_key(user)
    try:
        ctx.throttle.attempt(key, client.ip, scope="reauth")
    except RateLimited:
        audit.record(ctx, kind, outcome="failure", user=user, client=client, reason="throttled")
        raise
    try:
        verified = check_password(ctx, user, secret)
    except InvalidCredentials:
        ctx.throttle.failed(key, client.ip, scope="reauth")
        audit.record(ctx, kind, outcome="failure", user=user, client=client, reason="password")
        raise
    ctx.throttle.succeeded(key, scope="reauth")
    return verified


def change_password(
    ctx: Context,
    user: Any,
    current_password: object,
    new_password: object,
    *,
    revoke_other_sessions: object = True,
    current_token: str | None = None,
    client: Client = NO_CLIENT,
) -> Any:
    """Change the password; return the updated user.

    The current password is checked, except when ``current_token``'s session
    was signed in by an emailed link or the user has no password: then that
    session must be fresh instead (``REAUTH_REQUIRED`` otherwise) and
    ``current_password`` is not asked. Without ``current_token`` the current
    password is always required.

    Every session ends, except the one behind ``current_token`` (the caller's,
    which becomes fresh), and with ``revoke_other_sessions=False`` the user's
    other sessions are kept too.
    """
    if not ctx.settings.changeable:
        raise FeatureDisabled("Changing the password is not enabled.")
    if not isinstance(revoke_other_sessions, bool):
        raise ValidationError(fields={"revoke_other_sessions": "invalid"})
    user = reload_user(ctx, user)
    session = own_session(ctx, user, current_token)
    # A user signed in by an emailed link, or without a password, sets one with
    # a fresh session instead of the current password they may not know.
    by_session = session is not None and (user.password_hash is None or signed_in_by_link(session))
    if by_session:
        assert session is not None
        ensure_fresh(ctx, user, session, kind="password_change", client=client)
    elif user.password_hash is None:
        raise InvalidCredentials()
    try:
        new_secret = ctx.policy.validate(
            new_password,
            identifiers_of(user.email, user.username, ctx.settings.site_name),
            field="new_password",
        )
    except ValidationError:
        if not by_session:
            password_input(ctx, current_password, "current_password")
        raise
    if by_session:  # the fresh session is the proof: bind the change to what it saw
        verified = Verified(user, user.security_stamp, user.password_hash)
    else:
        verified = verify_current_password(
            ctx, user, current_password, "current_password", client, kind="password_change"
        )
    user = verified.user
    keep = None if session is None else session.id
    new_hash = ctx.hasher.hash(new_secret)
    stamp = new_stamp()
    now = ctx.now()
    notices = (
        ctx.outbox.prepare("password_changed", user.email, user)
        if ctx.settings.notify_password_changed
        else ()
    )
    updated = ctx.users.update_user(
        user.id,
        {"password_hash": new_hash, "security_stamp": stamp, "password_changed_at": now},
        expect=verified.expect,
        outbox=notices,
    )
    if updated is None:  # a concurrent credential change won; ours must not silently apply
        raise InvalidCredentials("Your account changed meanwhile; please try again.")
    try:  # the change is committed: its notice goes out whatever fails from here on
        if revoke_other_sessions:
            ctx.sessions.delete_user_sessions(user.id, except_session_id=keep)
            keepers = [keep] if keep else []
        else:
            keepers = [r.id for r in ctx.sessions.list_sessions(user.id)]
        for session_id in keepers:
            changes: dict[str, Any] = {"security_stamp": stamp}
            if session_id == keep:
                changes["authenticated_at"] = now
            ctx.sessions.update_session(session_id, changes)
        audit.record(ctx, "password_change", user=updated, client=client)
        signals.password_changed.send(ctx.sender, user=updated)
    finally:
        ctx.outbox.deliver(notices, updated)
    return updated


def change_username(
    ctx: Context,
    user: Any,
    new_username: object,
    password: object,
    client: Client = NO_CLIENT,
    *,
    token: str | None = None,
) -> Any:
    """Change the username after checking the password; return the updated user.

    With ``token`` (the caller's session), the session must be fresh first.
    """
    if not ctx.settings.usernames:
        raise FeatureDisabled("Usernames are not enabled.")
    user = reload_user(ctx, user)
    require_fresh(ctx, user, token, kind="username_change", client=client)
    username = valid_username(new_username, "new_username")
    user = verify_current_password(
        ctx, user, password, "password", client, kind="username_change"
    ).user
    old = user.username
    if old == username:
        return user
    notices = (
        ctx.outbox.prepare(
            "username_changed", user.email, user, old_username=old, new_username=username
        )
        if ctx.settings.notify_username_changed
        else ()
    )
    updated = ctx.users.update_user(user.id, {"username": username}, outbox=notices)
    if updated is None:
        raise UserNotFound()
    try:  # the change is committed: its notice goes out whatever fails from here on
        audit.record(ctx, "username_change", user=updated, client=client)
        signals.username_changed.send(ctx.sender, user=updated, old_username=old)
    finally:
        ctx.outbox.deliver(notices, updated)
    return updated


def update_profile(
    ctx: Context, user: Any, fields: Mapping[str, Any], client: Client = NO_CLIENT
) -> Any:
    """Change the user's own app fields that the app allows; return the updated user.

    Only the names of :func:`~authgate.flows.validation.profile_fields` pass:
    any other (``email``, ``roles``, ``is_active``, ``id``, an app column not
    allowed...) is a ``VALIDATION_ERROR`` naming it, and nothing is written.
    Values are checked against their column (``too_long``, ``invalid``). No
    password is asked: these are the app's own, non-credential fields. The
    change is recorded (``profile_update``, with the names changed) and every
    session cache reloads the user.

    Raises:
        ValidationError: a field that is not allowed, or a bad value.
        UserNotFound: the user no longer exists.
    """
    user = reload_user(ctx, user)
    allowed = profile_fields(ctx.settings, ctx.user_model)
    changes = check_app_fields(ctx.user_model, fields, allowed)
    if not changes:
        return user
    updated = ctx.users.update_user(user.id, changes)
    if updated is None:
        raise UserNotFound()
    audit.record(ctx, "profile_update", user=updated, client=client, fields=sorted(changes))
    return updated


def delete_account(
    ctx: Context,
    user: Any,
    password: object,
    *,
    token: str | None = None,
    client: Client = NO_CLIENT,
) -> None:
    """Delete the user's own account after checking freshness, then the password.

    The user, their sessions (whose tokens then answer ``USER_NOT_FOUND``),
    role links and extra addresses go; the security events stay until the
    retention purges them. The user is emailed ("your account was deleted")
    and :data:`~authgate.signals.user_deleted` is sent.

    Args:
        user: the account to delete.
        password: its password (not asked of an account without one).
        token: the caller's session, which must be fresh; ``None`` when the
            application vouches for the caller (the Python API, HTTP Basic).
        client: who asked.

    Raises:
        ReauthRequired: ``token``'s session is not fresh.
        InvalidCredentials: wrong password.
        RateLimited: too many wrong passwords.
    """
    user = reload_user(ctx, user)
    require_fresh(ctx, user, token, kind="account_delete", client=client)
    if user.password_hash is not None:
        user = verify_current_password(ctx, user, password, "password", client,
                                       kind="account_delete").user  # fmt: skip
    forget_user_sessions(ctx, user)
    notices = (
        ctx.outbox.prepare("account_deleted", user.email, user)
        if ctx.settings.notify_account_deleted
        else ()
    )
    if not ctx.users.delete_user(user.id, outbox=notices):
        raise UserNotFound()
    try:  # the account is gone: its notice goes out whatever fails from here on
        audit.record(ctx, "account_delete", user=user, client=client)
        signals.user_deleted.send(ctx.sender, user=user, actor="user")
    finally:
        ctx.outbox.deliver(notices, user)
