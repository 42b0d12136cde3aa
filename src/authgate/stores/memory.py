"""The in-memory store: every protocol of :mod:`authgate.stores.base`, in one process.

Meant for tests, demos and ``Auth(secret)`` without a database. It keeps
instances of the same model classes as the SQLAlchemy store (transient ORM
objects), so ``auth.User`` is the one user type whatever the storage. One
re-entrant lock guards every method, which makes each method atomic: the
uniqueness checks and the conditional writes happen under it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from authgate.errors import UserExists, ValidationError
from authgate.models import (
    ApiKeyRecord,
    EmailRecord,
    Notice,
    PasskeyRecord,
    RefreshTokenRecord,
    Role,
    SecurityEvent,
    SessionRecord,
    TwoFactorRecord,
    User,
    canonical_email,
    canonical_username,
    new_id,
)
from authgate.stores._common import (
    INVALID_KEY,
    check_attributes,
    coerce_key,
    key_type,
    permissions_text,
    primary_key,
)

__all__ = ["MemoryStore"]

_SESSION_FIELDS = frozenset(f.name for f in dataclasses.fields(SessionRecord)) - {"id"}


class MemoryStore:
    """A thread-safe store that keeps everything in process memory.

    Args:
        user_model: the user class (built on :class:`~authgate.UserMixin`).
        role_model: the role class (built on :class:`~authgate.RoleMixin`).

    Examples:
        >>> store = MemoryStore()
        >>> store.create_user({"email": "alice@example.com"}, roles=["admin"]).role_names
        ['admin']
    """

    def __init__(self, user_model: type[Any] = User, role_model: type[Any] = Role) -> None:
        self.user_model = user_model
        self.role_model = role_model
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._users: dict[Any, Any] = {}
        self._by_email: dict[str, Any] = {}
        self._by_username: dict[str, Any] = {}
        self._roles: dict[str, Any] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._by_token: dict[str, str] = {}
        self._claims: dict[str, dt.datetime] = {}
        self._emails: dict[str, EmailRecord] = {}
        self._events: list[SecurityEvent] = []
        self._event_ids = itertools.count(1)
        self._notices: dict[str, Notice] = {}
        self._refresh: dict[str, RefreshTokenRecord] = {}
        self._api_keys: dict[str, ApiKeyRecord] = {}
        self._by_key_hash: dict[str, str] = {}
        self._passkeys: dict[str, PasskeyRecord] = {}
        self._two_factor: dict[str, TwoFactorRecord] = {}
        self._recovery: dict[str, dict[str, dt.datetime | None]] = {}

    # -- users ------------------------------------------------------------------

    def create_user(
        self, fields: Mapping[str, Any], roles: Sequence[str] = (), *, outbox: Sequence[Notice] = ()
    ) -> Any:
        """Insert a user; see :meth:`authgate.stores.base.UserStore.create_user`."""
        if not fields.get("email"):
            raise ValidationError(fields={"email": "required"})
        with self._lock:
            user = self._new(self.user_model, fields)
            self._check_free(user.email_canonical, user.username_canonical, None)
            user.roles = [self._role_or_create(name) for name in sorted(set(roles))]
            self._users[user.id] = user
            self._index(user)
            self._keep_notices(outbox, user)
            return user

    def get_user(self, user_id: Any) -> Any | None:
        """The user with this id, or ``None``."""
        with self._lock:
            return self._users.get(self._user_key(user_id))

    def get_user_by_email(self, email_canonical: str) -> Any | None:
        """The user with this canonical email, or ``None``."""
        with self._lock:
            return self._users.get(self._by_email.get(email_canonical))

    def get_user_by_username(self, username_canonical: str) -> Any | None:
        """The user with this canonical username, or ``None``."""
        with self._lock:
            return self._users.get(self._by_username.get(username_canonical))

    def find_users(self, filters: Mapping[str, Any]) -> list[Any]:
        """Users whose attributes equal every filter (email/username canonically)."""
        check_attributes(self.user_model, filters)
        wanted = dict(filters)
        if wanted.get("email") is not None:
            wanted["email_canonical"] = canonical_email(wanted.pop("email"))
        if "username" in wanted:
            name = wanted.pop("username")
            wanted["username_canonical"] = canonical_username(name) if name else None
        pk = primary_key(self.user_model).key
        if pk in wanted and (converted := self._user_key(wanted[pk])) is not None:
            wanted[pk] = converted
        with self._lock:
            return [
                user
                for user in self._ordered_users()
                if all(getattr(user, key) == value for key, value in wanted.items())
            ]

    def list_users(self, offset: int = 0, limit: int | None = None) -> list[Any]:
        """Users ordered by creation time."""
        with self._lock:
            users = self._ordered_users()
        end = None if limit is None else offset + limit
        return users[offset:end]

    def count_users(self) -> int:
        """How many users exist."""
        with self._lock:
            return len(self._users)

    def reserve_user_id(self) -> Any:
        """See :meth:`authgate.stores.base.UserStore.reserve_user_id`."""
        with self._lock:
            return next(self._counter) if key_type(self.user_model) is int else new_id()

    def sample_password_hashes(self, exclude_prefix: str, limit: int) -> tuple[int, int, list[str]]:
        """See :meth:`authgate.stores.base.UserStore.sample_password_hashes`."""
        with self._lock:
            hashes = [u.password_hash for u in self._users.values() if u.password_hash]
            total = len(self._users)
        others = [h for h in hashes if not h.startswith(exclude_prefix)]
        return total, len(others), others[:limit]

    def update_user(
        self,
        user_id: Any,
        changes: Mapping[str, Any],
        expect: Mapping[str, Any] | None = None,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        """Compare-and-swap update; see :meth:`authgate.stores.base.UserStore.update_user`."""
        check_attributes(self.user_model, changes, writable=True)
        check_attributes(self.user_model, expect or {})
        with self._lock:
            user = self._users.get(self._user_key(user_id))
            if user is None:
                return None
            if any(getattr(user, key) != value for key, value in (expect or {}).items()):
                return None
            email = canonical_email(changes["email"]) if "email" in changes else None
            username = user.username_canonical
            if "username" in changes:
                username = canonical_username(changes["username"]) if changes["username"] else None
            self._check_free(email, username, user.id)
            self._unindex(user)
            for key, value in changes.items():
                setattr(user, key, value)
            self._index(user)
            self._keep_notices(outbox, user)
            return user

    def delete_user(self, user_id: Any, *, outbox: Sequence[Notice] = ()) -> bool:
        """Delete the user and their sessions (the ``outbox`` notices stay)."""
        with self._lock:
            user = self._users.pop(self._user_key(user_id), None)
            if user is None:
                return False
            self._unindex(user)
            self.delete_user_sessions(user.id)
            for record in [r for r in self._emails.values() if r.user_id == str(user.id)]:
                del self._emails[record.id]
            self._keep_notices(outbox, user)
            for key in [k for k in self._api_keys.values() if k.user_id == str(user.id)]:
                self._drop_api_key(key)
            for passkey in [p for p in self._passkeys.values() if p.user_id == str(user.id)]:
                del self._passkeys[passkey.id]
            self._two_factor.pop(str(user.id), None)
            self._recovery.pop(str(user.id), None)
            return True

    # -- roles ------------------------------------------------------------------

    def create_role(
        self, name: str, description: str | None = None, permissions: Sequence[str] = ()
    ) -> Any:
        """Create a role; ``ValidationError`` if the name is taken."""
        with self._lock:
            if name in self._roles:
                raise ValidationError(fields={"name": "taken"})
            role = self._new(
                self.role_model,
                {
                    "name": name,
                    "description": description,
                    "permissions": permissions_text(permissions),
                },
            )
            self._roles[name] = role
            return role

    def get_role(self, name: str) -> Any | None:
        """The role with this name, or ``None``."""
        with self._lock:
            return self._roles.get(name)

    def list_roles(self) -> list[Any]:
        """Every role, ordered by name."""
        with self._lock:
            return [self._roles[name] for name in sorted(self._roles)]

    def update_role(self, name: str, changes: Mapping[str, Any]) -> Any | None:
        """Change a role's fields; ``None`` if it does not exist."""
        check_attributes(self.role_model, changes, writable=True)
        with self._lock:
            role = self._roles.get(name)
            if role is None:
                return None
            new_name = changes.get("name", name)
            if new_name != name and new_name in self._roles:
                raise ValidationError(fields={"name": "taken"})
            for key, value in changes.items():
                setattr(role, key, permissions_text(value) if key == "permissions" else value)
            self._roles[role.name] = self._roles.pop(name)
            return role

    def delete_role(self, name: str) -> bool:
        """Delete a role and take it away from every user."""
        with self._lock:
            role = self._roles.pop(name, None)
            if role is None:
                return False
            for user in self._users.values():
                if role in user.roles:
                    user.roles.remove(role)
            return True

    def add_role_to_user(self, user_id: Any, role_name: str) -> bool:
        """Give a user a role (created if missing); ``False`` if they had it."""
        with self._lock:
            user = self._users.get(self._user_key(user_id))
            if user is None or user.has_role(role_name):
                return False
            user.roles.append(self._role_or_create(role_name))
            user.roles.sort(key=lambda r: r.name)
            return True

    def remove_role_from_user(self, user_id: Any, role_name: str) -> bool:
        """Take a role away; ``False`` if the user did not have it."""
        with self._lock:
            user = self._users.get(self._user_key(user_id))
            if user is None or not user.has_role(role_name):
                return False
            user.roles = [r for r in user.roles if r.name != role_name]
            return True

    # -- sessions ---------------------------------------------------------------

    def create_session(self, record: SessionRecord) -> None:
        """Store a copy of ``record``."""
        stored = dataclasses.replace(copy.deepcopy(record), user_id=str(record.user_id))
        with self._lock:
            self._sessions[record.id] = stored
            self._by_token[record.token_hash] = record.id

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this token digest and its user (``None`` if gone)."""
        with self._lock:
            record = self._sessions.get(self._by_token.get(token_hash, ""))
            if record is None:
                return None
            user = self._users.get(self._user_key(record.user_id))
            return _copy(record), user

    def get_session_by_id(self, session_id: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this id and its user (``None`` if gone)."""
        with self._lock:
            record = self._sessions.get(session_id)
            if record is None:
                return None
            return _copy(record), self._users.get(self._user_key(record.user_id))

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        """Record activity."""
        with self._lock:
            record = self._sessions.get(session_id)
            if record is not None:
                record.last_seen_at = last_seen_at

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of a session; ``False`` if it does not exist."""
        unknown = {name: "unknown_field" for name in changes if name not in _SESSION_FIELDS}
        if unknown:
            raise ValidationError(fields=unknown)
        with self._lock:
            record = self._sessions.get(session_id)
            if record is None:
                return False
            self._by_token.pop(record.token_hash, None)
            for key, value in changes.items():
                setattr(record, key, copy.deepcopy(value))
            record.user_id = str(record.user_id)
            self._by_token[record.token_hash] = record.id
            return True

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        """The user's sessions, newest first."""
        owner = self._owner(user_id)
        with self._lock:
            records = [_copy(r) for r in self._sessions.values() if r.user_id == owner]
        return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        """Delete one session; with ``user_id``, only if it belongs to that user."""
        with self._lock:
            record = self._sessions.get(session_id)
            if record is None or (user_id is not None and record.user_id != self._owner(user_id)):
                return False
            self._drop_session(record)
            return True

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        """Delete every session of the user but ``except_session_id``."""
        owner = self._owner(user_id)
        with self._lock:
            doomed = [
                r
                for r in self._sessions.values()
                if r.user_id == owner and r.id != except_session_id
            ]
            for record in doomed:
                self._drop_session(record)
            return len(doomed)

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        """Delete sessions whose absolute expiry has passed."""
        with self._lock:
            doomed = [r for r in self._sessions.values() if r.expires_at <= now]
            for record in doomed:
                self._drop_session(record)
            return len(doomed)

    # -- refresh tokens ----------------------------------------------------------

    def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        """Store the first token of a family."""
        with self._lock:
            self._refresh[record.token_hash] = dataclasses.replace(record)

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        """The token with this digest, or ``None``."""
        with self._lock:
            record = self._refresh.get(token_hash)
            return None if record is None else dataclasses.replace(record)

    def rotate_refresh_token(
        self, token_hash: str, new: RefreshTokenRecord, now: dt.datetime
    ) -> bool:
        """Retire ``token_hash`` and store ``new``, under the lock: one caller wins."""
        with self._lock:
            record = self._refresh.get(token_hash)
            if record is None or record.used_at is not None or record.expires_at <= now:
                return False
            record.used_at = now
            self._refresh[new.token_hash] = dataclasses.replace(new)
            return True

    def delete_refresh_tokens(self, session_id: str) -> int:
        """Delete every token of a family."""
        with self._lock:
            doomed = [h for h, r in self._refresh.items() if r.session_id == session_id]
            for token_hash in doomed:
                del self._refresh[token_hash]
            return len(doomed)

    def purge_refresh_tokens(self, now: dt.datetime) -> int:
        """Delete expired tokens (and those whose session is gone)."""
        with self._lock:
            doomed = [
                h
                for h, r in self._refresh.items()
                if r.expires_at <= now or r.session_id not in self._sessions
            ]
            for token_hash in doomed:
                del self._refresh[token_hash]
            return len(doomed)

    # -- API keys ------------------------------------------------------------------

    def create_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key."""
        with self._lock:
            if record.key_hash in self._by_key_hash:
                raise ValidationError(fields={"key": "taken"})
            self._api_keys[record.id] = dataclasses.replace(record, user_id=str(record.user_id))
            self._by_key_hash[record.key_hash] = record.id

    def get_api_key(self, key_hash: str) -> tuple[ApiKeyRecord, Any | None] | None:
        """The key with this digest and its user."""
        with self._lock:
            record = self._api_keys.get(self._by_key_hash.get(key_hash, ""))
            if record is None:
                return None
            user = self._users.get(self._user_key(record.user_id))
            return dataclasses.replace(record), user

    def list_api_keys(self, user_id: Any) -> list[ApiKeyRecord]:
        """The user's keys, newest first."""
        owner = self._owner(user_id)
        with self._lock:
            found = [dataclasses.replace(k) for k in self._api_keys.values() if k.user_id == owner]
        return sorted(found, key=lambda k: (k.created_at, k.id), reverse=True)

    def delete_api_key(self, key_id: str, user_id: Any | None = None) -> bool:
        """Delete one key; with ``user_id``, only if it is theirs."""
        with self._lock:
            record = self._api_keys.get(key_id)
            if record is None or (user_id is not None and record.user_id != self._owner(user_id)):
                return False
            self._drop_api_key(record)
            return True

    def touch_api_key(
        self, key_id: str, used_at: dt.datetime, ip: str | None, not_since: dt.datetime
    ) -> bool:
        """Record a use unless one was recorded at or after ``not_since``."""
        with self._lock:
            record = self._api_keys.get(key_id)
            if record is None or (
                record.last_used_at is not None and record.last_used_at >= not_since
            ):
                return False
            record.last_used_at, record.last_used_ip = used_at, ip
            return True

    # -- second factors ------------------------------------------------------------

    def get_two_factor(self, user_id: Any) -> TwoFactorRecord | None:
        """The user's second-factor row, or ``None``."""
        with self._lock:
            record = self._two_factor.get(self._owner(user_id))
            return None if record is None else dataclasses.replace(record)

    def ensure_two_factor(
        self, user_id: Any, trust_epoch: str, grace_started_at: dt.datetime | None = None
    ) -> TwoFactorRecord:
        """The user's row, made with these values when missing."""
        with self._lock:
            if self._user_key(user_id) not in self._users:
                raise ValidationError(fields={"user_id": "invalid"})
            owner = self._owner(user_id)
            record = self._two_factor.get(owner)
            if record is None:
                record = self._two_factor[owner] = TwoFactorRecord(
                    user_id=owner, trust_epoch=trust_epoch, grace_started_at=grace_started_at
                )
            return dataclasses.replace(record)

    def update_two_factor(
        self, user_id: Any, changes: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        """Change the row if every ``expect`` column still holds its value."""
        with self._lock:
            record = self._two_factor.get(self._owner(user_id))
            if record is None:
                return False
            if any(getattr(record, k) != v for k, v in (expect or {}).items()):
                return False
            for key, value in changes.items():
                setattr(record, key, value)
            return True

    def advance_totp_step(self, user_id: Any, step: int) -> bool:
        """Record ``step`` as used if TOTP is on and no later step was."""
        with self._lock:
            record = self._two_factor.get(self._owner(user_id))
            if record is None or record.totp_enabled_at is None or record.totp_last_step >= step:
                return False
            record.totp_last_step = step
            return True

    def replace_recovery_codes(
        self, user_id: Any, code_hashes: Sequence[str], now: dt.datetime
    ) -> None:
        """Void the user's codes and keep these."""
        with self._lock:
            self._recovery[self._owner(user_id)] = dict.fromkeys(code_hashes)

    def use_recovery_code(self, user_id: Any, code_hash: str, now: dt.datetime) -> bool:
        """Mark an unused code used; ``True`` for the one caller that did."""
        with self._lock:
            codes = self._recovery.get(self._owner(user_id), {})
            if code_hash not in codes or codes[code_hash] is not None:
                return False
            codes[code_hash] = now
            return True

    def count_recovery_codes(self, user_id: Any) -> int:
        """How many unused codes the user has."""
        with self._lock:
            codes = self._recovery.get(self._owner(user_id), {})
            return sum(1 for used in codes.values() if used is None)

    # -- passkeys --------------------------------------------------------------------

    def create_passkey(self, record: PasskeyRecord) -> bool:
        """Store a new passkey; ``False`` if its credential id is taken."""
        with self._lock:
            digest = record.credential_hash
            if any(p.credential_hash == digest for p in self._passkeys.values()):
                return False
            if self._users.get(self._user_key(record.user_id)) is None:
                return False  # the user is gone (a foreign key would refuse it)
            self._passkeys[record.id] = dataclasses.replace(record, user_id=str(record.user_id))
            return True

    def get_passkey_by_credential(
        self, credential_hash: str
    ) -> tuple[PasskeyRecord, Any | None] | None:
        """The passkey with this credential digest and its user."""
        with self._lock:
            for record in self._passkeys.values():
                if record.credential_hash == credential_hash:
                    user = self._users.get(self._user_key(record.user_id))
                    return dataclasses.replace(record), user
            return None

    def list_passkeys(self, user_id: Any) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first."""
        owner = self._owner(user_id)
        with self._lock:
            found = [dataclasses.replace(p) for p in self._passkeys.values() if p.user_id == owner]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    def rename_passkey(self, passkey_id: str, user_id: Any, name: str) -> PasskeyRecord | None:
        """Rename one of the user's passkeys."""
        with self._lock:
            record = self._passkeys.get(passkey_id)
            if record is None or record.user_id != self._owner(user_id):
                return None
            record.name = name
            return dataclasses.replace(record)

    def delete_passkey(self, passkey_id: str, user_id: Any) -> bool:
        """Delete one of the user's passkeys."""
        with self._lock:
            record = self._passkeys.get(passkey_id)
            if record is None or record.user_id != self._owner(user_id):
                return False
            del self._passkeys[passkey_id]
            return True

    def use_passkey(
        self,
        passkey_id: str,
        expect_sign_count: int,
        new_sign_count: int,
        used_at: dt.datetime,
        backed_up: bool,
    ) -> bool:
        """Record a use if the sign count is still ``expect_sign_count``."""
        with self._lock:
            record = self._passkeys.get(passkey_id)
            if record is None or record.sign_count != expect_sign_count:
                return False
            record.sign_count, record.last_used_at = new_sign_count, used_at
            record.backed_up = backed_up
            return True

    # -- extra email addresses ---------------------------------------------------

    def add_email(
        self, user_id: Any, email: str, confirmed_at: dt.datetime | None = None
    ) -> EmailRecord:
        """Add an extra address; ``UserExists`` if it is already someone's extra address."""
        canonical = canonical_email(email)
        with self._lock:
            if any(r.email_canonical == canonical for r in self._emails.values()):
                raise UserExists(field="email")
            record = EmailRecord(
                id=new_id(), user_id=str(user_id), email=email, email_canonical=canonical,
                confirmed_at=confirmed_at, created_at=dt.datetime.now(dt.timezone.utc),
            )  # fmt: skip
            self._emails[record.id] = record
            return dataclasses.replace(record)

    def list_emails(self, user_id: Any) -> list[EmailRecord]:
        """The user's extra addresses, oldest first."""
        with self._lock:
            found = [r for r in self._emails.values() if r.user_id == str(user_id)]
            return [dataclasses.replace(r) for r in sorted(found, key=lambda r: r.created_at)]

    def get_email(self, email_id: str) -> EmailRecord | None:
        """One extra address by id."""
        with self._lock:
            record = self._emails.get(email_id)
            return None if record is None else dataclasses.replace(record)

    def find_email(self, email_canonical: str) -> EmailRecord | None:
        """The extra address with this canonical form."""
        with self._lock:
            for record in self._emails.values():
                if record.email_canonical == email_canonical:
                    return dataclasses.replace(record)
            return None

    def confirm_email_address(self, email_id: str, confirmed_at: dt.datetime) -> bool:
        """Mark confirmed once."""
        with self._lock:
            record = self._emails.get(email_id)
            if record is None or record.confirmed_at is not None:
                return False
            record.confirmed_at = confirmed_at
            return True

    def delete_email(self, email_id: str, user_id: Any) -> bool:
        """Remove one of the user's extra addresses."""
        with self._lock:
            record = self._emails.get(email_id)
            if record is None or record.user_id != str(user_id):
                return False
            del self._emails[email_id]
            return True

    def swap_primary_email(
        self,
        user_id: Any,
        email_id: str,
        expect_stamp: str,
        new_stamp: str,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        """Exchange the primary address with a confirmed extra one, atomically."""
        with self._lock:
            record = self._emails.get(email_id)
            user = self._users.get(self._user_key(user_id))
            if (
                record is None
                or user is None
                or record.user_id != str(user.id)
                or record.confirmed_at is None
                or user.security_stamp != expect_stamp
            ):
                return None
            self._check_free(record.email_canonical, None, user.id)
            old_email, old_confirmed = user.email, user.email_confirmed_at
            self._unindex(user)
            user.email = record.email
            user.email_confirmed_at = record.confirmed_at
            user.security_stamp = new_stamp
            self._index(user)
            record.email, record.email_canonical = old_email, canonical_email(old_email)
            record.confirmed_at = old_confirmed or record.confirmed_at
            self._keep_notices(outbox, user)
            return user

    # -- token claims -----------------------------------------------------------

    def claim_token(
        self, jti: str, purpose: str, user_id: Any, expires_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """Mark a token used; ``True`` only for the first caller."""
        with self._lock:
            if jti in self._claims:
                return False
            self._claims[jti] = expires_at
            return True

    def is_claimed(self, jti: str) -> bool:
        """Whether ``jti`` was claimed."""
        with self._lock:
            return jti in self._claims

    def purge_used_tokens(self, now: dt.datetime) -> int:
        """Forget claims of tokens that have expired."""
        with self._lock:
            doomed = [jti for jti, expires_at in self._claims.items() if expires_at <= now]
            for jti in doomed:
                del self._claims[jti]
            return len(doomed)

    # -- security events ---------------------------------------------------------

    def add_event(self, event: SecurityEvent) -> None:
        """Keep an event (with a copy of its details), numbered in arrival order."""
        with self._lock:
            stored = dataclasses.replace(
                event, id=next(self._event_ids), details=copy.deepcopy(event.details)
            )
            self._events.append(stored)

    def list_events(
        self,
        *,
        user_id: str | None = None,
        kinds: Sequence[str] = (),
        since: dt.datetime | None = None,
        before: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[SecurityEvent]:
        """Events newest first (time, then id), filtered; at most ``limit``."""
        wanted = set(kinds)
        with self._lock:
            found = [
                e
                for e in self._events
                if (user_id is None or e.user_id == str(user_id))
                and (not wanted or e.kind in wanted)
                and (since is None or e.at >= since)
                and (before is None or e.at < before)
            ]
        found.sort(key=lambda e: (e.at, e.id or 0), reverse=True)
        return [dataclasses.replace(e, details=copy.deepcopy(e.details)) for e in found[:limit]]

    def purge_events(self, before: dt.datetime) -> int:
        """Forget events strictly older than ``before``."""
        with self._lock:
            kept = [e for e in self._events if e.at >= before]
            purged = len(self._events) - len(kept)
            self._events = kept
            return purged

    # -- the notice outbox ---------------------------------------------------------

    def add_notices(self, notices: Sequence[Notice]) -> None:
        """Keep notices that report no change of a user."""
        with self._lock:
            self._keep_notices(notices, None)

    def list_notices(self, *, due_by: dt.datetime | None = None, limit: int = 100) -> list[Notice]:
        """Kept notices, the soonest due first (then by id); with ``due_by``, only those due."""
        with self._lock:
            found = [
                n for n in self._notices.values() if due_by is None or n.next_attempt_at <= due_by
            ]
        found.sort(key=lambda n: (n.next_attempt_at, n.id))
        return [dataclasses.replace(n, headers=dict(n.headers)) for n in found[:limit]]

    def claim_notice(self, notice_id: str, attempts: int, until: dt.datetime) -> bool:
        """Claim a notice if it still has ``attempts`` attempts; ``True`` for one caller."""
        with self._lock:
            notice = self._notices.get(notice_id)
            if notice is None or notice.attempts != attempts:
                return False
            self._notices[notice_id] = dataclasses.replace(
                notice, attempts=attempts + 1, next_attempt_at=until
            )
            return True

    def delete_notice(self, notice_id: str) -> bool:
        """Forget a notice."""
        with self._lock:
            return self._notices.pop(notice_id, None) is not None

    def close(self) -> None:
        """Nothing to release."""

    # -- internals --------------------------------------------------------------

    def _new(self, model: type[Any], fields: Mapping[str, Any]) -> Any:
        """An instance of ``model`` with every Python-side column default filled in.

        ``UserMixin.__init__`` fills defaults, but only when it runs: an app
        class that lists its declarative base first gets the plain declarative
        constructor, so the defaults are (re)checked here.
        """
        obj = model(**fields)
        for column in model.__table__.columns:
            default = column.default
            if default is None or getattr(obj, column.key) is not None:
                continue
            if getattr(default, "is_callable", False):
                setattr(obj, column.key, default.arg(None))
            elif getattr(default, "is_scalar", False):
                setattr(obj, column.key, default.arg)
        if getattr(obj, primary_key(model).key) is None:
            key = next(self._counter) if key_type(model) is int else new_id()
            setattr(obj, primary_key(model).key, key)
        return obj

    def _user_key(self, user_id: Any) -> Any:
        key = coerce_key(self.user_model, user_id)
        return None if key is INVALID_KEY else key

    def _owner(self, user_id: Any) -> str:
        return str(self._user_key(user_id))

    def _ordered_users(self) -> list[Any]:
        return sorted(self._users.values(), key=lambda u: u.created_at)

    def _check_free(self, email: str | None, username: str | None, owner: Any) -> None:
        if email is not None and self._by_email.get(email, owner) != owner:
            raise UserExists(field="email")
        if username is not None and self._by_username.get(username, owner) != owner:
            raise UserExists(field="username")

    def _index(self, user: Any) -> None:
        self._by_email[user.email_canonical] = user.id
        if user.username_canonical is not None:
            self._by_username[user.username_canonical] = user.id

    def _unindex(self, user: Any) -> None:
        self._by_email.pop(user.email_canonical, None)
        if user.username_canonical is not None:
            self._by_username.pop(user.username_canonical, None)

    def _role_or_create(self, name: str) -> Any:
        role = self._roles.get(name)
        if role is None:
            role = self._roles[name] = self._new(self.role_model, {"name": name})
        return role

    def _keep_notices(self, notices: Sequence[Notice], user: Any) -> None:
        """Keep copies of ``notices`` (under the lock, with the write they belong to)."""
        for notice in notices:
            user_id = notice.user_id
            if user_id is None and user is not None:
                user_id = str(user.id)
            self._notices[notice.id] = dataclasses.replace(
                notice, user_id=user_id, headers=dict(notice.headers)
            )

    def _drop_session(self, record: SessionRecord) -> None:
        del self._sessions[record.id]
        self._by_token.pop(record.token_hash, None)
        for token_hash in [h for h, r in self._refresh.items() if r.session_id == record.id]:
            del self._refresh[token_hash]

    def _drop_api_key(self, record: ApiKeyRecord) -> None:
        del self._api_keys[record.id]
        self._by_key_hash.pop(record.key_hash, None)


def _copy(record: SessionRecord) -> SessionRecord:
    """A copy the caller may change without touching the stored record."""
    return dataclasses.replace(record, data=copy.deepcopy(record.data))
