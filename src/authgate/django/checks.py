"""The Django system check that reports bad ``AUTHGATE_*`` settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from authgate.django.apps import check_settings

__all__ = ["check_authgate_settings", "check_native_user"]


def check_authgate_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``authgate.E001`` for an unknown ``AUTHGATE_*`` name or an invalid value."""
    try:
        check_settings()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                str(exc),
                hint="See authgate.settings.Settings for every setting and its type.",
                id="authgate.E001",
            )
        ]
    return []


checks.register(check_authgate_settings, checks.Tags.compatibility)


_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
_BACKEND = "authgate.django.backends.AuthGateBackend"
_DJANGO_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
_MIDDLEWARE = "authgate.django.middleware.AuthGateMiddleware"


def _subclass_of(path: str, base: str) -> bool:
    from django.utils.module_loading import import_string

    try:
        return issubclass(import_string(path), import_string(base))
    except (ImportError, TypeError):
        return False


def check_native_user(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """With ``AUTH_USER_MODEL = "authgate.User"``: the backend and the middleware order.

    ``authgate.E002``: Django's ``ModelBackend`` is listed (it reads
    ``user_permissions``, which authgate's user has not); ``authgate.W002``:
    ``AuthGateBackend`` is not listed (``authenticate()``, the admin's login,
    would find no user); ``authgate.E003``: ``AuthGateMiddleware`` is missing or
    comes before Django's ``AuthenticationMiddleware`` (whose ``request.user``
    would then win).
    """
    from django.conf import settings

    from authgate.django.middleware import is_native

    if not is_native():
        return []
    found: list[Any] = []
    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", ()))
    if any(_subclass_of(path, _MODEL_BACKEND) for path in backends):
        found.append(
            checks.Error(
                "ModelBackend cannot check the permissions of authgate's user "
                "(AUTH_USER_MODEL = 'authgate.User').",
                hint=f"Use AUTHENTICATION_BACKENDS = [{_BACKEND!r}].",
                id="authgate.E002",
            )
        )
    elif _BACKEND not in backends:
        found.append(
            checks.Warning(
                "AUTHENTICATION_BACKENDS does not list authgate's backend: Django's "
                "authenticate() (the admin's login page) finds no authgate user.",
                hint=f"Add {_BACKEND!r} to AUTHENTICATION_BACKENDS.",
                id="authgate.W002",
            )
        )
    middleware = list(getattr(settings, "MIDDLEWARE", ()) or ())
    ours = [i for i, path in enumerate(middleware) if _subclass_of(path, _MIDDLEWARE)]
    django = [i for i, path in enumerate(middleware) if path == _DJANGO_MIDDLEWARE]
    if not ours or (django and max(django) > min(ours)):
        found.append(
            checks.Error(
                "With AUTH_USER_MODEL = 'authgate.User', request.user is set by "
                "AuthGateMiddleware, which must come after Django's AuthenticationMiddleware.",
                hint=f"List {_MIDDLEWARE!r} after {_DJANGO_MIDDLEWARE!r} in MIDDLEWARE.",
                id="authgate.E003",
            )
        )
    return found


checks.register(check_native_user, checks.Tags.security)
