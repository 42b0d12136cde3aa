"""User and role administration: ``auth.users``, with Flask-Security's names.

Users created here are active and confirmed unless told otherwise.
``password=`` is plaintext and gets hashed; ``password_hash=`` keeps a hash
from another system as it is (it is verified in its own scheme and rehashed
on the next sign-in). Deactivating a user or setting their password rotates
the security stamp in the same write, which ends every session and token.

Every change is recorded in the audit trail with the actor ``"admin"``;
``auth.users.acting_as("cli")`` records another actor (the command line does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from authgate import signals
from authgate.context import Context
from authgate.errors import UserNotFound, ValidationError
from authgate.flows import audit
from authgate.flows.sessions import forget_user_sessions
from authgate.flows.validation import require_text, valid_email, valid_username
from authgate.models import canonical_email, new_stamp

__all__ = ["UserAdmin"]

_NOT_GIVEN: Any = object()


class UserAdmin:
    """Administration of users and roles (``auth.users``).

    Args:
        ctx: the flows' context.
        actor: who acts, as recorded in the audit trail (``"admin"``, ``"cli"``).
    """

    def __init__(self, ctx: Context, actor: str = "admin") -> None:
        self._ctx = ctx
        #: Who acts, as recorded in the audit trail.
        self.actor = actor

    def acting_as(self, actor: str) -> UserAdmin:
        """The same administration, its changes recorded as made by ``actor``.

        Args:
            actor: a short name (1 to 16 characters), e.g. ``"cli"`` or ``"support"``.

        Raises:
            ValueError: an empty or longer name.

        Examples:
            >>> auth.users.acting_as("cli").deactivate_user("bob@example.com")  # doctest: +SKIP
            True
        """
        if not isinstance(actor, str) or not 1 <= len(actor) <= 16:
            raise ValueError(f"acting_as() takes a name of 1 to 16 characters, got {actor!r}")
        return UserAdmin(self._ctx, actor)

    def _record(self, kind: str, user: Any = None, **details: Any) -> None:
        audit.record(self._ctx, kind, user=user, actor=self.actor, **details)

    # -- passwords ------------------------------------------------------------
    def hash_password(self, password: str) -> str:
        """Hash ``password`` with the current scheme (length-checked, NFKC-normalised)."""
        return self._ctx.hasher.hash(self._ctx.policy.check_length(password))

    def verify_password(self, password: str, user_or_hash: Any) -> bool:
        """Whether ``password`` matches a user (object) or a stored hash (string)."""
        stored = user_or_hash if isinstance(user_or_hash, str) else user_or_hash.password_hash
        if not isinstance(password, str) or len(password) > self._ctx.settings.password_max_length:
            return False
        ok, _ = self._ctx.hasher.verify(password, stored)
        return ok

    # -- users ----------------------------------------------------------------
    def create_user(self, **fields: Any) -> Any:
        """Create a user. ``email`` is required.

        Keywords: ``password`` (plaintext), ``password_hash`` (an existing hash),
        ``username``, ``roles`` (names or role objects), ``active`` /
        ``is_active`` (default ``True``), ``confirmed`` / ``email_confirmed``
        (default ``True``), and any column of the user model.

        Raises:
            ValidationError: bad email, username, password or unknown field.
            UserExists: the email or username is taken.
        """
        ctx = self._ctx
        values = dict(fields)
        email = valid_email(values.pop("email", None))
        username = values.pop("username", None)
        if username is not None:
            username = valid_username(username)
        password = values.pop("password", None)
        password_hash = values.pop("password_hash", None)
        if password is not None and password_hash is not None:
            raise ValidationError(
                "Give either password or password_hash, not both.",
                fields={"password_hash": "invalid"},
            )
        if password is not None:
            password_hash = self.hash_password(password)
        elif password_hash is not None:
            password_hash = require_text(password_hash, "password_hash", 255)
            if not ctx.hasher.acceptable(password_hash):
                # An absurdly costly hash (bcrypt cost 31: days per check) never verifies.
                raise ValidationError(
                    "This password hash costs more than authgate ever verifies "
                    "(e.g. bcrypt above 16, PBKDF2 above 20 million rounds).",
                    fields={"password_hash": "invalid"},
                )
        active = values.pop("active", values.pop("is_active", True))
        confirmed = values.pop("confirmed", values.pop("email_confirmed", True))
        confirmed_at = values.pop("email_confirmed_at", None)
        roles = [_role_name(r) for r in values.pop("roles", ())]
        table = ctx.user_model.__table__
        unknown = {k: "unknown_field" for k in values if k not in table.columns}
        if unknown:
            raise ValidationError(fields=unknown)
        record = {
            **values,
            "email": email,
            "username": username,
            "password_hash": password_hash,
            "is_active": bool(active),
            "email_confirmed_at": confirmed_at or (ctx.now() if confirmed else None),
        }
        user = ctx.users.create_user(record, roles)
        self._record("user_create", user)
        return user

    def find_user(self, **filters: Any) -> Any | None:
        """The first user matching every filter (``email``/``username`` case-insensitive)."""
        found = self._ctx.users.find_users(filters)
        return found[0] if found else None

    def get_user(self, id_or_email: Any) -> Any | None:
        """A user by id, or by email when the argument contains ``@``."""
        if isinstance(id_or_email, str) and "@" in id_or_email:
            return self._ctx.users.get_user_by_email(canonical_email(id_or_email))
        return self._ctx.users.get_user(id_or_email)

    def list_users(self, offset: int = 0, limit: int | None = None) -> list[Any]:
        """Users ordered by creation time."""
        return self._ctx.users.list_users(offset, limit)

    def count_users(self) -> int:
        """How many users exist."""
        return self._ctx.users.count_users()

    def _resolve(self, user: Any) -> Any:
        found = self.get_user(user) if isinstance(user, str | int) else user
        if found is None:
            raise UserNotFound()
        return found

    def delete_user(self, user: Any) -> bool:
        """Delete a user (object, id or email) with their sessions and role links.

        Their session tokens then answer ``USER_NOT_FOUND`` (until they would
        have expired), not ``INVALID_TOKEN``.
        """
        user = self._resolve(user)
        forget_user_sessions(self._ctx, user)
        deleted = self._ctx.users.delete_user(user.id)
        if deleted:
            self._record("account_delete", user)
            signals.user_deleted.send(self._ctx.sender, user=user, actor=self.actor)
        return deleted

    def _set_active(self, user: Any, active: bool) -> bool:
        user = self._resolve(user)
        if bool(user.is_active) == active:
            return False
        changes: dict[str, Any] = {"is_active": active}
        if not active:
            changes["security_stamp"] = new_stamp()
        updated = self._ctx.users.update_user(user.id, changes)
        if updated is None:
            raise UserNotFound()
        if not active:
            self._ctx.sessions.delete_user_sessions(user.id)
        _refresh(user, updated)
        self._record("user_activate" if active else "user_deactivate", user)
        return True

    def activate_user(self, user: Any) -> bool:
        """Activate a user; ``True`` if they were inactive."""
        return self._set_active(user, True)

    def deactivate_user(self, user: Any) -> bool:
        """Deactivate a user and end their sessions; ``True`` if they were active."""
        return self._set_active(user, False)

    def toggle_active(self, user: Any) -> bool:
        """Flip the active flag; returns the new value."""
        user = self._resolve(user)
        active = not user.is_active
        self._set_active(user, active)
        return active

    def confirm_user(self, user: Any) -> bool:
        """Mark the user's email address confirmed; ``False`` if it already was."""
        user = self._resolve(user)
        updated = self._ctx.users.update_user(
            user.id, {"email_confirmed_at": self._ctx.now()}, expect={"email_confirmed_at": None}
        )
        if updated is None:
            return False
        _refresh(user, updated)
        self._record("user_confirm", user)
        return True

    def set_password(self, user: Any, password: str) -> Any:
        """Set a new password (admin action): rotates the stamp, ends every session."""
        user = self._resolve(user)
        ctx = self._ctx
        password_hash = self.hash_password(password)
        updated = ctx.users.update_user(
            user.id,
            {
                "password_hash": password_hash,
                "security_stamp": new_stamp(),
                "password_changed_at": ctx.now(),
            },
        )
        if updated is None:
            raise UserNotFound()
        ctx.sessions.delete_user_sessions(user.id)
        _refresh(user, updated)
        self._record("password_change", updated)
        return updated

    # -- sessions -------------------------------------------------------------
    def revoke_session(self, user: Any, session_id: str) -> bool:
        """End one of ``user``'s sessions (an administrator's revoke); ``False`` if it was
        not theirs or is gone already."""
        user = self._resolve(user)
        if not isinstance(session_id, str) or not session_id:
            return False
        if not self._ctx.sessions.delete_session(session_id, user_id=user.id):
            return False
        self._record("session_revoke", user)
        signals.user_logged_out.send(self._ctx.sender, user=user, session_id=session_id)
        return True

    def revoke_sessions(self, user: Any) -> int:
        """End every session of ``user``; returns how many there were."""
        user = self._resolve(user)
        count = self._ctx.sessions.delete_user_sessions(user.id)
        if count:
            self._record("sessions_revoke", user, count=count)
        return int(count)

    # -- roles ----------------------------------------------------------------
    def create_role(
        self, name: str, description: str | None = None, permissions: Iterable[str] | str = ()
    ) -> Any:
        """Create a role; a taken name is a ``VALIDATION_ERROR``."""
        name = require_text(name, "name", 80).strip()
        perms = [permissions] if isinstance(permissions, str) else list(permissions)
        role = self._ctx.roles.create_role(name, description, perms)
        self._record("role_create", role=role.name)
        return role

    def find_role(self, name: str) -> Any | None:
        """The role with this name, or ``None``."""
        return self._ctx.roles.get_role(name)

    def find_or_create_role(self, name: str, **kwargs: Any) -> Any:
        """The role with this name, created (with ``description``/``permissions``) if missing."""
        role = self.find_role(name)
        if role is not None:
            return role
        try:
            return self.create_role(name, **kwargs)
        except ValidationError:
            role = self.find_role(name)  # created concurrently
            if role is None:
                raise
            return role

    def list_roles(self) -> list[Any]:
        """Every role, by name."""
        return self._ctx.roles.list_roles()

    def delete_role(self, role: Any) -> bool:
        """Delete a role (name or object) and its links to users."""
        name = _role_name(role)
        deleted = self._ctx.roles.delete_role(name)
        if deleted:
            self._record("role_delete", role=name)
        return deleted

    def add_role_to_user(self, user: Any, role: Any) -> bool:
        """Give ``user`` the role (created if missing); ``False`` if they had it already."""
        user = self._resolve(user)
        name = _role_name(role)
        added = self._ctx.roles.add_role_to_user(user.id, name)
        _reload_roles(self._ctx, user)
        if added:
            self._record("role_add", user, role=name)
        return added

    def remove_role_from_user(self, user: Any, role: Any) -> bool:
        """Take the role away; ``False`` if the user did not have it."""
        user = self._resolve(user)
        name = _role_name(role)
        removed = self._ctx.roles.remove_role_from_user(user.id, name)
        _reload_roles(self._ctx, user)
        if removed:
            self._record("role_remove", user, role=name)
        return removed

    def add_permissions_to_role(self, role: Any, permissions: Sequence[str] | str) -> Any:
        """Grant permissions to a role."""
        found = self._ctx.roles.get_role(_role_name(role))
        if found is None:
            raise ValidationError(fields={"role": "invalid"})
        current = found.get_permissions()
        new = {permissions} if isinstance(permissions, str) else set(permissions)
        granted = sorted(current | new)
        updated = self._ctx.roles.update_role(
            found.name, {"permissions": ",".join(granted) or None}
        )
        if granted != sorted(current):
            self._record("role_permissions", role=found.name, permissions=",".join(granted))
        return updated


def _role_name(role: Any) -> str:
    if isinstance(role, str) and role.strip():
        return role.strip()
    name = getattr(role, "name", None)  # a role object of any store's model
    if isinstance(name, str) and name:
        return name
    raise ValidationError(fields={"role": "invalid"})


def _refresh(target: Any, source: Any) -> None:
    """Copy the stored state onto an object the caller holds (if it is another object)."""
    if target is source:
        return
    for column in type(target).__table__.columns:
        try:
            setattr(target, column.key, getattr(source, column.key))
        except AttributeError:
            continue


def _reload_roles(ctx: Context, user: Any) -> None:
    fresh = ctx.users.get_user(user.id)
    if fresh is not None and fresh is not user:
        user.roles = list(fresh.roles)
