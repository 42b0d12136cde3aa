"""authgate's default schema as Django models (app label ``authgate``).

The tables and columns are those of the SQLAlchemy default models
(``authgate_users``, ``authgate_roles``, ``authgate_user_roles``,
``authgate_sessions``, ``authgate_used_tokens``, ``authgate_user_emails``,
``authgate_security_events``, ``authgate_outbox``),
so one database can be shared with a SQLAlchemy service.

:class:`User` and :class:`Role` are built on :class:`~authgate.UserMixin` and
:class:`~authgate.RoleMixin` for their behaviour only (``to_dict()``,
``role_names``, ``permissions``, ``get_permissions()``...): every column is
redeclared here as a Django field, and no SQLAlchemy mapping is involved.
A user's roles are ``user.roles``, a plain list (loaded with the user by
:class:`~authgate.django.store.DjangoStore`); the many-to-many field behind it
is ``user.assigned_roles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models

from authgate.django.fields import CanonicalField, UTCDateTimeField
from authgate.django.user import DjangoUserMixin, PasswordPrompt, UserManager
from authgate.models import (
    RoleMixin,
    UserMixin,
    canonical_email,
    canonical_username,
    new_id,
    new_stamp,
    utcnow,
)

__all__ = [
    "OutboxNotice",
    "Role",
    "SecurityEvent",
    "Session",
    "UsedToken",
    "User",
    "UserEmail",
    "UserRole",
]

#: Attribute holding a user's loaded roles (filled by the store's prefetch).
ROLES_CACHE = "_authgate_roles"


@dataclass(frozen=True)
class _Type:
    length: int | None


@dataclass(frozen=True)
class _Column:
    key: str
    type: _Type
    primary_key: bool


class _Columns:
    """The fields of a model seen the way authgate's core reads ``Model.__table__.columns``."""

    def __init__(self, model: type[Any]) -> None:
        self._model = model
        self._columns: dict[str, _Column] | None = None

    def _all(self) -> dict[str, _Column]:
        # Built on first use: the model's fields are complete once the app registry is ready.
        if self._columns is None:
            self._columns = {
                f.attname: _Column(f.attname, _Type(getattr(f, "max_length", None)), f.primary_key)
                for f in self._model._meta.concrete_fields
            }
        return self._columns

    def __contains__(self, key: object) -> bool:
        return key in self._all()

    def __getitem__(self, key: str) -> _Column:
        return self._all()[key]

    def __iter__(self) -> Iterator[_Column]:
        return iter(self._all().values())

    def keys(self) -> list[str]:
        """The column (attribute) names."""
        return list(self._all())


class TableShim:
    """A read-only ``__table__`` look-alike: ``name`` and ``columns`` (``key``, ``type.length``).

    authgate's core (``models.app_fields``, ``flows.validation.check_app_fields``,
    ``users.UserAdmin``) inspects ``user_model.__table__.columns`` to learn a
    user model's columns; this answers for a Django model.
    """

    def __init__(self, model: type[Any]) -> None:
        self.columns = _Columns(model)
        self._model = model

    @property
    def name(self) -> str:
        """The database table."""
        name: str = self._model._meta.db_table
        return name


