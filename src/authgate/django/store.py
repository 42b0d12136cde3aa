"""The Django ORM store: every store protocol on the project's Django database.

Same semantics as the SQLAlchemy store: each method is one transaction
(``transaction.atomic``); uniqueness and single use are decided by the
database (unique constraints, primary keys, conditional
``UPDATE ... WHERE``), never by a read followed by a write; a violated
email or username constraint is :class:`~authgate.errors.UserExists`; any
other database failure is :class:`~authgate.errors.ServiceUnavailable`,
logged once under a short reference, with no driver text in the message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import Error as DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import Prefetch, Q

from authgate.django.models import (
    ROLES_CACHE,
    ApiKey,
    OutboxNotice,
    Passkey,
    RecoveryCode,
    RefreshToken,
    Role,
    SecurityEvent as EventRow,
    Session,
    TwoFactor,
    UsedToken,
    User,
    UserEmail,
    UserRole,
)
from authgate.errors import UserExists, ValidationError
from authgate.models import (
    ApiKeyRecord,
    EmailRecord,
    Notice,
    PasskeyRecord,
    RefreshTokenRecord,
    SecurityEvent,
    SessionRecord,
    TwoFactorRecord,
    canonical_email,
    canonical_username,
    new_id,
    utcnow,
)
from authgate.stores._common import (
    constraint_name,
    database_identity,
    event_row,
    notice_of,
    notice_row,
    permissions_text,
    unavailable,
)

__all__ = ["DjangoStore"]

T = TypeVar("T")

log = logging.getLogger("authgate.store")

#: How often a write that lost a race a retry settles (a role created meanwhile) is retried.
_ATTEMPTS = 3

_SESSION_FIELDS = tuple(f.name for f in dataclasses.fields(SessionRecord))

#: Constraint names (as each backend reports them) that mean "email/username taken".
_IDENTIFIER_CONSTRAINTS = {
    "email": {"uq_authgate_users_email_canonical", "authgate_users.email_canonical"},
    "username": {"uq_authgate_users_username_canonical", "authgate_users.username_canonical"},
}


class _Invalid(Exception):
    """An id that cannot be a key (answered as "not found")."""


def _key(value: Any) -> str:
    """A user id as the primary key type (a string); :class:`_Invalid` for ``None``/bools."""
    if value is None or isinstance(value, bool):
        raise _Invalid
    return str(value)


def _violated(exc: IntegrityError) -> str | None:
    """``"email"`` or ``"username"`` when ``exc`` is a taken identifier, else ``None``."""
    name = constraint_name(exc.__cause__ or exc)
    short = name.removeprefix("authgate_users.")  # MySQL 8 prefixes the table
    for field, names in _IDENTIFIER_CONSTRAINTS.items():
        if name in names or short in names:
            return field
    return None


@functools.cache
def _field_names(model: Any, *, writable: bool = False) -> frozenset[str]:
    """The column attributes of ``model``; ``writable`` leaves out the key and canonical forms."""
    return frozenset(
        field.attname
        for field in model._meta.concrete_fields
        if not (writable and (field.primary_key or field.attname.endswith("_canonical")))
    )


def _check_names(model: Any, names: Any, *, writable: bool = False) -> None:
    """``ValidationError(unknown_field)`` for names that are not (writable) columns."""
    known = _field_names(model, writable=writable)
    unknown = {name: "unknown_field" for name in names if name not in known}
    if unknown:
        raise ValidationError(fields=unknown)


def _two_factor(row: Any) -> TwoFactorRecord:
    """The record of a ``TwoFactor`` row."""
    return TwoFactorRecord(
        user_id=str(row.user_id),
        totp_secret=row.totp_secret,
        totp_pending_secret=row.totp_pending_secret,
        totp_enabled_at=row.totp_enabled_at,
        totp_last_step=int(row.totp_last_step),
        email_code_hash=row.email_code_hash,
        email_code_challenge=row.email_code_challenge,
        email_code_expires_at=row.email_code_expires_at,
        email_enabled_at=row.email_enabled_at,
        grace_started_at=row.grace_started_at,
        trust_epoch=row.trust_epoch,
    )


def _equal(name: str, value: Any) -> dict[str, Any]:
    """An ORM filter for ``name == value`` (``IS NULL`` for ``None``)."""
    return {f"{name}__isnull": True} if value is None else {name: value}


class DjangoStore:
    """Every store protocol (users, roles, sessions, token claims, emails, security events,
    the notice outbox) with the Django ORM.

    Args:
        using: the database alias; by default the one the database routers
            pick for writes of :class:`~authgate.django.models.User`.

    Examples:
        >>> store = DjangoStore()  # doctest: +SKIP
        >>> store.create_user({"email": "alice@example.com"}).email_canonical  # doctest: +SKIP
        'alice@example.com'
    """

    user_model: type[Any] = User
    role_model: type[Any] = Role

    def __init__(self, using: str | None = None) -> None:
        self.using: str = using or router.db_for_write(User)

    @property
    def data_key(self) -> Hashable:
        """Equal for the stores that reach the same database (see ``group_for``).

        Two aliases configured for the same database (a router's ``replica``
        pointing at the primary, say) are one: the key is the database the
        alias reaches (:func:`~authgate.stores._common.database_identity`),
        and the alias only for an in-memory SQLite database.
        """
        config = connections[self.using].settings_dict
        backend = str(config.get("ENGINE", "")).rsplit(".", 1)[-1]
        name = config.get("NAME")
        identity = database_identity(
            backend, config.get("HOST"), config.get("PORT"), None if name is None else str(name)
        )
        return identity if identity is not None else ("django", self.using)

    def close(self) -> None:
        """Nothing to release: Django manages its connections per request/thread."""

    # -- users ------------------------------------------------------------------

    def create_user(
        self, fields: Mapping[str, Any], roles: Sequence[str] = (), *, outbox: Sequence[Notice] = ()
    ) -> Any:
        """Insert a user, their role links (missing roles are created) and the ``outbox``
        notices in one transaction.

        Raises:
            UserExists: the canonical email or username is taken (``field`` says which).
            ValidationError: ``email`` is missing, or a name is not a user column.

        ``email_canonical`` and ``username_canonical`` follow ``email`` and ``username``.
        """
        if not fields.get("email"):
            raise ValidationError(fields={"email": "required"})
        _check_names(User, fields)
        names = sorted(set(roles))
        values = dict(fields)
        values["email_canonical"] = canonical_email(values["email"])
        username = values.get("username")
        values["username_canonical"] = canonical_username(username) if username else None

        def work() -> Any:
            user = User.objects.using(self.using).create(**values)
            found = self._roles_or_create(names)
            UserRole.objects.using(self.using).bulk_create(
                [UserRole(user=user, role=role) for role in found]
            )
            user.roles = found
            self._store_notices(outbox, user.pk)
            return user

        return self._write(work, retry=bool(names))

    def get_user(self, user_id: Any) -> Any | None:
        """The user with this id, or ``None``."""
        try:
            key = _key(user_id)
        except _Invalid:
            return None
        return self._first_user(pk=key)

    def get_user_by_email(self, email_canonical: str) -> Any | None:
        """The user with this canonical email, or ``None`` (one indexed query, plus roles)."""
        return self._first_user(email_canonical=email_canonical)

    def get_user_by_username(self, username_canonical: str) -> Any | None:
        """The user with this canonical username, or ``None``."""
        return self._first_user(username_canonical=username_canonical)

    def find_users(self, filters: Mapping[str, Any]) -> list[Any]:
        """Users whose attributes equal every filter (email/username canonically).

        Raises:
            ValidationError: a filter names no user column (``unknown_field``).
        """
        _check_names(User, filters)
        conditions: dict[str, Any] = {}
        for name, wanted in filters.items():
            if name == "email" and wanted is not None:
                conditions.update(_equal("email_canonical", canonical_email(wanted)))
            elif name == "username":
                conditions.update(
                    _equal("username_canonical", canonical_username(wanted) if wanted else None)
                )
            elif name == "id":
                try:
                    conditions["pk"] = _key(wanted)
                except _Invalid:
                    return []
            else:
                conditions.update(_equal(name, wanted))
        return self._read(lambda: list(self._users().filter(**conditions)))

    def list_users(self, offset: int = 0, limit: int | None = None) -> list[Any]:
        """Users ordered by creation time."""
        query = self._users()
        sliced = query[offset:] if limit is None else query[offset : offset + limit]
        return self._read(lambda: list(sliced))

    def count_users(self) -> int:
        """How many users exist."""
        return self._read(lambda: int(User.objects.using(self.using).count()))

    def reserve_user_id(self) -> Any:
        """See :meth:`authgate.stores.base.UserStore.reserve_user_id` (ids are random here)."""
        return new_id()

    def sample_password_hashes(self, exclude_prefix: str, limit: int) -> tuple[int, int, list[str]]:
        """See :meth:`authgate.stores.base.UserStore.sample_password_hashes` (three queries)."""

        def work() -> tuple[int, int, list[str]]:
            users = User.objects.using(self.using)
            others = users.exclude(password_hash__isnull=True).exclude(
                password_hash__startswith=exclude_prefix
            )
            sample = others.values_list("password_hash", flat=True)[:limit]
            return users.count(), others.count(), [str(h) for h in sample]

        return self._read(work)

    def update_user(
        self,
        user_id: Any,
        changes: Mapping[str, Any],
        expect: Mapping[str, Any] | None = None,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        """Apply ``changes`` in one ``UPDATE ... WHERE id = %s AND <expect>``, and store the
        ``outbox`` notices in the same transaction if it matched.

        Returns the reloaded user, or ``None`` when the user does not exist or
        an expected value no longer holds (then nothing changed, no notice is kept).

        Raises:
            UserExists: the new email or username is taken.
            ValidationError: a name is not a writable column (``unknown_field``).
        """
        _check_names(User, changes, writable=True)
        _check_names(User, expect or {})
        try:
            key = _key(user_id)
        except _Invalid:
            return None
        values = dict(changes)
        if "email" in values:
            values["email_canonical"] = canonical_email(values["email"])
        if "username" in values:
            name = values["username"]
            values["username_canonical"] = canonical_username(name) if name else None
        conditions: dict[str, Any] = {"pk": key}
        for name, value in (expect or {}).items():
            conditions.update(_equal(name, value))

        def work() -> Any | None:
            matched = User.objects.using(self.using).filter(**conditions)
            if values:
                if matched.update(**values) != 1:
                    return None
            elif not matched.exists():
                return None
            self._store_notices(outbox, key)
            return self._users().filter(pk=key).first()

        return self._write(work)

    def delete_user(self, user_id: Any, *, outbox: Sequence[Notice] = ()) -> bool:
        """Delete the user with their sessions, role links and extra email addresses, and
        store the ``outbox`` notices in the same transaction if the user existed."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False

        def work() -> bool:
            _, per_model = User.objects.using(self.using).filter(pk=key).delete()
            if not per_model.get(User._meta.label, 0):
                return False
            self._store_notices(outbox, key)
            return True

        return self._write(work)

    # -- roles ------------------------------------------------------------------

    def create_role(
        self, name: str, description: str | None = None, permissions: Sequence[str] = ()
    ) -> Any:
        """Create a role.

        Raises:
            ValidationError: the name is taken (``{"name": "taken"}``).
        """

        def work() -> Any:
            return Role.objects.using(self.using).create(
                name=name, description=description, permissions=permissions_text(permissions)
            )

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise ValidationError(fields={"name": "taken"}) from None

    def get_role(self, name: str) -> Any | None:
        """The role with this name, or ``None``."""
        return self._read(lambda: Role.objects.using(self.using).filter(name=name).first())

    def list_roles(self) -> list[Any]:
        """Every role, ordered by name."""
        return self._read(lambda: list(Role.objects.using(self.using).order_by("name")))

    def update_role(self, name: str, changes: Mapping[str, Any]) -> Any | None:
        """Change a role's fields (``permissions`` may be a list); ``None`` if it does not exist.

        Raises:
            ValidationError: an unknown field, or a new name that is taken.
        """
        _check_names(Role, changes, writable=True)
        values = {
            key: permissions_text(value) if key == "permissions" else value
            for key, value in changes.items()
        }
        new_name = values.get("name", name)

        def work() -> Any | None:
            roles = Role.objects.using(self.using)
            if values and roles.filter(name=name).update(**values) != 1:
                return None
            return roles.filter(name=new_name).first()

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise ValidationError(fields={"name": "taken"}) from None

    def delete_role(self, name: str) -> bool:
        """Delete a role and its links to users."""

        def work() -> bool:
            _, per_model = Role.objects.using(self.using).filter(name=name).delete()
            return bool(per_model.get(Role._meta.label, 0))

        return self._write(work)

    def add_role_to_user(self, user_id: Any, role_name: str) -> bool:
        """Give a user a role (created if missing); ``False`` if they had it or do not exist."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False

        def work() -> bool:
            if not User.objects.using(self.using).filter(pk=key).exists():
                return False
            (role,) = self._roles_or_create([role_name])
            links = UserRole.objects.using(self.using)
            if links.filter(user_id=key, role=role).exists():
                return False
            links.create(user_id=key, role=role)
            return True

        # A lost race (the role or the link created meanwhile) is settled by a retry.
        return self._write(work, retry=True)

    def remove_role_from_user(self, user_id: Any, role_name: str) -> bool:
        """Take a role away; ``False`` if the user did not have it."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False

        def work() -> bool:
            links = UserRole.objects.using(self.using)
            deleted, _ = links.filter(user_id=key, role__name=role_name).delete()
            return bool(deleted)

        return self._write(work)

    # -- sessions ---------------------------------------------------------------

    def create_session(self, record: SessionRecord) -> None:
        """Store a new session."""
        row = self._session_row({name: getattr(record, name) for name in _SESSION_FIELDS})
        self._write(lambda: Session.objects.using(self.using).create(**row))

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        """The session and its user in one indexed query (``select_related``), plus their roles."""
        query = (
            Session.objects.using(self.using)
            .select_related("user")
            .prefetch_related(self._roles_prefetch("user__assigned_roles"))
            .filter(token_hash=token_hash)
        )

        def work() -> tuple[SessionRecord, Any | None] | None:
            found = list(query[:1])
            if not found:
                return None
            return self._record(found[0]), found[0].user

        return self._read(work)

    def get_session_by_id(self, session_id: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this id and its user, as :meth:`get_session` loads them."""
        query = (
            Session.objects.using(self.using)
            .select_related("user")
            .prefetch_related(self._roles_prefetch("user__assigned_roles"))
            .filter(pk=session_id)
        )

        def work() -> tuple[SessionRecord, Any | None] | None:
            found = list(query[:1])
            if not found:
                return None
            return self._record(found[0]), found[0].user

        return self._read(work)

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        """Record activity."""
        sessions = Session.objects.using(self.using).filter(pk=session_id)
        self._write(lambda: sessions.update(last_seen_at=last_seen_at))

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of a session; ``False`` if it does not exist.

        Raises:
            ValidationError: a name is not a session field (``unknown_field``).
        """
        unknown = {k: "unknown_field" for k in changes if k not in _SESSION_FIELDS or k == "id"}
        if unknown:
            raise ValidationError(fields=unknown)
        row = self._session_row(changes)
        sessions = Session.objects.using(self.using).filter(pk=session_id)
        return self._write(lambda: bool(sessions.update(**row) == 1))

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        """The user's sessions, newest first."""
        try:
            key = _key(user_id)
        except _Invalid:
            return []
        query = Session.objects.using(self.using).filter(user_id=key)
        ordered = query.order_by("-created_at", "-id")
        return self._read(lambda: [self._record(row) for row in ordered])

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        """Delete one session; with ``user_id``, only if it belongs to that user."""
        conditions: dict[str, Any] = {"pk": session_id}
        if user_id is not None:
            try:
                conditions["user_id"] = _key(user_id)
            except _Invalid:
                return False
        sessions = Session.objects.using(self.using).filter(**conditions)
        return self._write(lambda: bool(sessions.delete()[0]))

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        """Delete every session of the user but ``except_session_id``; returns how many."""
        try:
            key = _key(user_id)
        except _Invalid:
            return 0
        sessions = Session.objects.using(self.using).filter(user_id=key)
        if except_session_id is not None:
            sessions = sessions.exclude(pk=except_session_id)
        return self._write(lambda: int(sessions.delete()[0]))

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        """Delete sessions whose absolute expiry has passed; returns how many."""
        sessions = Session.objects.using(self.using).filter(expires_at__lte=now)
        return self._write(lambda: int(sessions.delete()[0]))

    # -- refresh tokens -----------------------------------------------------------

    def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        """Store the first token of a family."""
        row = dataclasses.asdict(record)
        self._write(lambda: RefreshToken.objects.using(self.using).create(**row))

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        """The token with this digest, or ``None``."""
        query = RefreshToken.objects.using(self.using).filter(pk=token_hash)
        return self._read(lambda: next((_refresh(row) for row in query[:1]), None))

    def rotate_refresh_token(
        self, token_hash: str, new: RefreshTokenRecord, now: dt.datetime
    ) -> bool:
        """Retire ``token_hash`` (a conditional UPDATE) and insert ``new``, in one transaction."""
        tokens = RefreshToken.objects.using(self.using)
        live = tokens.filter(pk=token_hash, used_at__isnull=True, expires_at__gt=now)
        row = dataclasses.asdict(new)

        def work() -> bool:
            if live.update(used_at=now) != 1:
                return False
            tokens.create(**row)
            return True

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:  # the session went meanwhile: a loss, nothing written
            return False

    def delete_refresh_tokens(self, session_id: str) -> int:
        """Delete every token of a family."""
        tokens = RefreshToken.objects.using(self.using).filter(session_id=session_id)
        return self._write(lambda: int(tokens.delete()[0]))

    def purge_refresh_tokens(self, now: dt.datetime) -> int:
        """Delete expired tokens."""
        tokens = RefreshToken.objects.using(self.using).filter(expires_at__lte=now)
        return self._write(lambda: int(tokens.delete()[0]))

    # -- API keys ------------------------------------------------------------------

    def create_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key."""
        try:
            user_id = _key(record.user_id)
        except _Invalid:
            raise ValidationError(fields={"user_id": "invalid"}) from None
        row = dataclasses.asdict(record)
        row.update(user_id=user_id, scopes=json.dumps(list(record.scopes)),
                   allowed_ips=json.dumps(list(record.allowed_ips)))  # fmt: skip
        self._write(lambda: ApiKey.objects.using(self.using).create(**row))

    def get_api_key(self, key_hash: str) -> tuple[ApiKeyRecord, Any | None] | None:
        """The key with this digest and its user (one query, roles prefetched)."""
        query = (
            ApiKey.objects.using(self.using)
            .select_related("user")
            .prefetch_related(self._roles_prefetch("user__assigned_roles"))
            .filter(key_hash=key_hash)
        )

        def work() -> tuple[ApiKeyRecord, Any | None] | None:
            found = list(query[:1])
            return (_api_key(found[0]), found[0].user) if found else None

        return self._read(work)

    def list_api_keys(self, user_id: Any) -> list[ApiKeyRecord]:
        """The user's keys, newest first."""
        try:
            key = _key(user_id)
        except _Invalid:
            return []
        query = ApiKey.objects.using(self.using).filter(user_id=key).order_by("-created_at", "-id")
        return self._read(lambda: [_api_key(row) for row in query])

    def delete_api_key(self, key_id: str, user_id: Any | None = None) -> bool:
        """Delete one key; with ``user_id``, only if it is that user's."""
        conditions: dict[str, Any] = {"pk": key_id}
        if user_id is not None:
            try:
                conditions["user_id"] = _key(user_id)
            except _Invalid:
                return False
        keys = ApiKey.objects.using(self.using).filter(**conditions)
        return self._write(lambda: bool(keys.delete()[0]))

    def touch_api_key(
        self, key_id: str, used_at: dt.datetime, ip: str | None, not_since: dt.datetime
    ) -> bool:
        """Record a use unless one was recorded at or after ``not_since`` (conditional UPDATE)."""
        keys = ApiKey.objects.using(self.using).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=not_since), pk=key_id
        )
        address = None if ip is None else ip[:64]
        return self._write(
            lambda: bool(keys.update(last_used_at=used_at, last_used_ip=address) == 1)
        )

    # -- second factors -----------------------------------------------------------

    def get_two_factor(self, user_id: Any) -> TwoFactorRecord | None:
        """The user's second-factor row, or ``None``."""
        try:
            key = _key(user_id)
        except _Invalid:
            return None
        query = TwoFactor.objects.using(self.using).filter(user_id=key)
        return self._read(lambda: next((_two_factor(row) for row in query[:1]), None))

    def ensure_two_factor(
        self, user_id: Any, trust_epoch: str, grace_started_at: dt.datetime | None = None
    ) -> TwoFactorRecord:
        """The user's row, inserted with these values when missing."""
        found = self.get_two_factor(user_id)
        if found is not None:
            return found
        try:
            key = _key(user_id)
        except _Invalid:
            raise ValidationError(fields={"user_id": "invalid"}) from None
        rows = TwoFactor.objects.using(self.using)
        with contextlib.suppress(IntegrityError):  # made meanwhile (or no such user)
            self._write(
                lambda: rows.create(user_id=key, trust_epoch=trust_epoch,
                                    grace_started_at=grace_started_at),
                expect_conflict=True,
            )  # fmt: skip
        found = self.get_two_factor(user_id)
        if found is None:
            raise ValidationError(fields={"user_id": "invalid"})
        return found

    def update_two_factor(
        self, user_id: Any, changes: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        """One conditional ``UPDATE``: only while every ``expect`` column holds its value."""
        _check_names(TwoFactor, [*changes, *(expect or {})], writable=True)
        try:
            key = _key(user_id)
        except _Invalid:
            return False
        conditions: dict[str, Any] = {"user_id": key}
        for name, value in (expect or {}).items():
            conditions.update(_equal(name, value))
        rows = TwoFactor.objects.using(self.using).filter(**conditions)
        return self._write(lambda: bool(rows.update(**changes) == 1))

    def advance_totp_step(self, user_id: Any, step: int) -> bool:
        """``UPDATE ... SET totp_last_step = :step WHERE totp_last_step < :step`` (TOTP on)."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False
        rows = TwoFactor.objects.using(self.using).filter(
            user_id=key, totp_enabled_at__isnull=False, totp_last_step__lt=step
        )
        return self._write(lambda: bool(rows.update(totp_last_step=step) == 1))

    def replace_recovery_codes(
        self, user_id: Any, code_hashes: Sequence[str], now: dt.datetime
    ) -> None:
        """Delete the user's codes and insert these, in one transaction."""
        try:
            key = _key(user_id)
        except _Invalid:
            raise ValidationError(fields={"user_id": "invalid"}) from None
        codes = RecoveryCode.objects.using(self.using)

        def work() -> None:
            codes.filter(user_id=key).delete()
            codes.bulk_create(
                [RecoveryCode(id=new_id(), user_id=key, code_hash=h, created_at=now)
                 for h in code_hashes]
            )  # fmt: skip

        self._write(work)

    def use_recovery_code(self, user_id: Any, code_hash: str, now: dt.datetime) -> bool:
        """``UPDATE ... SET used_at = :now WHERE used_at IS NULL``: one caller wins."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False
        rows = RecoveryCode.objects.using(self.using).filter(
            user_id=key, code_hash=code_hash, used_at__isnull=True
        )
        return self._write(lambda: bool(rows.update(used_at=now) == 1))

    def count_recovery_codes(self, user_id: Any) -> int:
        """How many unused codes the user has."""
        try:
            key = _key(user_id)
        except _Invalid:
            return 0
        rows = RecoveryCode.objects.using(self.using).filter(user_id=key, used_at__isnull=True)
        return self._read(lambda: int(rows.count()))

    # -- passkeys ----------------------------------------------------------------

    def create_passkey(self, record: PasskeyRecord) -> bool:
        """Store a new passkey; ``False`` if its credential id is taken (or the user is gone)."""
        try:
            user_id = _key(record.user_id)
        except _Invalid:
            return False
        row = {
            "id": record.id, "user_id": user_id, "credential_hash": record.credential_hash,
            "credential_id": record.credential_id, "public_key": record.public_key,
            "sign_count": record.sign_count, "transports": ",".join(record.transports) or None,
            "aaguid": record.aaguid or None, "name": record.name,
            "backup_eligible": record.backup_eligible, "backed_up": record.backed_up,
            "created_at": record.created_at, "last_used_at": record.last_used_at,
        }  # fmt: skip
        try:
            self._write(
                lambda: Passkey.objects.using(self.using).create(**row), expect_conflict=True
            )
        except IntegrityError:
            return False
        return True

    def get_passkey_by_credential(
        self, credential_hash: str
    ) -> tuple[PasskeyRecord, Any | None] | None:
        """The passkey with this credential digest and its user (one query, roles prefetched)."""
        query = (
            Passkey.objects.using(self.using)
            .select_related("user")
            .prefetch_related(self._roles_prefetch("user__assigned_roles"))
            .filter(credential_hash=credential_hash)
        )

        def work() -> tuple[PasskeyRecord, Any | None] | None:
            found = list(query[:1])
            return (_passkey(found[0]), found[0].user) if found else None

        return self._read(work)

    def list_passkeys(self, user_id: Any) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first."""
        try:
            key = _key(user_id)
        except _Invalid:
            return []
        query = Passkey.objects.using(self.using).filter(user_id=key).order_by("created_at", "id")
        return self._read(lambda: [_passkey(row) for row in query])

    def rename_passkey(self, passkey_id: str, user_id: Any, name: str) -> PasskeyRecord | None:
        """Rename one of the user's passkeys."""
        try:
            key = _key(user_id)
        except _Invalid:
            return None
        mine = Passkey.objects.using(self.using).filter(pk=passkey_id, user_id=key)

        def work() -> PasskeyRecord | None:
            if mine.update(name=name) != 1:
                return None
            found = list(mine[:1])
            return _passkey(found[0]) if found else None

        return self._write(work)

    def delete_passkey(self, passkey_id: str, user_id: Any) -> bool:
        """Delete one of the user's passkeys."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False
        mine = Passkey.objects.using(self.using).filter(pk=passkey_id, user_id=key)
        return self._write(lambda: bool(mine.delete()[0]))

    def use_passkey(
        self,
        passkey_id: str,
        expect_sign_count: int,
        new_sign_count: int,
        used_at: dt.datetime,
        backed_up: bool,
    ) -> bool:
        """Record a use if the sign count is still ``expect_sign_count`` (conditional UPDATE)."""
        rows = Passkey.objects.using(self.using).filter(pk=passkey_id, sign_count=expect_sign_count)
        values = {"sign_count": new_sign_count, "last_used_at": used_at, "backed_up": backed_up}
        return self._write(lambda: bool(rows.update(**values) == 1))

    # -- extra email addresses --------------------------------------------------

    def add_email(
        self, user_id: Any, email: str, confirmed_at: dt.datetime | None = None
    ) -> EmailRecord:
        """Add an extra address.

        Raises:
            UserExists: the address (canonically) is already an extra address.
        """
        try:
            key = _key(user_id)
        except _Invalid:
            raise ValidationError(fields={"user_id": "invalid"}) from None
        fields = {
            "user_id": key,
            "email": email,
            "email_canonical": canonical_email(email),
            "confirmed_at": confirmed_at,
            "created_at": utcnow(),
        }

        def work() -> EmailRecord:
            return self._email(UserEmail.objects.using(self.using).create(**fields))

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise UserExists(field="email") from None

    def list_emails(self, user_id: Any) -> list[EmailRecord]:
        """The user's extra addresses, oldest first."""
        try:
            key = _key(user_id)
        except _Invalid:
            return []
        query = UserEmail.objects.using(self.using).filter(user_id=key)
        ordered = query.order_by("created_at", "pk")
        return self._read(lambda: [self._email(row) for row in ordered])

    def get_email(self, email_id: str) -> EmailRecord | None:
        """One extra address by id."""
        return self._one_email(pk=email_id)

    def find_email(self, email_canonical: str) -> EmailRecord | None:
        """The extra address with this canonical form, whoever owns it."""
        return self._one_email(email_canonical=email_canonical)

    def confirm_email_address(self, email_id: str, confirmed_at: dt.datetime) -> bool:
        """Mark confirmed once (``UPDATE ... WHERE confirmed_at IS NULL``)."""
        pending = UserEmail.objects.using(self.using).filter(pk=email_id, confirmed_at__isnull=True)
        return self._write(lambda: bool(pending.update(confirmed_at=confirmed_at) == 1))

    def delete_email(self, email_id: str, user_id: Any) -> bool:
        """Remove one of the user's extra addresses."""
        try:
            key = _key(user_id)
        except _Invalid:
            return False
        owned = UserEmail.objects.using(self.using).filter(pk=email_id, user_id=key)
        return self._write(lambda: bool(owned.delete()[0] == 1))

    def swap_primary_email(
        self,
        user_id: Any,
        email_id: str,
        expect_stamp: str,
        new_stamp: str,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        """Exchange the primary address with a confirmed extra one in one transaction.

        Conditional on the user's security stamp (rotated to ``new_stamp``);
        ``None`` when nothing changed. The ``outbox`` notices are stored in
        the same transaction if it happened.

        Raises:
            UserExists: the address became someone else's meanwhile.
        """
        try:
            key = _key(user_id)
        except _Invalid:
            return None

        def work() -> Any | None:
            addresses = UserEmail.objects.using(self.using)
            found = addresses.filter(pk=email_id, user_id=key, confirmed_at__isnull=False).first()
            user = User.objects.using(self.using).filter(pk=key).first()
            if found is None or user is None or user.security_stamp != expect_stamp:
                return None
            swapped = (
                User.objects.using(self.using)
                .filter(pk=key, security_stamp=expect_stamp)
                .update(
                    email=found.email,
                    email_canonical=found.email_canonical,
                    email_confirmed_at=found.confirmed_at,
                    security_stamp=new_stamp,
                )
            )
            if swapped != 1:
                return None
            addresses.filter(pk=email_id).update(
                email=user.email,
                email_canonical=canonical_email(user.email),
                confirmed_at=user.email_confirmed_at or found.confirmed_at,
            )
            self._store_notices(outbox, key)
            return self._users().filter(pk=key).first()

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise UserExists(field="email") from None

    # -- token claims -----------------------------------------------------------

    def claim_token(
        self, jti: str, purpose: str, user_id: Any, expires_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """Claim a token by inserting its id; the primary key lets exactly one caller win."""

        def work() -> None:
            UsedToken.objects.using(self.using).create(
                jti=jti,
                purpose=purpose,
                user_id=None if user_id is None else str(user_id),
                used_at=now,
                expires_at=expires_at,
            )

        try:
            self._write(work, expect_conflict=True)
        except IntegrityError:
            return False
        return True

    def is_claimed(self, jti: str) -> bool:
        """Whether ``jti`` was claimed."""
        return bool(
            self._read(lambda: UsedToken.objects.using(self.using).filter(jti=jti).exists())
        )

    def purge_used_tokens(self, now: dt.datetime) -> int:
        """Forget claims whose token has expired anyway; returns how many."""
        claims = UsedToken.objects.using(self.using).filter(expires_at__lte=now)
        return self._write(lambda: int(claims.delete()[0]))

    # -- security events --------------------------------------------------------

    def add_event(self, event: SecurityEvent) -> None:
        """Insert one event; the database numbers it."""
        row = event_row(event)
        self._write(lambda: EventRow.objects.using(self.using).create(**row))

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
        query = EventRow.objects.using(self.using).order_by("-at", "-id")
        if user_id is not None:
            query = query.filter(user_id=str(user_id))
        if kinds:
            query = query.filter(kind__in=list(kinds))
        if since is not None:
            query = query.filter(at__gte=since)
        if before is not None:
            query = query.filter(at__lt=before)
        return self._read(lambda: [self._event(row) for row in query[:limit]])

    def purge_events(self, before: dt.datetime) -> int:
        """Delete events strictly older than ``before``; returns how many."""
        old = EventRow.objects.using(self.using).filter(at__lt=before)
        return self._write(lambda: int(old.delete()[0]))

    # -- the notice outbox --------------------------------------------------------

    def add_notices(self, notices: Sequence[Notice]) -> None:
        """Insert notices that report no change of a user, in one transaction."""
        if notices:
            self._write(lambda: self._store_notices(notices, None))

    def list_notices(self, *, due_by: dt.datetime | None = None, limit: int = 100) -> list[Notice]:
        """Notices, the soonest due first (then by id); with ``due_by``, only those due."""
        query = OutboxNotice.objects.using(self.using).order_by("next_attempt_at", "id")
        if due_by is not None:
            query = query.filter(next_attempt_at__lte=due_by)
        return self._read(lambda: [notice_of(row) for row in query[:limit].values()])

    def claim_notice(self, notice_id: str, attempts: int, until: dt.datetime) -> bool:
        """``UPDATE ... WHERE id = %s AND attempts = %s``: exactly one caller changes the row."""
        matched = OutboxNotice.objects.using(self.using).filter(pk=notice_id, attempts=attempts)
        return self._write(
            lambda: bool(matched.update(attempts=attempts + 1, next_attempt_at=until) == 1)
        )

    def delete_notice(self, notice_id: str) -> bool:
        """Forget a notice (sent, or given up)."""
        found = OutboxNotice.objects.using(self.using).filter(pk=notice_id)
        return self._write(lambda: bool(found.delete()[0]))

    def release_thread(self) -> None:
        """Close this thread's connection (for threads authgate starts, such as the purge)."""
        connections[self.using].close()

    # -- transactions -----------------------------------------------------------

    def _read(self, work: Callable[[], T]) -> T:
        """Run a read; any database failure becomes ``ServiceUnavailable``."""
        try:
            return work()
        except DatabaseError as exc:
            raise unavailable(exc) from None

    def _write(
        self, work: Callable[[], T], *, retry: bool = False, expect_conflict: bool = False
    ) -> T:
        """Run ``work`` in one transaction (a savepoint inside the caller's), mapping failures.

        A violated email or username becomes ``UserExists``. Any other
        constraint violation retries the whole transaction when ``retry`` is
        set, then propagates as ``IntegrityError`` when ``expect_conflict`` is
        set (the caller knows what it means) and becomes ``ServiceUnavailable``
        otherwise, as does every other database failure.
        """
        attempts = _ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                with transaction.atomic(using=self.using):
                    return work()
            except IntegrityError as exc:
                field = _violated(exc)
                if field is not None:
                    raise UserExists(field=field) from None
                if attempt < attempts:
                    continue
                if expect_conflict:
                    raise
                raise unavailable(exc) from None
            except DatabaseError as exc:
                raise unavailable(exc) from None
        raise AssertionError("unreachable")

    # -- helpers ----------------------------------------------------------------

    def _store_notices(self, notices: Sequence[Notice], user_id: Any) -> None:
        """Insert ``notices`` in the caller's transaction (``user_id`` for those without one)."""
        if notices:
            owner = None if user_id is None else str(user_id)
            OutboxNotice.objects.using(self.using).bulk_create(
                [OutboxNotice(**notice_row(n, owner)) for n in notices]
            )

    @staticmethod
    def _roles_prefetch(lookup: str) -> Any:
        return Prefetch(lookup, queryset=Role.objects.order_by("name"), to_attr=ROLES_CACHE)

    def _users(self) -> Any:
        """Users with their roles, in creation order."""
        return (
            User.objects.using(self.using)
            .prefetch_related(self._roles_prefetch("assigned_roles"))
            .order_by("created_at", "pk")
        )

    def _first_user(self, **conditions: Any) -> Any | None:
        query = self._users().filter(**conditions)
        return self._read(lambda: next(iter(query[:1]), None))

    def _roles_or_create(self, names: Sequence[str]) -> list[Any]:
        """The named roles, sorted; missing ones are created (inside the caller's transaction)."""
        if not names:
            return []
        roles = Role.objects.using(self.using)
        found = {role.name: role for role in roles.filter(name__in=names)}
        for name in names:
            if name not in found:
                found[name] = roles.create(name=name)
        return [found[name] for name in sorted(names)]

    def _one_email(self, **conditions: Any) -> EmailRecord | None:
        query = UserEmail.objects.using(self.using).filter(**conditions)
        return self._read(lambda: next((self._email(row) for row in query[:1]), None))

    @staticmethod
    def _email(row: Any) -> EmailRecord:
        return EmailRecord(
            id=row.id,
            user_id=str(row.user_id),
            email=row.email,
            email_canonical=row.email_canonical,
            confirmed_at=row.confirmed_at,
            created_at=row.created_at,
        )

    @staticmethod
    def _event(row: Any) -> SecurityEvent:
        return SecurityEvent(
            id=int(row.id),
            kind=row.kind,
            at=row.at,
            outcome=row.outcome,
            user_id=row.user_id,
            actor=row.actor,
            ip=row.ip,
            user_agent=row.user_agent,
            details=json.loads(row.details) if row.details else {},
        )

    @staticmethod
    def _session_row(values: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(values)
        if "data" in row:
            row["data"] = json.dumps(row["data"] or {}, separators=(",", ":"))
        if "user_id" in row:
            try:
                row["user_id"] = _key(row["user_id"])
            except _Invalid:
                raise ValidationError(fields={"user_id": "invalid"}) from None
        return row

    @staticmethod
    def _record(row: Any) -> SessionRecord:
        values = {name: getattr(row, name) for name in _SESSION_FIELDS}
        values["user_id"] = str(row.user_id)
        values["data"] = json.loads(row.data) if row.data else {}
        values["remember"] = bool(row.remember)
        return SessionRecord(**values)


def _refresh(row: Any) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        token_hash=row.token_hash,
        session_id=row.session_id,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


def _api_key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        key_hash=row.key_hash,
        user_id=str(row.user_id),
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        scopes=tuple(json.loads(row.scopes or "[]")),
        allowed_ips=tuple(json.loads(row.allowed_ips or "[]")),
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        last_used_ip=row.last_used_ip,
    )


def _passkey(row: Any) -> PasskeyRecord:
    return PasskeyRecord(
        id=row.id,
        user_id=str(row.user_id),
        credential_id=bytes(row.credential_id),
        public_key=bytes(row.public_key),
        sign_count=int(row.sign_count),
        name=row.name,
        created_at=row.created_at,
        transports=tuple(t for t in (row.transports or "").split(",") if t),
        aaguid=row.aaguid or "",
        backup_eligible=bool(row.backup_eligible),
        backed_up=bool(row.backed_up),
        last_used_at=row.last_used_at,
    )
