"""User and role models.

authgate's users are SQLAlchemy 2 models. Either let authgate generate them
(``auth.User`` / ``auth.Role``, tables ``authgate_users`` and ``authgate_roles``)
or build your own on :class:`UserMixin` and :class:`RoleMixin`, with any extra
columns you like, on a plain SQLAlchemy declarative base or a Flask-SQLAlchemy
``db.Model``::

    class Role(db.Model, RoleMixin):
        pass

    class User(db.Model, UserMixin):
        first_name = db.Column(db.String(80))

    auth = Auth(secret, db=db, user_model=User, role_model=Role)

When both classes are mapped, authgate adds its own tables (user–role links,
sessions, used tokens, email addresses, security events, the notice outbox, refresh
tokens, API keys) to the same ``MetaData`` so that ``db.create_all()`` or your
Alembic autogenerate sees them.

The in-memory store keeps instances of the same classes, so ``auth.User`` is
the one user type whatever the storage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    declared_attr,
    mapped_column,
    relationship,
    validates,
)
from sqlalchemy.types import TypeDecorator

from authgate.mail.message import EmailMessage

__all__ = [
    "ANONYMOUS",
    "AnonymousUser",
    "ApiKeyRecord",
    "AuthTables",
    "EmailRecord",
    "Notice",
    "PasskeyRecord",
    "RefreshTokenRecord",
    "Role",
    "RoleLike",
    "RoleMixin",
    "SecurityEvent",
    "SessionRecord",
    "TwoFactorRecord",
    "User",
    "UserLike",
    "UserMixin",
    "canonical_email",
    "canonical_username",
    "new_id",
    "new_stamp",
    "serialize_user",
    "tables_for",
    "utcnow",
]


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime."""
    return dt.datetime.now(dt.timezone.utc)


def new_id() -> str:
    """A new random user or role id (a UUID4 string)."""
    return str(uuid.uuid4())


def new_stamp() -> str:
    """A new security stamp: 128 random bits, rotated with every credential change."""
    return secrets.token_hex(16)


def canonical_email(email: str) -> str:
    """The form of an email address used for uniqueness and lookups.

    NFKC-normalised, stripped and case-folded. Look-alikes that do not fold to
    the same string (``mıke`` with a dotless i, say) stay distinct.
    """
    return unicodedata.normalize("NFKC", email).strip().casefold()


def canonical_username(username: str) -> str:
    """The form of a username used for uniqueness and lookups (NFKC, case-folded)."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC on every backend and returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        # MySQL/MariaDB DATETIME drops microseconds unless asked to keep them.
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("authgate stores aware datetimes only")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


def _canonical_string(length: int) -> Any:
    # A binary collation on MySQL/MariaDB: their default collations are case-
    # *and accent*-insensitive, which would make jose@ and josé@ collide there
    # only. The canonical form is computed in Python, so binary is right.
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


@runtime_checkable
class RoleLike(Protocol):
    """What authgate needs of a role object."""

    name: str
    description: str | None
    permissions: str | None


@runtime_checkable
class UserLike(Protocol):
    """What authgate needs of a user object (models built on :class:`UserMixin` qualify)."""

    id: Any
    email: str
    username: str | None
    password_hash: str | None
    is_active: bool
    email_confirmed_at: dt.datetime | None
    security_stamp: str


class RoleMixin:
    """Columns and helpers of a role: ``name`` (unique), ``description``, ``permissions``.

    Permissions are stored as a comma-separated list (as Flask-Security does);
    use :meth:`get_permissions`, :meth:`add_permissions` and
    :meth:`remove_permissions`.
    """

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str | None] = mapped_column(String(255), default=None)
    permissions: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def get_permissions(self) -> set[str]:
        """The role's permissions as a set."""
        return {p.strip() for p in (self.permissions or "").split(",") if p.strip()}

    def add_permissions(self, permissions: Iterable[str] | str) -> None:
        """Add permissions (a string or an iterable of strings)."""
        new = {permissions} if isinstance(permissions, str) else set(permissions)
        self.permissions = ",".join(sorted(self.get_permissions() | new)) or None

    def remove_permissions(self, permissions: Iterable[str] | str) -> None:
        """Remove permissions (a string or an iterable of strings)."""
        gone = {permissions} if isinstance(permissions, str) else set(permissions)
        self.permissions = ",".join(sorted(self.get_permissions() - gone)) or None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name == other
        if isinstance(other, RoleMixin):
            return self.name == other.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


