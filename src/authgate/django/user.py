"""What makes authgate's ``User`` a Django user: ``AUTH_USER_MODEL = "authgate.User"``.

Django's contract (``USERNAME_FIELD``, ``REQUIRED_FIELDS``, ``is_staff``,
``has_perm``, a manager with ``create_user``/``create_superuser``...) mapped
onto authgate's model, so that ``request.user``, ``login_required``,
``{{ user }}``, ``{{ perms }}``, ``createsuperuser`` and the admin work:

* the email is the username (``USERNAME_FIELD = "email"``), looked up
  case-insensitively (``get_by_natural_key``);
* ``is_superuser``: the user holds the superuser role (``"superuser"``;
  ``createsuperuser`` gives it); ``is_staff``: a staff role (``"staff"``) or
  superuser. Change the names on the app config
  (:attr:`~authgate.django.apps.AuthGateConfig.superuser_role`,
  :attr:`~authgate.django.apps.AuthGateConfig.staff_roles`);
* permissions (``has_perm("app.change_thing")``) are those granted by the
  user's roles (a role's ``permissions``: ``"blog.add_post,blog.change_post"``),
  asked of every authentication backend as Django does; superusers have all;
* ``set_password``/``check_password`` go through authgate's hasher; on a
  stored user ``set_password`` is saved at once and rotates the security
  stamp (every session ends), as ``auth.users.set_password`` does;
* ``last_login`` is authgate's ``current_sign_in_at`` (read-only: authgate
  records sign-ins itself).

Nothing here is used unless the project names the model in ``AUTH_USER_MODEL``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from authgate.errors import AuthError, InvalidCredentials, UserExists
from authgate.models import canonical_email

__all__ = ["DjangoUserMixin", "PasswordPrompt", "UserManager", "role_names"]

_SESSION_HASH_SALT = "authgate.django.User.get_session_auth_hash"


def role_names() -> tuple[str, tuple[str, ...]]:
    """``(superuser role, staff roles)`` as the app config names them."""
    from django.apps import apps

    config = apps.get_app_config("authgate")
    return config.superuser_role, tuple(config.staff_roles)


def _auth() -> Any:
    from authgate.django import get_auth

    return get_auth()


def _django_error(error: AuthError) -> Exception:
    """An authgate error as Django's ``ValidationError`` (forms, ``createsuperuser``)."""
    from django.core.exceptions import ValidationError

    fields = getattr(error, "fields", None) or {}
    details = "; ".join(f"{name}: {reason}" for name, reason in fields.items())
    if isinstance(error, UserExists) or not details:
        converted: Exception = ValidationError(error.message)
    else:
        converted = ValidationError(f"{error.message} ({details})")
    return converted


class PasswordPrompt(models.Field):  # type: ignore[misc]
    """A column-less ``password`` field: Django's ``createsuperuser`` asks for it.

    ``createsuperuser`` prompts for a password (or reads
    ``DJANGO_SUPERUSER_PASSWORD``) only when the user model has a field named
    ``password``; authgate stores ``password_hash``. This field has no column,
    no attribute and no migration: it only answers ``_meta.get_field("password")``.
    """

    def __init__(self) -> None:
        super().__init__(editable=False, serialize=False, blank=True, null=True)

    def contribute_to_class(self, cls: type[Any], name: str, private_only: bool = False) -> None:
        """Register as a private field (no column, left out of migrations and forms)."""
        super().contribute_to_class(cls, name, private_only=True)

    def get_attname_column(self) -> tuple[str, None]:
        """No column."""
        return self.get_attname(), None


