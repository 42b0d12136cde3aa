"""``AuthGateMiddleware``: ``request.auth_user`` is the signed-in user, or ``None``;
with ``AUTH_USER_MODEL = "authgate.User"``, ``request.user`` is that user too.

The user is looked up on first access only (a view that never reads
``request.auth_user`` costs nothing), from a bearer token or the session
cookie (HTTP Basic only on views that ask for it). A bad or expired credential, or a cookie-
authenticated unsafe request without a valid CSRF token, gives ``None``.

``request.auth_user`` is a real ``User`` or ``None`` (so ``is None`` works):
the middleware gives the request a subclass of its own class with a cached
``auth_user`` property. Views protected by the decorators of
:mod:`authgate.django.decorators` get ``request.auth_user`` set by the
decorator, with or without this middleware.

With ``AUTH_USER_MODEL = "authgate.User"`` the middleware also sets
``request.user`` (and ``request.auser()``), lazily, to the same user or
Django's ``AnonymousUser``: Django's ``login_required``, ``{{ user }}``,
``{{ perms }}`` and the admin then see authgate's user. The credentials are
authgate's (bearer token, session cookie, and the authgate session a
``login()`` kept in the Django session: see :mod:`authgate.django.login`).
Put it after Django's ``AuthenticationMiddleware`` (which the admin
requires), so that its ``request.user`` is the one views see (the system
check ``authgate.E003`` says so)::

    MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "authgate.django.middleware.AuthGateMiddleware",
    ]

A project that keeps its own ``AUTH_USER_MODEL`` keeps its ``request.user``;
authgate's user is ``request.auth_user``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from typing import Any

from asgiref.sync import sync_to_async
from django.utils.functional import SimpleLazyObject

from authgate.django import get_auth
from authgate.django.views import api_for, api_request, mount_prefix, with_django_csrf
from authgate.models import ANONYMOUS
from authgate.web.guard import Guard

__all__ = ["NATIVE_USER_MODEL", "AuthGateMiddleware", "current_user", "is_native"]

#: The ``AUTH_USER_MODEL`` that makes authgate's user Django's.
NATIVE_USER_MODEL = "authgate.User"

_LAZY_MARK = "_authgate_lazy_user"
_request_classes: dict[type[Any], type[Any]] = {}


def current_user(request: Any) -> Any | None:
    """The user authenticated by ``request`` (any mechanism), or ``None``."""
    auth = get_auth()
    api = api_for(auth, mount_prefix(auth))
    neutral = with_django_csrf(request, api_request(request, request.path, body=False), api)
    principal = Guard(api).principal(neutral)
    return None if principal is None else principal.user


def _with_lazy_user(cls: type[Any]) -> type[Any]:
    """``cls`` extended with a cached ``auth_user`` property (one subclass per class)."""
    if getattr(cls, _LAZY_MARK, False):
        return cls
    subclass = _request_classes.get(cls)
    if subclass is None:
        namespace = {
            "auth_user": cached_property(current_user),
            _LAZY_MARK: True,
            "__module__": cls.__module__,
            "__doc__": cls.__doc__,
        }
        subclass = _request_classes.setdefault(cls, type(cls.__name__, (cls,), namespace))
    return subclass


def is_native() -> bool:
    """Whether the project's ``AUTH_USER_MODEL`` is authgate's user."""
    from django.conf import settings

    return str(getattr(settings, "AUTH_USER_MODEL", "auth.User")) == NATIVE_USER_MODEL


def _anonymous() -> Any:
    from django.apps import apps

    if apps.is_installed("django.contrib.auth"):
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser()
    return ANONYMOUS


def _user(request: Any) -> Any:
    user = request.auth_user
    return user if user is not None else _anonymous()


class AuthGateMiddleware:
    """Sets ``request.auth_user`` (lazily): the signed-in user or ``None``; with
    ``AUTH_USER_MODEL = "authgate.User"`` also ``request.user`` and ``request.auser()``.

    Add it to ``MIDDLEWARE`` (after ``CsrfViewMiddleware`` and Django's
    ``AuthenticationMiddleware`` if you use them)::

        MIDDLEWARE = [..., "authgate.django.middleware.AuthGateMiddleware"]
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.native = is_native()

    def __call__(self, request: Any) -> Any:
        request.__class__ = _with_lazy_user(type(request))
        if self.native:
            request.user = SimpleLazyObject(functools.partial(_user, request))
            request.auser = functools.partial(sync_to_async(_user), request)
        return self.get_response(request)
