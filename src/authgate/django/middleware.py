"""``AuthGateMiddleware``: ``request.auth_user`` is the signed-in user, or ``None``.

The user is looked up on first access only (a view that never reads
``request.auth_user`` costs nothing), from a bearer token or the session
cookie (HTTP Basic only on views that ask for it). A bad or expired credential, or a cookie-
authenticated unsafe request without a valid CSRF token, gives ``None``.

``request.auth_user`` is a real ``User`` or ``None`` (so ``is None`` works):
the middleware gives the request a subclass of its own class with a cached
``auth_user`` property. Views protected by the decorators of
:mod:`authgate.django.decorators` get ``request.auth_user`` set by the
decorator, with or without this middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from authgate.django import get_auth
from authgate.django.views import api_for, api_request, mount_prefix, with_django_csrf
from authgate.web.guard import Guard

__all__ = ["AuthGateMiddleware", "current_user"]

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


class AuthGateMiddleware:
    """Sets ``request.auth_user`` (lazily): the signed-in user or ``None``.

    Add it to ``MIDDLEWARE`` (after ``CsrfViewMiddleware`` if you use it)::

        MIDDLEWARE = [..., "authgate.django.middleware.AuthGateMiddleware"]
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request.__class__ = _with_lazy_user(type(request))
        return self.get_response(request)
