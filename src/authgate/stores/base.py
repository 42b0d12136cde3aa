"""Store protocols: the small contracts every storage backend fulfils.

A backend may provide all of them (memory, SQLAlchemy, Django ORM) or only
some (Redis provides only sessions: single-use claims must stay durable). Rules every implementation
follows, checked by ``tests/stores/test_contract.py``:

* Each method is one transaction: it either completes or leaves nothing behind.
* Uniqueness of ``email_canonical`` / ``username_canonical`` is enforced by the
  storage itself (unique indexes); a lost race raises :class:`~authgate.errors.UserExists`
  with ``field`` set to ``"email"`` or ``"username"``.
* Anything single-use is claimed by one conditional write (:meth:`TokenStore.claim_token`,
  :meth:`UserStore.update_user` with ``expect``): of concurrent callers exactly one wins.
* An unreachable or failing backend raises :class:`~authgate.errors.ServiceUnavailable`,
  never a driver exception, and never with the URL or driver text in the message.
* Returned users are instances of ``user_model`` whose ``roles`` are loaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from authgate.models import EmailRecord, SessionRecord

__all__ = ["EmailStore", "RoleStore", "SessionStore", "Store", "TokenStore", "UserStore"]


@runtime_checkable
class UserStore(Protocol):
    """Users: create, look up by id / canonical email / canonical username, update atomically."""

    user_model: type[Any]

    def create_user(self, fields: Mapping[str, Any], roles: Sequence[str] = ()) -> Any:
        """Insert a user with ``fields`` (model attribute names) and the named roles.

        Missing roles are created. Raises ``UserExists(field=...)`` when the
        canonical email or username is taken.
        """

    def get_user(self, user_id: Any) -> Any | None:
        """The user with this id (a string is converted to the primary key type), or ``None``."""

    def get_user_by_email(self, email_canonical: str) -> Any | None:
        """The user whose ``email_canonical`` equals the argument, or ``None``."""

    def get_user_by_username(self, username_canonical: str) -> Any | None:
        """The user whose ``username_canonical`` equals the argument, or ``None``."""

    def find_users(self, filters: Mapping[str, Any]) -> list[Any]:
        """Users whose attributes equal every filter value (``email``/``username``
        are compared canonically). Ordered by creation time."""

    def list_users(self, offset: int = 0, limit: int | None = None) -> list[Any]:
        """Users ordered by creation time."""

    def count_users(self) -> int:
        """How many users exist."""

    def update_user(
        self,
        user_id: Any,
        changes: Mapping[str, Any],
        expect: Mapping[str, Any] | None = None,
    ) -> Any | None:
        """Apply ``changes`` in one conditional write and return the updated user.

        With ``expect``, the write happens only if every expected attribute
        still has the given value (compare-and-swap); otherwise nothing
        changes and ``None`` is returned. ``None`` is also returned when the
        user does not exist. Setting ``email`` or ``username`` also sets its
        canonical column; a clash raises ``UserExists``.
        """

    def delete_user(self, user_id: Any) -> bool:
        """Delete the user and everything that belongs to them (sessions, role links)."""


@runtime_checkable
class RoleStore(Protocol):
    """Roles and role membership."""

    role_model: type[Any]

    def create_role(
        self, name: str, description: str | None = None, permissions: Sequence[str] = ()
    ) -> Any:
        """Create a role; raises ``ValidationError`` if the name is taken."""

    def get_role(self, name: str) -> Any | None:
        """The role with this name, or ``None``."""

    def list_roles(self) -> list[Any]:
        """Every role, ordered by name."""

    def update_role(self, name: str, changes: Mapping[str, Any]) -> Any | None:
        """Change a role's description or permissions; ``None`` if it does not exist."""

    def delete_role(self, name: str) -> bool:
        """Delete a role (and its links to users)."""

    def add_role_to_user(self, user_id: Any, role_name: str) -> bool:
        """Give a user a role (created if missing); ``False`` if they already had it."""

    def remove_role_from_user(self, user_id: Any, role_name: str) -> bool:
        """Take a role away; ``False`` if the user did not have it."""


@runtime_checkable
class SessionStore(Protocol):
    """Server-side sessions, looked up by the digest of their token."""

    def create_session(self, record: SessionRecord) -> None:
        """Store a new session."""

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this token digest and its user (``None`` if the user is gone).

        One indexed lookup; must not scan.
        """

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        """Record activity (called at most once per touch interval, not per request)."""

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of a session (e.g. ``authenticated_at``, ``data``)."""

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        """The user's sessions, newest first (expired ones may be included)."""

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        """Delete one session; with ``user_id``, only if it belongs to that user."""

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        """Delete every session of the user but ``except_session_id``; returns how many."""

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        """Delete sessions whose absolute expiry has passed; returns how many."""


@runtime_checkable
class TokenStore(Protocol):
    """Single-use claims for emailed tokens."""

    def claim_token(
        self, jti: str, purpose: str, user_id: Any, expires_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """Mark a token used. ``True`` for exactly one of any number of concurrent
        callers with the same ``jti``; ``False`` for every other."""

    def is_claimed(self, jti: str) -> bool:
        """Whether ``jti`` has been claimed (and the claim not purged yet)."""

    def purge_used_tokens(self, now: dt.datetime) -> int:
        """Forget claims whose token has expired anyway."""


@runtime_checkable
class EmailStore(Protocol):
    """A user's extra email addresses (``multiple_emails``).

    The primary address stays on the user row; extra ones live here with a
    unique canonical form. ``swap_primary_email`` exchanges the two in one
    transaction.
    """

    def add_email(
        self, user_id: Any, email: str, confirmed_at: dt.datetime | None = None
    ) -> EmailRecord:
        """Add an address; ``UserExists`` if its canonical form is already an extra address."""

    def list_emails(self, user_id: Any) -> list[EmailRecord]:
        """The user's extra addresses, oldest first."""

    def get_email(self, email_id: str) -> EmailRecord | None:
        """One extra address by id."""

    def find_email(self, email_canonical: str) -> EmailRecord | None:
        """The extra address with this canonical form, whoever owns it."""

    def confirm_email_address(self, email_id: str, confirmed_at: dt.datetime) -> bool:
        """Mark confirmed, once: ``True`` only for the call that changed it."""

    def delete_email(self, email_id: str, user_id: Any) -> bool:
        """Remove one of the user's extra addresses."""

    def swap_primary_email(
        self, user_id: Any, email_id: str, expect_stamp: str, new_stamp: str
    ) -> Any | None:
        """Make a confirmed extra address the primary one and keep the old primary as extra.

        One transaction, conditional on the user's stamp (rotated to
        ``new_stamp``); returns the updated user or ``None`` (nothing changed).
        ``UserExists`` if the address became someone else's meanwhile.
        """


class Store(UserStore, RoleStore, SessionStore, TokenStore, EmailStore, Protocol):
    """A backend that provides everything (memory, SQLAlchemy, Django ORM)."""

    def close(self) -> None:
        """Release connections."""
