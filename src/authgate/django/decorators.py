"""View decorators: ``login_required``, ``roles_required``, ``auth_required``...

``login_required``, ``auth_required`` and ``anonymous_required`` work bare
(``@login_required``) or called (``@login_required()``); the role and
permission decorators are called with their names (``@roles_required("admin")``;
a missing or malformed name is a ``TypeError`` when decorating). All work on
sync and async views and mean the same in every framework authgate supports:

* ``roles_required("starving", ["artist", "programmer"])``: every string
  argument is required, a list argument needs any one of its members
  (starving AND (artist OR programmer)); ``roles_accepted(...)``: any one.
* ``permissions_required`` / ``permissions_accepted``: the same over the
  permissions granted by the user's roles.
* ``auth_required("session", "token", "basic")``: only these mechanisms
  (session cookie, bearer token, HTTP Basic) count. Without arguments, and
  for every other decorator: session cookie and bearer token; HTTP Basic only
  where it is named.
* ``anonymous_required``: signed-in users are turned away.

A refused API request gets authgate's JSON error (401 ``UNAUTHORIZED`` with
``WWW-Authenticate``, 403 ``FORBIDDEN``, ``CSRF_FAILED``...); a refused page
request (one that accepts ``text/html``) without a credential is redirected to
the login page with a safe ``next``. On success the view finds the user in
``request.auth_user``. Every method is checked, OPTIONS included; a CORS
preflight gets an empty 204 instead of the view.

CSRF: views that require a user are exempt from Django's
``CsrfViewMiddleware`` so that bearer-token clients can call them; an unsafe
request authenticated by the session cookie must then carry either the
session's ``X-CSRF-Token`` or a token that passes Django's own check
(``{% csrf_token %}``). ``anonymous_required`` views keep Django's CSRF check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, sync_to_async

from authgate.authz import RoleSpec
from authgate.django import get_auth
from authgate.django.views import (
    api_for,
    api_request,
    django_response,
    mount_prefix,
    with_django_csrf,
)
from authgate.errors import AuthError
from authgate.web.credentials import Mechanism
from authgate.web.guard import Guard, Preflight, Rule, check_mechanisms, check_specs

__all__ = [
    "anonymous_required",
    "auth_required",
    "login_required",
    "permissions_accepted",
    "permissions_required",
    "roles_accepted",
    "roles_required",
    "scopes_required",
]

F = TypeVar("F", bound=Callable[..., Any])


def _denial(request: Any, rule: Rule) -> Any | None:
    """The denial response, or ``None`` when ``request`` satisfies ``rule`` (sets ``auth_user``)."""
    auth = get_auth()
    api = api_for(auth, mount_prefix(auth))
    neutral = with_django_csrf(request, api_request(request, request.path, body=False), api)
    guard = Guard(api)
    try:
        principal = guard.check(neutral, rule)
    except (AuthError, Preflight) as exc:
        return django_response(
            guard.deny(neutral, exc, request.get_full_path(), rule), request.method
        )
    request.auth_user = None if principal is None else principal.user
    return None


def _protect(view: F, rule: Rule) -> F:
    """Wrap ``view`` so that it runs only for requests that satisfy ``rule``."""
    wrapped: Any
    if iscoroutinefunction(view):

        async def async_view(request: Any, *args: Any, **kwargs: Any) -> Any:
            denied = await sync_to_async(_denial)(request, rule)
            if denied is not None:
                return denied
            return await view(request, *args, **kwargs)

        wrapped = functools.wraps(view)(async_view)
    else:

        def sync_view(request: Any, *args: Any, **kwargs: Any) -> Any:
            denied = _denial(request, rule)
            if denied is not None:
                return denied
            return view(request, *args, **kwargs)

        wrapped = functools.wraps(view)(sync_view)
    if not rule.anonymous:
        # authgate checks CSRF for cookie-authenticated requests (see the module docstring).
        wrapped.csrf_exempt = True
    return cast(F, wrapped)


def _bare_or_called(args: tuple[Any, ...], rule: Rule) -> Any:
    """``@deco`` (``args`` is the view) or ``@deco()`` (no arguments)."""
    if len(args) == 1 and callable(args[0]):
        return _protect(args[0], rule)
    if args:
        raise TypeError(f"expected a view or no arguments, got {args!r}")
    return lambda view: _protect(view, rule)


def _with_rule(rule: Rule) -> Callable[[F], F]:
    return lambda view: _protect(view, rule)


@overload
def login_required(view: F, /) -> F: ...
@overload
def login_required() -> Callable[[F], F]: ...
def login_required(*args: Any) -> Any:
    """Require a signed-in user (bearer token or session cookie).

    Use bare (``@login_required``) or called (``@login_required()``).
    """
    return _bare_or_called(args, Rule.login())


@overload
def auth_required(view: F, /) -> F: ...
@overload
def auth_required(*mechanisms: Mechanism) -> Callable[[F], F]: ...
def auth_required(*mechanisms: Any) -> Any:
    """Require a user authenticated by one of ``mechanisms`` (none given: session, token, key).

    Args:
        *mechanisms: ``"session"`` (the cookie), ``"token"`` (bearer), ``"api_key"``
            (a personal API key) and ``"basic"`` (HTTP Basic, accepted only when named here).

    Raises:
        ValueError: an unknown mechanism.
    """
    if len(mechanisms) == 1 and callable(mechanisms[0]):
        return _protect(mechanisms[0], Rule.login())
    return _with_rule(Rule.login(*check_mechanisms(mechanisms)))


def roles_required(*roles: RoleSpec) -> Callable[[F], F]:
    """Require every string role, and one role of each list argument.

    ``@roles_required("starving", ["artist", "programmer"])``: starving AND
    (artist OR programmer).

    Raises:
        TypeError: no role, or something other than names and lists of names.
    """
    return _with_rule(Rule.roles(*check_specs("roles_required", roles, "role")))


def roles_accepted(*roles: RoleSpec) -> Callable[[F], F]:
    """Require any one of the roles."""
    return _with_rule(Rule.roles_any(*check_specs("roles_accepted", roles, "role")))


def permissions_required(*permissions: RoleSpec) -> Callable[[F], F]:
    """Require every string permission, and one of each list argument."""
    specs = check_specs("permissions_required", permissions, "permission")
    return _with_rule(Rule.permissions(*specs))


def permissions_accepted(*permissions: RoleSpec) -> Callable[[F], F]:
    """Require any one of the permissions."""
    specs = check_specs("permissions_accepted", permissions, "permission")
    return _with_rule(Rule.permissions_any(*specs))


def scopes_required(*scopes: RoleSpec) -> Callable[[F], F]:
    """Require, of an API key, the scopes: every one named as a string, one of each list.

    ``@scopes_required("read:reports")``: an API key without that scope gets
    403 ``FORBIDDEN``. Sessions and access tokens are the user themselves and
    are not limited by scopes (add a role or permission rule where they must
    be). Without a credential the request is treated as by ``login_required``.
    """
    return _with_rule(Rule.scoped(*check_specs("scopes_required", scopes, "scope")))


@overload
def anonymous_required(view: F, /) -> F: ...
@overload
def anonymous_required() -> Callable[[F], F]: ...
def anonymous_required(*args: Any) -> Any:
    """Only for visitors who are not signed in (signed-in users get 403, or go to the home page)."""
    return _bare_or_called(args, Rule(anonymous=True))
