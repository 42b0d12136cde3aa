"""authgate for Django: a reusable app with models, migrations, middleware, views and decorators.

Set-up::

    # settings.py
    INSTALLED_APPS = [..., "authgate.django"]
    MIDDLEWARE = [..., "django.middleware.csrf.CsrfViewMiddleware",
                  "authgate.django.middleware.AuthGateMiddleware"]
    AUTHGATE_CONFIRMABLE = True          # any authgate setting as AUTHGATE_<NAME>

    # urls.py
    urlpatterns = [path("auth/", include("authgate.django.urls")), ...]

    # views.py
    from authgate.django.decorators import login_required, roles_required

    @login_required
    def profile(request):
        return JsonResponse({"email": request.auth_user.email})

then ``python manage.py migrate``. ``AUTHGATE_SECRET`` defaults to ``SECRET_KEY``;
users live in the Django database (:class:`~authgate.django.store.DjangoStore`)
unless ``AUTHGATE_DATABASE_URL`` names a SQLAlchemy database; mail goes
through Django's email backend. ``python manage.py authgate users create ...``
runs authgate's command line; ``manage.py check`` reports unknown settings.

CSRF: the JSON API and the views protected by the decorators are exempt from
Django's ``CsrfViewMiddleware`` so that bearer-token clients need no CSRF
token; an unsafe request authenticated by the session cookie must carry the
session's ``X-CSRF-Token`` (sent with the sign-in response and in the
readable ``authgate_csrf`` cookie) or pass Django's own CSRF check, else it
gets ``403 CSRF_FAILED``. Every other view keeps Django's check.

Importing this package imports no Django module: :func:`get_auth` and
:func:`use_auth` are safe to import anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = ["get_auth", "use_auth"]

_override: ContextVar[Auth | None] = ContextVar("authgate_django_auth", default=None)


def get_auth() -> Auth:
    """The :class:`~authgate.Auth` serving the current request or command.

    The one set by :func:`use_auth` when inside it, else the app's own
    (``apps.get_app_config("authgate").auth``, built from the settings on first use).
    """
    auth = _override.get()
    if auth is not None:
        return auth
    from django.apps import apps

    app_auth: Auth = apps.get_app_config("authgate").auth
    return app_auth


@contextlib.contextmanager
def use_auth(auth: Auth) -> Iterator[Auth]:
    """Serve requests (and commands) with ``auth`` inside the block, e.g. in tests::

        with use_auth(Auth(secret, store=MemoryStore())):
            response = client.get("/auth/session")

    The override follows the current context (thread or task), so concurrent
    tests do not see each other's ``Auth``. To replace the app's ``Auth`` for
    every thread, assign ``apps.get_app_config("authgate").auth = auth``.
    """
    token = _override.set(auth)
    try:
        yield auth
    finally:
        _override.reset(token)