class Role(RoleMixin, models.Model):  # type: ignore[misc]
    """A role: unique ``name``, ``description`` and comma-separated ``permissions``."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=255, null=True, blank=True, default=None)
    permissions = models.TextField(null=True, blank=True, default=None)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        db_table = "authgate_roles"
        ordering: ClassVar[list[str]] = ["name"]
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["name"], name="uq_authgate_roles_name")
        ]

    def __str__(self) -> str:
        return str(self.name)


class User(DjangoUserMixin, UserMixin, models.Model):  # type: ignore[misc]
    """A user account; the same columns as authgate's SQLAlchemy ``User``.

    Also a Django user: ``AUTH_USER_MODEL = "authgate.User"`` (see
    :mod:`authgate.django.user`). ``email`` is unique through
    ``email_canonical`` (the constraint is there); Django is told it is
    unique (``unique=True`` in the migration state only) for its system
    checks and forms. Saving recomputes the canonical forms and drops the
    user's cached sessions, in this process and, with Redis, in the others.
    """

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    email = models.CharField(max_length=255, unique=True)
    email_canonical = CanonicalField(max_length=255, editable=False)
    username = models.CharField(max_length=150, null=True, blank=True, default=None)
    username_canonical = CanonicalField(
        max_length=150, null=True, blank=True, default=None, editable=False
    )
    password_hash = models.CharField(max_length=255, null=True, blank=True, default=None)
    is_active = models.BooleanField(default=True)
    email_confirmed_at = UTCDateTimeField(null=True, blank=True, default=None)
    security_stamp = models.CharField(max_length=64, default=new_stamp)
    created_at = UTCDateTimeField(default=utcnow)
    password_changed_at = UTCDateTimeField(null=True, blank=True, default=None)
    last_sign_in_at = UTCDateTimeField(null=True, blank=True, default=None)
    current_sign_in_at = UTCDateTimeField(null=True, blank=True, default=None)
    last_sign_in_ip = models.CharField(max_length=64, null=True, blank=True, default=None)
    current_sign_in_ip = models.CharField(max_length=64, null=True, blank=True, default=None)
    sign_in_count = models.IntegerField(default=0)
    assigned_roles = models.ManyToManyField(
        Role, through="UserRole", related_name="users", blank=True
    )
    #: No column: makes ``createsuperuser`` ask for a password.
    password = PasswordPrompt()

    objects = UserManager()

    class Meta:
        db_table = "authgate_users"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["email_canonical"], name="uq_authgate_users_email_canonical"
            ),
            models.UniqueConstraint(
                fields=["username_canonical"], name="uq_authgate_users_username_canonical"
            ),
        ]

    @property
    def roles(self) -> list[Role]:
        """The user's roles sorted by name (loaded once, then kept on the instance)."""
        cached: list[Role] | None = self.__dict__.get(ROLES_CACHE)
        if cached is None:
            cached = [] if self._state.adding else list(self.assigned_roles.order_by("name"))
            setattr(self, ROLES_CACHE, cached)
        return cached

    @roles.setter
    def roles(self, value: Iterable[Role]) -> None:
        setattr(self, ROLES_CACHE, list(value))

    def __str__(self) -> str:
        return str(self.email)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save with the canonical email and username, and drop the cached sessions."""
        email, username = self.email, self.username
        self.email_canonical = canonical_email(email) if email else email  # type: ignore[assignment]
        self.username_canonical = (
            canonical_username(username) if username else None  # type: ignore[assignment]
        )
        fields = kwargs.get("update_fields")
        if fields is not None:
            pairs = {"email": "email_canonical", "username": "username_canonical"}
            kwargs["update_fields"] = {*fields, *(pairs[f] for f in fields if f in pairs)}
        super().save(*args, **kwargs)
        from authgate.django.store import DjangoStore
        from authgate.session_cache import group_for

        group_for(DjangoStore(using=self._state.db)).forget_user(self.pk)


User.__table__ = TableShim(User)
Role.__table__ = TableShim(Role)


class UserRole(models.Model):  # type: ignore[misc]
    """A user–role link (table ``authgate_user_roles``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, db_index=False)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, db_index=False)

    class Meta:
        db_table = "authgate_user_roles"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["user", "role"], name="uq_authgate_user_roles")
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["role"], name="ix_authgate_user_roles_role_id")
        ]


class Session(models.Model):  # type: ignore[misc]
    """A server-side session; only the digest of its token is stored."""

    id = models.CharField(primary_key=True, max_length=36)
    token_hash = models.CharField(max_length=64)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="sessions", db_index=False
    )
    created_at = UTCDateTimeField()
    last_seen_at = UTCDateTimeField()
    expires_at = UTCDateTimeField()
    authenticated_at = UTCDateTimeField()
    security_stamp = models.CharField(max_length=64)
    remember = models.BooleanField(default=False)
    ip = models.CharField(max_length=64, null=True, blank=True)
    user_agent = models.CharField(max_length=512, null=True, blank=True)
    data = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "authgate_sessions"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["token_hash"], name="uq_authgate_sessions_token_hash")
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["user"], name="ix_authgate_sessions_user_id"),
            models.Index(fields=["expires_at"], name="ix_authgate_sessions_expires"),
        ]


class UsedToken(models.Model):  # type: ignore[misc]
    """A claimed single-use email token (its id, until the token would have expired)."""

    jti = models.CharField(primary_key=True, max_length=64)
    purpose = models.CharField(max_length=32)
    user_id = models.CharField(max_length=64, null=True, blank=True)
    used_at = UTCDateTimeField()
    expires_at = UTCDateTimeField()

    class Meta:
        db_table = "authgate_used_tokens"
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["expires_at"], name="ix_authgate_used_tokens_expiry")
        ]


class UserEmail(models.Model):  # type: ignore[misc]
    """An additional email address of a user (``multiple_emails``)."""

    id = models.CharField(primary_key=True, max_length=36, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="emails", db_index=False)
    email = models.CharField(max_length=255)
    email_canonical = CanonicalField(max_length=255)
    confirmed_at = UTCDateTimeField(null=True, blank=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        db_table = "authgate_user_emails"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["email_canonical"], name="uq_authgate_user_emails_email_canonical"
            )
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["user"], name="ix_authgate_user_emails_user")
        ]