#: Columns of UserMixin that never leave the process, whatever the model adds.
PRIVATE_COLUMNS = frozenset(
    {
        "password_hash",
        "security_stamp",
        "email_canonical",
        "username_canonical",
        "tf_totp_secret",
        "tf_recovery_codes",
    }
)
#: Columns serialised under their own SPEC names (not as app fields).
_CORE_COLUMNS = frozenset({"id", "email", "username", "is_active", "email_confirmed_at"})


class UserMixin:
    """Columns and helpers of a user.

    Any column a subclass adds is an "app field": it can be set at sign-up and
    appears in ``to_dict()``, unless listed in ``__authgate_private__``.
    A subclass may replace ``id`` with its own primary key (an ``Integer``, say).
    """

    #: Extra column names never serialised (add yours, e.g. ``{"api_key"}``).
    __authgate_private__: ClassVar[frozenset[str]] = frozenset()
    #: Name of the user–role link table authgate creates next to your tables.
    __authgate_roles_table__: ClassVar[str] = "authgate_user_roles"

    id: Mapped[Any] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(255))
    email_canonical: Mapped[str] = mapped_column(_canonical_string(255), unique=True)
    username: Mapped[str | None] = mapped_column(String(150), default=None)
    username_canonical: Mapped[str | None] = mapped_column(
        _canonical_string(150), unique=True, default=None
    )
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    security_stamp: Mapped[str] = mapped_column(String(64), default=new_stamp)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    current_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_sign_in_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    current_sign_in_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    sign_in_count: Mapped[int] = mapped_column(Integer, default=0)

    @declared_attr
    def roles(cls) -> Mapped[list[Any]]:
        """The user's roles (objects of the role model)."""
        metadata: MetaData = cls.metadata  # type: ignore[attr-defined]
        return relationship(
            lambda: _role_class(metadata),
            secondary=lambda: _link_table(metadata),
            lazy="selectin",
            order_by=lambda: _role_class(metadata).name,
            passive_deletes=True,
        )

    @validates("email")
    def _set_email_canonical(self, key: str, value: str) -> str:
        self.email_canonical = canonical_email(value)
        return value

    @validates("username")
    def _set_username_canonical(self, key: str, value: str | None) -> str | None:
        self.username_canonical = canonical_username(value) if value else None
        return value

    @property
    def email_confirmed(self) -> bool:
        """Whether the primary email address is confirmed."""
        return self.email_confirmed_at is not None

    @property
    def role_names(self) -> list[str]:
        """Names of the user's roles, sorted."""
        return sorted(r.name for r in self.roles)

    @property
    def permissions(self) -> set[str]:
        """Every permission granted by the user's roles."""
        granted: set[str] = set()
        for role in self.roles:
            granted |= role.get_permissions()
        return granted

    def has_role(self, role: str | RoleMixin) -> bool:
        """Whether the user holds ``role`` (a name or a role object)."""
        name = role if isinstance(role, str) else role.name
        return any(r.name == name for r in self.roles)

    def has_permission(self, permission: str) -> bool:
        """Whether any of the user's roles grants ``permission``."""
        return permission in self.permissions

    @property
    def is_authenticated(self) -> bool:
        """Always ``True`` for a user object (Flask-Login compatibility)."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Always ``False`` for a user object (Flask-Login compatibility)."""
        return False

    def get_id(self) -> str:
        """The id as a string (Flask-Login compatibility)."""
        return str(self.id)

    def to_dict(self) -> dict[str, Any]:
        """The serialised user of SPEC §2; never a hash or any secret."""
        return serialize_user(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.email!r}>"


class AnonymousUser:
    """The current user when nobody is signed in: falsy, no roles, no permissions."""

    is_authenticated = False
    is_anonymous = True
    is_active = False
    id = None
    email = None
    username = None
    roles: tuple[Any, ...] = ()

    def has_role(self, role: object) -> bool:
        """Always ``False``."""
        return False

    def has_permission(self, permission: str) -> bool:
        """Always ``False``."""
        return False

    def get_id(self) -> str | None:
        """``None`` (Flask-Login compatibility)."""
        return None

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<AnonymousUser>"


