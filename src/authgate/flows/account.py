"""Changes a signed-in user makes to their own account: password and username.

A password change rotates the security stamp in the same conditional write
as the new hash, so every other session and token dies with it even if the
process stops right after; the caller's own session is re-stamped and kept.
"""

from __future__ import annotations

from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import FeatureDisabled, InvalidCredentials, UserNotFound, ValidationError
from authgate.flows import audit
from authgate.flows.sessions import current_session_id
from authgate.flows.signin import Verified, account_key, check_password, password_input
from authgate.flows.validation import identifiers_of, valid_username
from authgate.models import new_stamp

__all__ = ["change_password", "change_username", "reload_user", "verify_current_password"]


def reload_user(ctx: Context, user: Any) -> Any:
    """The stored state of ``user`` (the object in hand may be stale)."""
    fresh = ctx.users.get_user(user.id)
    if fresh is None:
        raise UserNotFound()
    return fresh


def verify_current_password(
    ctx: Context, user: Any, password: object, field: str, client: Client = NO_CLIENT
) -> Verified:
    """Re-check the user's password before a sensitive change (throttled per user).

    Returns what was verified: a change conditional on ``verified.stamp``
    cannot apply over a credential change that landed meanwhile.
    """
    secret = password_input(ctx, password, field)
    key = account_key(user)
    ctx.throttle.attempt(key, client.ip, scope="reauth")
    try:
        verified = check_password(ctx, user, secret)
    except InvalidCredentials:
        ctx.throttle.failed(key, client.ip, scope="reauth")
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
    """Change the password after checking the current one; return the updated user.

    Every session ends, except the one behind ``current_token`` (the caller's),
    and with ``revoke_other_sessions=False`` the user's other sessions are kept too.
    """
    if not ctx.settings.changeable:
        raise FeatureDisabled("Changing the password is not enabled.")
    if not isinstance(revoke_other_sessions, bool):
        raise ValidationError(fields={"revoke_other_sessions": "invalid"})
    user = reload_user(ctx, user)
    if user.password_hash is None:
        raise InvalidCredentials()
    try:
        new_secret = ctx.policy.validate(
            new_password,
            identifiers_of(user.email, user.username, ctx.settings.site_name),
            field="new_password",
        )
    except ValidationError:
        password_input(ctx, current_password, "current_password")
        raise
    verified = verify_current_password(ctx, user, current_password, "current_password", client)
    keep = current_session_id(ctx, current_token) if current_token else None
    new_hash = ctx.hasher.hash(new_secret)
    stamp = new_stamp()
    now = ctx.now()
    updated = ctx.users.update_user(
        user.id,
        {"password_hash": new_hash, "security_stamp": stamp, "password_changed_at": now},
        expect=verified.expect,
    )
    if updated is None:  # a concurrent credential change won; ours must not silently apply
        raise InvalidCredentials("Your account changed meanwhile; please try again.")
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
    if ctx.settings.notify_password_changed:
        ctx.mail.send("password_changed", updated.email, updated)
    return updated


def change_username(
    ctx: Context, user: Any, new_username: object, password: object, client: Client = NO_CLIENT
) -> Any:
    """Change the username after checking the password; return the updated user."""
    if not ctx.settings.usernames:
        raise FeatureDisabled("Usernames are not enabled.")
    user = reload_user(ctx, user)
    username = valid_username(new_username, "new_username")
    user = verify_current_password(ctx, user, password, "password", client).user
    old = user.username
    if old == username:
        return user
    updated = ctx.users.update_user(user.id, {"username": username})
    if updated is None:
        raise UserNotFound()
    signals.username_changed.send(ctx.sender, user=updated, old_username=old)
    if ctx.settings.notify_username_changed:
        ctx.mail.send(
            "username_changed", updated.email, updated, old_username=old, new_username=username
        )
    return updated