class SecurityEvent(models.Model):  # type: ignore[misc]
    """One entry of the audit trail; no foreign key, so it outlives a deleted user."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=64)
    at = UTCDateTimeField()
    outcome = models.CharField(max_length=16)
    user_id = models.CharField(max_length=64, null=True, blank=True)
    actor = models.CharField(max_length=16)
    ip = models.CharField(max_length=64, null=True, blank=True)
    user_agent = models.CharField(max_length=512, null=True, blank=True)
    details = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "authgate_security_events"
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["user_id", "at"], name="ix_authgate_events_user_at"),
            models.Index(fields=["at"], name="ix_authgate_events_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} {self.at:%Y-%m-%d %H:%M:%S}"


class OutboxNotice(models.Model):  # type: ignore[misc]
    """A rendered security notice waiting for a mailer (:mod:`authgate.outbox`).

    No foreign key: "your account was deleted" outlives the user it tells.
    """

    id = models.CharField(primary_key=True, max_length=36)
    kind = models.CharField(max_length=64)
    user_id = models.CharField(max_length=64, null=True, blank=True)
    recipient = models.CharField(max_length=320)
    sender = models.CharField(max_length=320, null=True, blank=True)
    subject = models.TextField()
    body_text = models.TextField()
    body_html = models.TextField()
    headers = models.TextField(null=True, blank=True)
    created_at = UTCDateTimeField()
    next_attempt_at = UTCDateTimeField()
    attempts = models.IntegerField(default=0)

    class Meta:
        db_table = "authgate_outbox"
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["next_attempt_at"], name="ix_authgate_outbox_due")
        ]

    def __str__(self) -> str:
        return f"{self.kind} to user {self.user_id or '-'} ({self.attempts} attempts)"


class RefreshToken(models.Model):  # type: ignore[misc]
    """A refresh token of a session's family; only the digest is stored. Goes with its session."""

    token_hash = models.CharField(primary_key=True, max_length=64)
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="refresh_tokens", db_index=False
    )
    user_id = models.CharField(max_length=64)
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "authgate_refresh_tokens"
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["session"], name="ix_authgate_refresh_session"),
            models.Index(fields=["expires_at"], name="ix_authgate_refresh_expiry"),
        ]


class ApiKey(models.Model):  # type: ignore[misc]
    """A personal API key of a user; only the digest of the key is stored."""

    id = models.CharField(primary_key=True, max_length=36)
    key_hash = models.CharField(max_length=64)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="api_keys", db_index=False
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    scopes = models.TextField(null=True, blank=True)
    allowed_ips = models.TextField(null=True, blank=True)
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(null=True, blank=True)
    last_used_at = UTCDateTimeField(null=True, blank=True)
    last_used_ip = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "authgate_api_keys"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["key_hash"], name="uq_authgate_api_keys_key_hash")
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["user"], name="ix_authgate_api_keys_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class Passkey(models.Model):  # type: ignore[misc]
    """A WebAuthn credential (passkey) of a user: its public key, never a secret."""

    id = models.CharField(primary_key=True, max_length=36)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="passkeys", db_index=False
    )
    credential_hash = models.CharField(max_length=64)
    credential_id = models.BinaryField(max_length=1023)
    public_key = models.BinaryField(max_length=1023)
    sign_count = models.BigIntegerField(default=0)
    transports = models.CharField(max_length=255, null=True, blank=True)
    aaguid = models.CharField(max_length=36, null=True, blank=True)
    name = models.CharField(max_length=100)
    backup_eligible = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    created_at = UTCDateTimeField()
    last_used_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "authgate_passkeys"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["credential_hash"], name="uq_authgate_passkeys_credential_hash"
            )
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["user"], name="ix_authgate_passkeys_user")
        ]

    def __str__(self) -> str:
        return str(self.name)


class TwoFactor(models.Model):  # type: ignore[misc]
    """A user's second-factor state (TOTP secrets encrypted; see ``TwoFactorRecord``)."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="two_factor"
    )
    totp_secret = models.TextField(null=True, blank=True)
    totp_pending_secret = models.TextField(null=True, blank=True)
    totp_enabled_at = UTCDateTimeField(null=True, blank=True)
    totp_last_step = models.BigIntegerField(default=0)
    email_code_hash = models.CharField(max_length=64, null=True, blank=True)
    email_code_challenge = models.CharField(max_length=64, null=True, blank=True)
    email_code_expires_at = UTCDateTimeField(null=True, blank=True)
    email_enabled_at = UTCDateTimeField(null=True, blank=True)
    grace_started_at = UTCDateTimeField(null=True, blank=True)
    trust_epoch = models.CharField(max_length=32)

    class Meta:
        db_table = "authgate_two_factor"

    def __str__(self) -> str:
        return f"two-factor of {self.user_id}"


class RecoveryCode(models.Model):  # type: ignore[misc]
    """One recovery code of a user, by digest; ``used_at`` is set by its one use."""

    id = models.CharField(primary_key=True, max_length=36)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="recovery_codes", db_index=False
    )
    code_hash = models.CharField(max_length=64)
    created_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "authgate_recovery_codes"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["user", "code_hash"], name="uq_authgate_recovery_codes_user_code"
            )
        ]

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"