#: The one anonymous user instance the integrations hand out.
ANONYMOUS = AnonymousUser()


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


_APP_FIELDS: dict[type, tuple[str, ...]] = {}


def app_fields(model: type) -> tuple[str, ...]:
    """Names of the extra (app-owned) columns of a user model."""
    cached = _APP_FIELDS.get(model)
    if cached is None:
        mixin_columns = {
            name for name in vars(UserMixin) if not name.startswith("_")
        } | _CORE_COLUMNS
        private = PRIVATE_COLUMNS | set(getattr(model, "__authgate_private__", ()))
        table = getattr(model, "__table__", None)
        names = [c.key for c in table.columns] if table is not None else []
        cached = tuple(n for n in names if n not in mixin_columns and n not in private)
        _APP_FIELDS[model] = cached
    return cached


def serialize_user(user: Any) -> dict[str, Any]:
    """Serialise a user (SPEC §2); never a hash or any secret.

    ``{"id", "email", "username", "is_active", "email_confirmed", "roles", ...app fields}``
    """
    data: dict[str, Any] = {
        "id": str(user.id),
        "email": user.email,
        "username": user.username,
        "is_active": bool(user.is_active),
        "email_confirmed": user.email_confirmed_at is not None,
        "roles": sorted(r.name for r in user.roles),
    }
    for name in app_fields(type(user)):
        data[name] = _json_value(getattr(user, name, None))
    return data


@dataclass
class SessionRecord:
    """One server-side session. The token itself is never stored, only its digest."""

    id: str
    token_hash: str
    user_id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    #: Last time the user proved a credential in this session (freshness).
    authenticated_at: dt.datetime
    #: The user's security stamp when the session was made; a mismatch ends it.
    security_stamp: str
    remember: bool = False
    ip: str | None = None
    user_agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RefreshTokenRecord:
    """One refresh token of a family; the token itself is never stored, only its digest.

    The family is the session the sign-in created (``session_id``): ending
    the session ends every refresh token of it. A token is *retired*
    (``used_at`` set) by the refresh that replaced it, and kept until it
    would have expired, so that presenting it again is recognised.
    """

    token_hash: str
    session_id: str
    user_id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None


@dataclass
class ApiKeyRecord:
    """A personal API key of a user; the key itself is never stored, only its digest."""

    id: str
    key_hash: str
    user_id: str
    name: str
    #: The first characters of the key (``ag_`` and 8 more), shown in lists.
    prefix: str
    created_at: dt.datetime
    scopes: tuple[str, ...] = ()
    #: Addresses or networks (``203.0.113.7``, ``10.0.0.0/8``) the key works from; empty: any.
    allowed_ips: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    last_used_ip: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "name", "prefix", "scopes", "allowed_ips", "created_at", "expires_at",
        "last_used_at", "last_used_ip"}`` (SPEC §10); never the key or its digest."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "allowed_ips": list(self.allowed_ips),
            "created_at": self.created_at.isoformat(),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "last_used_ip": self.last_used_ip,
        }


@dataclass
class PasskeyRecord:
    """A WebAuthn credential (passkey) of a user: its public key, never a secret."""

    id: str
    user_id: str
    #: The credential id the authenticator chose (up to 1023 bytes).
    credential_id: bytes
    #: The COSE-encoded public key.
    public_key: bytes
    #: The authenticator's signature counter (0 for those that keep none).
    sign_count: int
    name: str
    created_at: dt.datetime
    #: How the browser may reach the authenticator (``usb``, ``internal``, ``hybrid``...).
    transports: tuple[str, ...] = ()
    #: The authenticator model's id (a UUID string; zeros when not attested).
    aaguid: str = ""
    #: The credential may be synced to other devices (backup eligible).
    backup_eligible: bool = False
    #: The credential is synced (backed up) now.
    backed_up: bool = False
    last_used_at: dt.datetime | None = None

    @property
    def credential_hash(self) -> str:
        """The SHA-256 hex digest of the credential id: the unique, indexed lookup key."""
        return credential_digest(self.credential_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "name", "created_at", "last_used_at", "backed_up"}`` (SPEC §9)."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "backed_up": self.backed_up,
        }


def credential_digest(credential_id: bytes) -> str:
    """The SHA-256 hex digest under which a passkey's credential id is looked up."""
    return hashlib.sha256(credential_id).hexdigest()


