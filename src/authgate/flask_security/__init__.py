"""Flask-Security's names on authgate: a Flask-Security app switches by changing its imports.

Replace ``flask_security`` by ``authgate.flask_security`` in the imports::

    from authgate.flask_security import Security, SQLAlchemyUserDatastore, auth_required
    from authgate.flask_security.models import fsqla_v3 as fsqla

and the app runs on authgate: ``Security(app, datastore)`` builds an
:class:`~authgate.Auth` from ``app.config`` (``AUTHGATE_*`` keys, ``SECRET_KEY``
as the secret, the datastore's Flask-SQLAlchemy ``db`` and models) and mounts
it with :func:`~authgate.flask.setup_for_flask`; the datastore's methods are
``auth.users``'; the decorators, ``current_user``, ``login_user``/``logout_user``
and the signals are authgate's. ``SECURITY_PASSWORD_SALT`` becomes
``legacy_hmac_salt``, so the hashes Flask-Security stored keep verifying.

What changes for the app (authgate is not Flask-Security):

* the endpoints are authgate's JSON API under ``/auth`` (``POST
  /auth/sign-in/email`` rather than ``POST /login``), and its pages;
* other ``SECURITY_*`` keys are not read: configure authgate with
  ``AUTHGATE_*`` keys (``AUTHGATE_CONFIRMABLE``, ``AUTHGATE_REGISTERABLE``...);
* the models are authgate's mixins (``fsqla_v3.FsUserMixin`` is
  :class:`~authgate.UserMixin` with Flask-Security's ``active`` and
  ``password`` names): a new database, or an existing one brought over with
  ``authgate import flask-security``;
* every datastore change is committed at once (``datastore.commit()`` is
  harmless); ``create_user(password=...)`` takes a hash from
  :func:`hash_password` (as Flask-Security 4+ wants) or, as older versions
  did, a plain password.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app

from authgate.auth import Auth
from authgate.flask import (
    anonymous_required,
    auth_required,
    current_user,
    login_required,
    login_user,
    logout_user,
    permissions_accepted,
    permissions_required,
    roles_accepted,
    roles_required,
    setup_for_flask,
)
from authgate.models import RoleMixin, UserMixin
from authgate.signals import (
    password_changed,
    password_reset,
    reset_password_instructions_sent,
    user_confirmed,
    user_registered,
)

__all__ = [
    "RoleMixin",
    "SQLAlchemyUserDatastore",
    "Security",
    "UserMixin",
    "anonymous_user_required",
    "auth_required",
    "current_user",
    "hash_password",
    "login_required",
    "login_user",
    "logout_user",
    "password_changed",
    "password_reset",
    "permissions_accepted",
    "permissions_required",
    "reset_password_instructions_sent",
    "roles_accepted",
    "roles_required",
    "user_confirmed",
    "user_registered",
    "verify_password",
]

#: Flask-Security's name for :func:`authgate.flask.anonymous_required`.
anonymous_user_required = anonymous_required


class SQLAlchemyUserDatastore:
    """Flask-Security's datastore over authgate's ``auth.users``.

    Args:
        db: the Flask-SQLAlchemy ``db`` holding the models.
        user_model: the user model (built on ``fsqla_v3.FsUserMixin`` or
            :class:`~authgate.UserMixin`).
        role_model: the role model.

    Its methods work once :class:`Security` has set the app up.
    """

    def __init__(self, db: Any, user_model: type[Any], role_model: type[Any]) -> None:
        self.db = db
        self.user_model = user_model
        self.role_model = role_model
        self._auth: Auth | None = None

    @property
    def auth(self) -> Auth:
        """The ``Auth`` the app was set up with.

        Raises:
            RuntimeError: ``Security(app, datastore)`` was not called yet.
        """
        if self._auth is None:
            raise RuntimeError("set the app up first: Security(app, datastore)")
        return self._auth

    def _password_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        password = fields.pop("password", None)
        if password is not None:
            if self.auth.ctx.hasher.identify(password) is not None:
                fields["password_hash"] = password  # hashed by hash_password(), as FS 4+ wants
            else:
                fields["password"] = password
        if "active" in fields:
            fields["is_active"] = fields.pop("active")
        if "confirmed_at" in fields:
            fields["email_confirmed_at"] = fields.pop("confirmed_at")
            fields.setdefault("confirmed", fields["email_confirmed_at"] is not None)
        return fields

    def create_user(self, **fields: Any) -> Any:
        """Create a user (``email``, ``password``, ``username``, ``roles``, ``active``...)."""
        fields = self._password_fields(dict(fields))
        fields["roles"] = [getattr(r, "name", r) for r in fields.get("roles", ())]
        return self.auth.users.create_user(**fields)

    def find_user(self, **filters: Any) -> Any | None:
        """The first user matching every filter (``email``/``username`` case-insensitive)."""
        if "active" in filters:
            filters["is_active"] = filters.pop("active")
        return self.auth.users.find_user(**filters)

    def delete_user(self, user: Any) -> None:
        """Delete the user (sessions, role links and extra addresses go too)."""
        self.auth.users.delete_user(user)

    def create_role(self, **fields: Any) -> Any:
        """Create a role (``name``, ``description``, ``permissions``)."""
        permissions: Iterable[str] | str = fields.get("permissions") or ()
        return self.auth.users.create_role(
            fields["name"], fields.get("description"), sorted(permissions)
            if not isinstance(permissions, str) else permissions,
        )  # fmt: skip

    def find_role(self, role: str) -> Any | None:
        """The role with this name."""
        return self.auth.users.find_role(role)

    def find_or_create_role(self, name: str, **fields: Any) -> Any:
        """The role, created with ``description``/``permissions`` if missing."""
        return self.find_role(name) or self.create_role(name=name, **fields)

    def add_role_to_user(self, user: Any, role: Any) -> bool:
        """Give the user the role (created if missing); ``False`` if they had it."""
        return self.auth.users.add_role_to_user(user, role)

    def remove_role_from_user(self, user: Any, role: Any) -> bool:
        """Take the role away; ``False`` if the user did not have it."""
        return self.auth.users.remove_role_from_user(user, role)

    def add_permissions_to_role(self, role: Any, permissions: Iterable[str] | str) -> bool:
        """Grant permissions to a role."""
        names = [permissions] if isinstance(permissions, str) else list(permissions)
        return self.auth.users.add_permissions_to_role(role, names) is not None

    def activate_user(self, user: Any) -> bool:
        """Activate; ``True`` if the user was inactive."""
        return self.auth.users.activate_user(user)

    def deactivate_user(self, user: Any) -> bool:
        """Deactivate and end every session; ``True`` if the user was active."""
        return self.auth.users.deactivate_user(user)

    def toggle_active(self, user: Any) -> bool:
        """Flip the active flag; returns the new value."""
        return self.auth.users.toggle_active(user)

    def commit(self) -> None:
        """Nothing to do: every change above is committed when it is made."""

    def put(self, model: Any) -> Any:
        """Add an object of the app's own to the session (committed by :meth:`commit`... or
        the app's own ``db.session.commit()``)."""
        self.db.session.add(model)
        return model


