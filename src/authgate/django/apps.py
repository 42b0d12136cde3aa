"""The Django app ``authgate.django`` (label ``authgate``): configuration and the ``Auth``."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from authgate.auth import Auth
from authgate.settings import Settings

__all__ = ["AuthGateConfig", "authgate_settings", "check_settings"]


def authgate_settings() -> dict[str, Any]:
    """Every ``AUTHGATE_*`` name defined in the Django settings, with its value."""
    return {name: getattr(settings, name) for name in dir(settings) if name.startswith("AUTHGATE_")}


def check_settings(mapping: Mapping[str, Any] | None = None) -> Settings:
    """Validate the ``AUTHGATE_*`` configuration without building anything.

    Reads what :meth:`AuthGateConfig.build_auth` reads: ``SECRET_KEY`` as the
    default secret, then ``AUTHGATE_*`` environment variables, then the settings.

    Raises:
        ImproperlyConfigured: an unknown name (the message names the closest
            valid one) or an invalid value.
    """
    merged: dict[str, Any] = {"AUTHGATE_SECRET": settings.SECRET_KEY}
    merged.update({k: v for k, v in os.environ.items() if k.startswith("AUTHGATE_")})
    merged.update(authgate_settings() if mapping is None else mapping)
    try:
        return Settings.from_mapping(merged)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"authgate: {exc}") from exc


class AuthGateConfig(AppConfig):  # type: ignore[misc]
    """authgate's app config; ``apps.get_app_config("authgate").auth`` is the ``Auth`` in use.

    The ``Auth`` is built on first use from ``AUTHGATE_<NAME>`` settings (and
    environment variables), with ``AUTHGATE_SECRET`` defaulting to
    ``SECRET_KEY``. Users are stored with the Django ORM unless
    ``AUTHGATE_DATABASE_URL`` is set (then authgate's SQLAlchemy store is
    used), mail goes through Django's email backend, and email templates in
    the project's template folders override authgate's. To change any of
    these, subclass this config, override :meth:`store`, :meth:`mailer` or
    :meth:`template_dirs`, and list your subclass in ``INSTALLED_APPS``.
    Assigning :attr:`auth` replaces the ``Auth`` for the whole process (tests
    may prefer :func:`authgate.django.use_auth`).
    """

    name = "authgate.django"
    label = "authgate"
    verbose_name = "authgate"
    default_auto_field = "django.db.models.BigAutoField"

    #: With ``AUTH_USER_MODEL = "authgate.User"``: holders of this role are Django
    #: superusers (every permission; ``createsuperuser`` gives it).
    superuser_role: str = "superuser"
    #: ...and holders of these roles are staff (may use the admin); superusers are too.
    staff_roles: tuple[str, ...] = ("staff",)

    def __init__(self, app_name: str, app_module: Any) -> None:
        super().__init__(app_name, app_module)
        self._auth: Auth | None = None
        self._lock = threading.Lock()

    def ready(self) -> None:
        """Register the system checks; have ``django.contrib.auth.login()`` start authgate
        sessions (when ``django.contrib.auth`` is installed)."""
        from django.apps import apps

        from authgate.django import checks  # noqa: F401  (registers the checks)

        if apps.is_installed("django.contrib.auth"):
            from authgate.django import login

            login.connect()

    @property
    def auth(self) -> Auth:
        """The app's ``Auth``, built from the settings on first use."""
        if self._auth is None:
            with self._lock:
                if self._auth is None:
                    self._auth = self.build_auth()
        return self._auth

    @auth.setter
    def auth(self, value: Auth) -> None:
        self._auth = value

    def build_auth(self, mapping: Mapping[str, Any] | None = None) -> Auth:
        """A new ``Auth`` from ``AUTHGATE_*`` settings (or ``mapping``, for checks and tests).

        Raises:
            ImproperlyConfigured: an unknown ``AUTHGATE_*`` name (the message
                names the closest valid one) or an invalid value.
        """
        config = authgate_settings() if mapping is None else dict(mapping)
        components: dict[str, Any] = {}
        if not (config.get("AUTHGATE_DATABASE_URL") or os.environ.get("AUTHGATE_DATABASE_URL")):
            components["store"] = self.store()
        components["send_email"] = self.mailer()
        components["template_dirs"] = self.template_dirs()
        try:
            return Auth.from_config(config, defaults={"secret": settings.SECRET_KEY}, **components)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"authgate: {exc}") from exc

    def store(self) -> Any:
        """The store used when ``AUTHGATE_DATABASE_URL`` is not set: the Django ORM."""
        from authgate.django.store import DjangoStore

        return DjangoStore()

    def template_dirs(self) -> list[str]:
        """Folders whose ``authgate/email/...`` templates override authgate's own.

        The project's template folders: every ``TEMPLATES`` entry's ``DIRS``,
        then the apps' ``templates`` folders when an engine has ``APP_DIRS``.
        """
        from django.template.utils import get_app_template_dirs

        engines = list(settings.TEMPLATES)
        dirs = [str(d) for engine in engines for d in engine.get("DIRS", ())]
        if any(engine.get("APP_DIRS") for engine in engines):
            dirs += [str(d) for d in get_app_template_dirs("templates")]
        return dirs

    def mailer(self) -> Any:
        """How emails are sent: through Django's email backend.

        Return any ``send_email`` value :class:`~authgate.Auth` accepts (a
        mailer, a function, or ``None`` for authgate's console mailer).
        """
        from authgate.django.mail import DjangoMailer

        return DjangoMailer()