@dataclass
class TwoFactorRecord:
    """A user's second-factor state (``authgate_two_factor``): one row per user, made on
    the first use.

    The TOTP secrets are stored encrypted (:mod:`authgate.flows.two_factor`
    encrypts them; stores keep the text as given). ``totp_last_step`` is the
    last TOTP step accepted: a step is accepted only by a conditional write
    raising it, so each step works once per account, on every process.
    """

    user_id: str
    #: The active authenticator app's secret (encrypted), ``None`` when TOTP is off.
    totp_secret: str | None = None
    #: A secret being set up (encrypted): it replaces ``totp_secret`` at the first valid code.
    totp_pending_secret: str | None = None
    totp_enabled_at: dt.datetime | None = None
    totp_last_step: int = 0
    #: Keyed digest of the emailed code in flight, the challenge it belongs to, its expiry.
    email_code_hash: str | None = None
    email_code_challenge: str | None = None
    email_code_expires_at: dt.datetime | None = None
    #: When the user turned on emailed codes as their own second factor (``None``: off).
    email_enabled_at: dt.datetime | None = None
    #: When a sign-in first found the user required to use a second factor without one.
    grace_started_at: dt.datetime | None = None
    #: Random value trusted-device cookies are bound to: changing it forgets every one.
    trust_epoch: str = ""

    @property
    def totp_enabled(self) -> bool:
        """Whether an authenticator app is set up and active."""
        return self.totp_enabled_at is not None and self.totp_secret is not None

    @property
    def email_enabled(self) -> bool:
        """Whether the user turned on emailed codes as their own second factor."""
        return self.email_enabled_at is not None


def _fill_defaults(target: Any, args: Any, kwargs: dict[str, Any]) -> None:
    """Fill Python-side column defaults at construction.

    Objects kept by the in-memory store (and look-alike users) then look exactly
    like rows loaded from a database. An ``init`` event rather than ``__init__``
    so it runs whatever the order of the bases (``class User(db.Model, UserMixin)``).
    """
    table = getattr(type(target), "__table__", None)
    if table is None:
        return
    for column in table.columns:
        if column.key in kwargs or column.default is None:
            continue
        default = column.default
        if getattr(default, "is_callable", False):
            kwargs[column.key] = default.arg(None)
        elif getattr(default, "is_scalar", False):
            kwargs[column.key] = default.arg


event.listen(UserMixin, "init", _fill_defaults, propagate=True)
event.listen(RoleMixin, "init", _fill_defaults, propagate=True)


@dataclass
class EmailRecord:
    """An extra email address of a user (``multiple_emails``); the primary one is ``user.email``."""

    id: str
    user_id: str
    email: str
    email_canonical: str
    confirmed_at: dt.datetime | None
    created_at: dt.datetime

    def to_dict(self, primary: bool = False) -> dict[str, Any]:
        """``{"id", "email", "confirmed", "primary"}``."""
        return {
            "id": self.id,
            "email": self.email,
            "confirmed": self.confirmed_at is not None,
            "primary": primary,
        }