class Security:
    """Flask-Security's extension object, setting the app up with authgate.

    ``Security(app, datastore)`` or ``security = Security(); security.init_app(app, datastore)``.
    """

    def __init__(self, app: Flask | None = None, datastore: Any = None, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"Security() got {', '.join(sorted(kwargs))}: authgate is configured with "
                "AUTHGATE_* keys in app.config (forms and classes are not replaceable here)"
            )
        self.datastore = datastore
        self.auth: Auth | None = None
        if app is not None:
            self.init_app(app, datastore)

    def init_app(self, app: Flask, datastore: Any = None) -> Auth:
        """Build the ``Auth`` from ``app.config`` and the datastore, and mount it on ``app``."""
        datastore = datastore if datastore is not None else self.datastore
        if datastore is None:
            raise TypeError(
                "Security needs a datastore: Security(app, SQLAlchemyUserDatastore(...))"
            )
        self.datastore = datastore
        config = dict(app.config)
        salt = config.get("SECURITY_PASSWORD_SALT")
        if (
            salt
            and "AUTHGATE_LEGACY_HMAC_SALT" not in config
            and not os.environ.get("AUTHGATE_LEGACY_HMAC_SALT")
        ):
            config["AUTHGATE_LEGACY_HMAC_SALT"] = salt
        secret: Any = config.get("SECRET_KEY")
        if isinstance(secret, bytes):
            secret = secret.hex()
        with app.app_context():
            auth = Auth.from_config(
                config, defaults={"secret": secret} if secret else None,
                db=datastore.db, user_model=datastore.user_model, role_model=datastore.role_model,
            )  # fmt: skip
        setup_for_flask(auth, app)
        datastore._auth = auth
        self.auth = auth
        app.extensions["security"] = self
        return auth


def _auth() -> Auth:
    security = current_app.extensions.get("security")
    if not isinstance(security, Security) or security.auth is None:
        raise RuntimeError("set the app up first: Security(app, datastore)")
    return security.auth


def hash_password(password: str) -> str:
    """Hash ``password`` with authgate's current scheme (inside the app context)."""
    return _auth().users.hash_password(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (any scheme authgate verifies)."""
    return _auth().users.verify_password(password, password_hash)