class UserManager(models.Manager):  # type: ignore[misc]
    """``User.objects``: Django's user-manager methods, through authgate's ``auth.users``."""

    def get_by_natural_key(self, username: str) -> Any:
        """The user with this email (case-insensitive).

        Raises:
            User.DoesNotExist: no such user.
        """
        return self.get(email_canonical=canonical_email(str(username)))

    def create_user(self, email: str, password: str | None = None, **extra_fields: Any) -> Any:
        """Create a user through authgate (validated, hashed by authgate, active, confirmed).

        ``is_staff``/``is_superuser`` give the staff/superuser roles; any other
        keyword is a user column or one of ``auth.users.create_user``'s
        (``roles``, ``username``...). Without a password the user can only
        sign in by the ways that need none (an emailed link, ``login_user``).

        Raises:
            django.core.exceptions.ValidationError: bad email, username or
                password, or a taken email or username.
        """
        superuser_role, staff_roles = role_names()
        roles = list(extra_fields.pop("roles", ()))
        if extra_fields.pop("is_superuser", False):
            roles.append(superuser_role)
        if extra_fields.pop("is_staff", False) and staff_roles:
            roles.append(staff_roles[0])
        try:
            return _auth().users.create_user(
                email=email, password=password, roles=sorted(set(roles)), **extra_fields
            )
        except AuthError as error:
            raise _django_error(error) from None

    def create_superuser(self, email: str, password: str | None = None, **extra_fields: Any) -> Any:
        """A user with the superuser role (what ``manage.py createsuperuser`` calls)."""
        extra_fields["is_superuser"] = True
        return self.create_user(email, password, **extra_fields)