@dataclass(frozen=True)
class SecurityEvent:
    """One entry of the audit trail (``auth.audit.events()``): what happened, to whom, from where.

    Never holds a password, a token or a hash. ``actor`` says who acted:
    ``"user"`` (the person at the client, signed in or not), ``"admin"``
    (``auth.users`` in Python) or ``"cli"`` (the ``authgate`` command line).
    ``details`` holds small, non-secret facts of the event kind (the failure
    ``reason``, the sign-in ``factor``, a ``role`` name...).
    """

    kind: str
    at: dt.datetime
    outcome: str = "success"
    user_id: str | None = None
    actor: str = "user"
    ip: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: Assigned by the store (increasing); ``None`` before the event is stored.
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (``at`` in ISO 8601)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "user_id": self.user_id,
            "actor": self.actor,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Notice:
    """A rendered security notice waiting in the outbox (:mod:`authgate.outbox`).

    A notice is an email that carries no secret ("your password was
    changed", "your account was deleted"...): it is stored, rendered, in the
    same transaction as the change it reports, and deleted once a mailer has
    accepted it. Emails with a live link (confirmation, reset, sign-in,
    invitation) are never notices: their token must not be stored.

    Attributes:
        id: a random id (a UUID4 string), chosen by authgate.
        kind: the email kind, e.g. ``"password_changed"``.
        to: the recipient.
        subject: the rendered subject.
        text: the rendered text part.
        html: the rendered HTML part.
        created_at: when the change happened.
        next_attempt_at: before this instant nobody sends it: the first
            delivery owns it until then, later the retry delay does.
        user_id: the user the notice is about, as a string (kept after the
            user is deleted); ``None`` in :meth:`~authgate.stores.base.UserStore.create_user`
            means "the user being created".
        sender: the ``From`` address, or ``None`` for the mailer's default.
        headers: the message's extra headers (``Auto-Submitted``...).
        attempts: deliveries started so far (each one claimed it first).
    """

    id: str
    kind: str
    to: str
    subject: str
    text: str
    html: str
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    user_id: str | None = None
    sender: str | None = None
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    attempts: int = 0

    @classmethod
    def of(
        cls, message: EmailMessage, *, created_at: dt.datetime, next_attempt_at: dt.datetime
    ) -> Notice:
        """The notice of a rendered ``message``, with a new id and no attempt yet."""
        return cls(
            id=new_id(),
            kind=message.kind,
            to=message.to,
            subject=message.subject,
            text=message.text,
            html=message.html,
            created_at=created_at,
            next_attempt_at=next_attempt_at,
            user_id=message.user_id,
            sender=message.sender,
            headers=dict(message.headers),
        )

    def message(self, user: Any = None) -> EmailMessage:
        """The email to hand to a mailer; ``user`` (if known) becomes ``message.user``."""
        return EmailMessage(
            to=self.to,
            subject=self.subject,
            text=self.text,
            html=self.html,
            kind=self.kind,
            user=user,
            sender=self.sender,
            headers=dict(self.headers),
            user_id=self.user_id if self.user_id is not None or user is None else str(user.id),
        )


# -- authgate's own tables, added next to the user and role tables ------------


@dataclass
class AuthTables:
    """The tables authgate adds to a ``MetaData`` that holds a user and a role model."""

    metadata: MetaData
    user_model: type[Any] | None = None
    role_model: type[Any] | None = None
    user_roles: Table | None = None
    sessions: Table | None = None
    used_tokens: Table | None = None
    emails: Table | None = None
    events: Table | None = None
    outbox: Table | None = None
    refresh_tokens: Table | None = None
    api_keys: Table | None = None
    passkeys: Table | None = None
    two_factor: Table | None = None
    recovery_codes: Table | None = None


_REGISTRY: dict[int, AuthTables] = {}
_REGISTRY_LOCK = threading.Lock()


def tables_for(metadata: MetaData) -> AuthTables:
    """The authgate tables registered for ``metadata`` (created on demand)."""
    with _REGISTRY_LOCK:
        entry = _REGISTRY.get(id(metadata))
        if entry is None or entry.metadata is not metadata:
            entry = _REGISTRY[id(metadata)] = AuthTables(metadata)
        return entry


def _tables(metadata: MetaData) -> AuthTables:
    entry = tables_for(metadata)
    if entry.user_roles is None:
        raise RuntimeError(
            "authgate found a UserMixin model but no RoleMixin model in the same MetaData; "
            "declare `class Role(Base, RoleMixin): ...` next to your User model"
        )
    return entry


def _link_table(metadata: MetaData) -> Any:
    return _tables(metadata).user_roles


def _role_class(metadata: MetaData) -> type[Any]:
    role = _tables(metadata).role_model
    assert role is not None
    return role


def _pk_type(model: type[Any]) -> Any:
    pk = list(model.__table__.primary_key.columns)
    if len(pk) != 1:
        raise TypeError(f"{model.__name__} must have a single-column primary key")
    return pk[0].type, f"{model.__table__.name}.{pk[0].name}"


#: The event id: a 64-bit integer the database assigns (SQLite's rowid alias there).
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


def security_events_table(metadata: MetaData) -> Table:
    """The audit trail's table: no foreign key, so events outlive the user they concern.

    ``user_id`` is the user's id as a string, whatever the user model's key
    type. Indexed for the two questions asked of it: one user's events by
    time, and everything older than the retention.
    """
    return Table(
        "authgate_security_events",
        metadata,
        Column("id", EVENT_ID, primary_key=True, autoincrement=True),
        Column("kind", String(64), nullable=False),
        Column("at", UTCDateTime, nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("user_id", String(64)),
        Column("actor", String(16), nullable=False),
        Column("ip", String(64)),
        Column("user_agent", String(512)),
        Column("details", Text),
        Index("ix_authgate_security_events_user_id_at", "user_id", "at"),
        Index("ix_authgate_security_events_at", "at"),
    )


#: Long text on MySQL/MariaDB (``TEXT`` stops at 64 KiB; an HTML email may not).
LONG_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def outbox_table(metadata: MetaData) -> Table:
    """The notice outbox (:class:`Notice` rows): no foreign key, so "your account was
    deleted" outlives the user it tells. Indexed by when a row may next be sent."""
    return Table(
        "authgate_outbox",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("kind", String(64), nullable=False),
        Column("user_id", String(64)),
        Column("recipient", String(320), nullable=False),
        Column("sender", String(320)),
        Column("subject", Text, nullable=False),
        Column("body_text", LONG_TEXT, nullable=False),
        Column("body_html", LONG_TEXT, nullable=False),
        Column("headers", Text),
        Column("created_at", UTCDateTime, nullable=False),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Index("ix_authgate_outbox_next_attempt_at", "next_attempt_at"),
    )


def refresh_tokens_table(metadata: MetaData) -> Table:
    """Refresh tokens by digest; each belongs to a session (its family) and goes with it."""
    return Table(
        "authgate_refresh_tokens",
        metadata,
        Column("token_hash", String(64), primary_key=True),
        Column(
            "session_id",
            String(36),
            ForeignKey("authgate_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("user_id", String(64), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("expires_at", UTCDateTime, nullable=False),
        Column("used_at", UTCDateTime),
        Index("ix_authgate_refresh_tokens_session_id", "session_id"),
        Index("ix_authgate_refresh_tokens_expires_at", "expires_at"),
    )


#: Raw bytes of a passkey (its credential id, its public key): VARBINARY on MySQL/MariaDB.
PASSKEY_BYTES = LargeBinary().with_variant(mysql.VARBINARY(1023), "mysql", "mariadb")


def passkeys_table(metadata: MetaData, user_type: Any, user_fk: str) -> Table:
    """Passkeys (:class:`PasskeyRecord`): one row per credential, gone with its user.

    The credential id is unique through its SHA-256 digest (``credential_hash``):
    one indexed lookup at sign-in, and an index MySQL can build on any length.
    """
    return Table(
        "authgate_passkeys",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"), nullable=False),
        Column("credential_hash", String(64), nullable=False, unique=True),
        Column("credential_id", PASSKEY_BYTES, nullable=False),
        Column("public_key", PASSKEY_BYTES, nullable=False),
        Column("sign_count", BigInteger, nullable=False, default=0),
        Column("transports", String(255)),
        Column("aaguid", String(36)),
        Column("name", String(100), nullable=False),
        Column("backup_eligible", Boolean, nullable=False, default=False),
        Column("backed_up", Boolean, nullable=False, default=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("last_used_at", UTCDateTime),
        Index("ix_authgate_passkeys_user_id", "user_id"),
    )


def _build_tables(entry: AuthTables) -> None:
    """Create the link, session, token, email, event and outbox tables once both models
    are known."""
    user, role, md = entry.user_model, entry.role_model, entry.metadata
    if user is None:
        return
    user_type, user_fk = _pk_type(user)
    if entry.sessions is None:
        entry.sessions = Table(
            "authgate_sessions",
            md,
            Column("id", String(36), primary_key=True),
            Column("token_hash", String(64), nullable=False, unique=True),
            Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"), nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("last_seen_at", UTCDateTime, nullable=False),
            Column("expires_at", UTCDateTime, nullable=False),
            Column("authenticated_at", UTCDateTime, nullable=False),
            Column("security_stamp", String(64), nullable=False),
            Column("remember", Boolean, nullable=False, default=False),
            Column("ip", String(64)),
            Column("user_agent", String(512)),
            Column("data", Text),
            Index("ix_authgate_sessions_user_id", "user_id"),
            Index("ix_authgate_sessions_expires_at", "expires_at"),
        )
        entry.used_tokens = Table(
            "authgate_used_tokens",
            md,
            Column("jti", String(64), primary_key=True),
            Column("purpose", String(32), nullable=False),
            Column("user_id", String(64)),
            Column("used_at", UTCDateTime, nullable=False),
            Column("expires_at", UTCDateTime, nullable=False),
            Index("ix_authgate_used_tokens_expires_at", "expires_at"),
        )
        entry.emails = Table(
            "authgate_user_emails",
            md,
            Column("id", String(36), primary_key=True),
            Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"), nullable=False),
            Column("email", String(255), nullable=False),
            Column("email_canonical", _canonical_string(255), nullable=False, unique=True),
            Column("confirmed_at", UTCDateTime),
            Column("created_at", UTCDateTime, nullable=False),
            Index("ix_authgate_user_emails_user_id", "user_id"),
        )
        entry.events = security_events_table(md)
        entry.outbox = outbox_table(md)
    if entry.refresh_tokens is None and entry.sessions is not None:
        entry.refresh_tokens = refresh_tokens_table(md)
        entry.api_keys = Table(
            "authgate_api_keys",
            md,
            Column("id", String(36), primary_key=True),
            Column("key_hash", String(64), nullable=False, unique=True),
            Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"), nullable=False),
            Column("name", String(100), nullable=False),
            Column("prefix", String(16), nullable=False),
            Column("scopes", Text),
            Column("allowed_ips", Text),
            Column("created_at", UTCDateTime, nullable=False),
            Column("expires_at", UTCDateTime),
            Column("last_used_at", UTCDateTime),
            Column("last_used_ip", String(64)),
            Index("ix_authgate_api_keys_user_id", "user_id"),
        )
    if entry.passkeys is None and entry.sessions is not None:
        entry.passkeys = passkeys_table(md, user_type, user_fk)
    if entry.two_factor is None and entry.sessions is not None:
        entry.two_factor = Table(
            "authgate_two_factor",
            md,
            Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"),
                   primary_key=True),
            Column("totp_secret", Text),
            Column("totp_pending_secret", Text),
            Column("totp_enabled_at", UTCDateTime),
            Column("totp_last_step", BigInteger, nullable=False, default=0),
            Column("email_code_hash", String(64)),
            Column("email_code_challenge", String(64)),
            Column("email_code_expires_at", UTCDateTime),
            Column("email_enabled_at", UTCDateTime),
            Column("grace_started_at", UTCDateTime),
            Column("trust_epoch", String(32), nullable=False),
        )  # fmt: skip
        entry.recovery_codes = Table(
            "authgate_recovery_codes",
            md,
            Column("id", String(36), primary_key=True),
            Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"),
                   nullable=False),
            Column("code_hash", String(64), nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("used_at", UTCDateTime),
            UniqueConstraint("user_id", "code_hash", name="uq_authgate_recovery_codes_user_code"),
        )  # fmt: skip
    if role is not None and entry.user_roles is None:
        role_type, role_fk = _pk_type(role)
        entry.user_roles = Table(
            getattr(user, "__authgate_roles_table__", "authgate_user_roles"),
            md,
            Column("user_id", user_type, ForeignKey(user_fk, ondelete="CASCADE"), primary_key=True),
            Column("role_id", role_type, ForeignKey(role_fk, ondelete="CASCADE"), primary_key=True),
            Index("ix_authgate_user_roles_role_id", "role_id"),
        )


@event.listens_for(UserMixin, "instrument_class", propagate=True)
def _user_model_mapped(mapper: Mapper[Any], cls: type[Any]) -> None:
    entry = tables_for(cls.metadata)
    if entry.user_model is None or not issubclass(entry.user_model, cls):
        entry.user_model = cls
    _build_tables(entry)


@event.listens_for(RoleMixin, "instrument_class", propagate=True)
def _role_model_mapped(mapper: Mapper[Any], cls: type[Any]) -> None:
    entry = tables_for(cls.metadata)
    if entry.role_model is None or not issubclass(entry.role_model, cls):
        entry.role_model = cls
    _build_tables(entry)


# -- the default models ---------------------------------------------------------


class Base(DeclarativeBase):
    """Declarative base of authgate's default models."""


class Role(RoleMixin, Base):
    """The default role model (table ``authgate_roles``)."""

    __tablename__ = "authgate_roles"


class User(UserMixin, Base):
    """The default user model (table ``authgate_users``)."""

    __tablename__ = "authgate_users"


DEFAULT_TABLES = tables_for(Base.metadata)