class DjangoUserMixin:
    """Django's user contract on authgate's ``User`` (see the module docstring)."""

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    # Provided by the model and by authgate.UserMixin.
    pk: Any
    id: Any
    email: str
    username: str | None
    password_hash: str | None
    security_stamp: str
    is_active: bool
    current_sign_in_at: dt.datetime | None
    permissions: set[str]
    _state: Any

    if TYPE_CHECKING:

        def has_role(self, role: Any) -> bool: ...  # authgate.UserMixin's

    # -- identity -----------------------------------------------------------------
    def get_username(self) -> str:
        """The email, Django's "username" of this model."""
        return self.email

    def natural_key(self) -> tuple[str]:
        """``(email,)`` (fixtures, ``get_by_natural_key``)."""
        return (self.email,)

    def clean(self) -> None:
        """Django's model validation hook; authgate validates in ``auth.users``."""

    @classmethod
    def get_email_field_name(cls) -> str:
        """``"email"``."""
        return cls.EMAIL_FIELD

    @classmethod
    def normalize_username(cls, username: str) -> str:
        """The email as given (lookups are case-insensitive through its canonical form)."""
        return username

    def get_full_name(self) -> str:
        """The username when there is one, else the email."""
        return self.username or self.email

    def get_short_name(self) -> str:
        """The username when there is one, else the email."""
        return self.get_full_name()

    @property
    def last_login(self) -> dt.datetime | None:
        """When the user last signed in (authgate's ``current_sign_in_at``)."""
        return self.current_sign_in_at

    # -- passwords ----------------------------------------------------------------
    def _stored(self) -> bool:
        return not self._state.adding and self.pk is not None

    def set_password(self, raw_password: str | None) -> None:
        """Set the password with authgate's hasher and policy.

        On a stored user it is saved at once: the security stamp rotates and
        every session ends (``auth.users.set_password``). ``None`` leaves the
        user without a password (:meth:`set_unusable_password`).

        Raises:
            django.core.exceptions.ValidationError: the password breaks the length policy.
        """
        if raw_password is None:
            self.set_unusable_password()
            return
        auth = _auth()
        try:
            if self._stored():
                updated = auth.users.set_password(self, raw_password)
                self.password_hash = updated.password_hash
                self.security_stamp = updated.security_stamp
            else:
                self.password_hash = auth.users.hash_password(raw_password)
        except AuthError as error:
            raise _django_error(error) from None

    def set_unusable_password(self) -> None:
        """No password (on a stored user: saved at once, the sessions end)."""
        if not self._stored():
            self.password_hash = None
            return
        from authgate.models import new_stamp

        stamp = new_stamp()
        auth = _auth()
        if auth.ctx.users.update_user(self.pk, {"password_hash": None, "security_stamp": stamp}):
            auth.ctx.sessions.delete_user_sessions(self.pk)
            self.password_hash, self.security_stamp = None, stamp

    def check_password(self, raw_password: str) -> bool:
        """Whether ``raw_password`` is the user's; an old scheme's hash is upgraded."""
        from authgate.flows.signin import check_password

        auth = _auth()
        if (
            not isinstance(raw_password, str)
            or not self.password_hash
            or len(raw_password) > auth.settings.password_max_length
        ):
            return False
        if not self._stored():
            return bool(auth.users.verify_password(raw_password, self.password_hash))
        try:
            verified = check_password(auth.ctx, self, raw_password)
        except InvalidCredentials:
            return False
        self.password_hash = verified.password_hash
        return True

    def has_usable_password(self) -> bool:
        """Whether the user has a password at all."""
        return bool(self.password_hash)

    def get_session_auth_hash(self) -> str:
        """An HMAC of the security stamp: Django sessions end with every credential change."""
        return self._session_auth_hash(None)

    def get_session_auth_fallback_hash(self) -> Iterator[str]:
        """The same under each of ``SECRET_KEY_FALLBACKS``."""
        for secret in getattr(settings, "SECRET_KEY_FALLBACKS", ()):
            yield self._session_auth_hash(secret)

    def _session_auth_hash(self, secret: str | None) -> str:
        from django.utils.crypto import salted_hmac

        return str(
            salted_hmac(
                _SESSION_HASH_SALT, self.security_stamp, secret=secret, algorithm="sha256"
            ).hexdigest()
        )

    # -- staff, superuser and permissions -------------------------------------------
    @property
    def is_superuser(self) -> bool:
        """Whether the user holds the superuser role (every permission)."""
        return self.has_role(role_names()[0])

    @property
    def is_staff(self) -> bool:
        """Whether the user may use the admin: a staff role, or superuser."""
        superuser, staff = role_names()
        return any(self.has_role(name) for name in (superuser, *staff))

    def get_user_permissions(self, obj: Any = None) -> set[str]:
        """The permissions of the user's roles (``set()`` for an object)."""
        return self._permissions_from("get_user_permissions", obj)

    def get_group_permissions(self, obj: Any = None) -> set[str]:
        """Permissions the backends grant through groups (none of authgate's)."""
        return self._permissions_from("get_group_permissions", obj)

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        """Every permission the authentication backends grant the user."""
        return self._permissions_from("get_all_permissions", obj)

    def _permissions_from(self, method: str, obj: Any) -> set[str]:
        granted: set[str] = set()
        for backend in _backends():
            if hasattr(backend, method):
                granted |= set(getattr(backend, method)(self, obj))
        return granted

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Whether any authentication backend grants ``perm``; active superusers have all."""
        if self.is_active and self.is_superuser:
            return True
        return _ask_backends("has_perm", self, perm, obj)

    def has_perms(self, perm_list: Iterable[str], obj: Any = None) -> bool:
        """Whether the user has every permission of ``perm_list``."""
        if isinstance(perm_list, str):
            raise ValueError("perm_list must be an iterable of permissions.")
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        """Whether the user has any permission in ``app_label``."""
        if self.is_active and self.is_superuser:
            return True
        return _ask_backends("has_module_perms", self, app_label)


def _backends() -> list[Any]:
    from django.contrib.auth import get_backends

    return list(get_backends())


def _ask_backends(method: str, user: Any, *args: Any) -> bool:
    """Django's ``_user_has_perm``: the first backend that says yes wins."""
    from django.core.exceptions import PermissionDenied

    for backend in _backends():
        if not hasattr(backend, method):
            continue
        try:
            if getattr(backend, method)(user, *args):
                return True
        except PermissionDenied:
            return False
    return False
