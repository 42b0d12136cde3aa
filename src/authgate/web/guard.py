"""The one decision behind every framework's decorators and dependencies.

``login_required``, ``roles_required``, ``auth_required("token", "basic")``...
all call :meth:`Guard.check`, which authenticates the request and applies the
role/permission rule, and :meth:`Guard.deny`, which turns the failure into a
response: a page request (one that accepts ``text/html``) is redirected to the
login page with a safe ``next``, an API request gets the JSON 401/403 (a 401
with its ``WWW-Authenticate`` challenge).

Every method is checked, OPTIONS included: a protected view never runs without
its user. A real CORS preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``, which browsers send without credentials) is
answered with an empty 204 instead of running the view; the app's CORS layer,
if any, adds its headers to that answer.

The credentials that count are the bearer token (a session token or an
access token), a personal API key and the session cookie; HTTP Basic only
where the view asks for it (``auth_required("basic", ...)``). A rule with
scopes (``scopes_required``) limits API keys to the scopes they were given;
sessions and access tokens are the user themselves and are not limited by
scopes (guard those views by role or permission too if they must be).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from authgate import authz, signals
from authgate.errors import AuthError, Forbidden, Unauthorized
from authgate.flows import two_factor
from authgate.flows.api_keys import has_scopes
from authgate.i18n import use_locale
from authgate.session_cache import StoreNeeded
from authgate.web.api import AuthAPI
from authgate.web.credentials import (
    ALL_MECHANISMS,
    CSRF_HEADER,
    DEFAULT_MECHANISMS,
    Mechanism,
    Principal,
)
from authgate.web.http import ApiRequest, ApiResponse, Headers
from authgate.web.redirects import safe_next

__all__ = [
    "Guard",
    "Preflight",
    "Rule",
    "TwoFactorSetupDue",
    "check_mechanisms",
    "check_specs",
    "is_preflight",
    "login_redirect",
]


class TwoFactorSetupDue(Forbidden):
    """A page request of a user who must set up a second factor (its grace period runs):
    :meth:`Guard.deny` sends the browser to the set-up page. API requests never get it."""


class Preflight(Exception):
    """Raised by :meth:`Guard.check` for a CORS preflight: answer it, do not run the view.

    Integrations catch it with :class:`~authgate.errors.AuthError` and hand it
    to :meth:`Guard.deny`, which answers an empty 204.
    """


def is_preflight(request: ApiRequest) -> bool:
    """Whether ``request`` is a CORS preflight (browsers send them without credentials)."""
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def check_specs(decorator: str, specs: tuple[Any, ...], what: str) -> tuple[authz.RoleSpec, ...]:
    """Check role/permission arguments when decorating, not on the first request.

    Raises:
        TypeError: no names (e.g. ``@roles_required`` used bare), or not strings /
            lists of strings.
    """
    sample = {"role": "admin", "scope": "read:reports"}.get(what, "post.edit")
    example = f"@{decorator}('{sample}')"
    if not specs or any(callable(s) for s in specs):
        raise TypeError(f"{decorator} needs at least one {what} name, e.g. {example}")
    for spec in specs:
        names = [spec] if isinstance(spec, str) else spec
        if not isinstance(names, list | tuple | set | frozenset) or not all(
            isinstance(n, str) and n for n in names
        ):
            raise TypeError(
                f"{decorator} takes {what} names (strings) or lists of them, got {spec!r}"
            )
    return specs


def check_mechanisms(mechanisms: tuple[Any, ...]) -> tuple[Mechanism, ...]:
    """Check ``auth_required`` arguments; duplicates are dropped.

    Raises:
        ValueError: an unknown mechanism.
    """
    unknown = [m for m in mechanisms if m not in ALL_MECHANISMS]
    if unknown:
        raise ValueError(
            f"auth_required: unknown mechanism {unknown[0]!r}; "
            "use 'session', 'token', 'api_key' or 'basic'"
        )
    return tuple(dict.fromkeys(mechanisms))


@dataclass(frozen=True)
class Rule:
    """What a protected view demands."""

    mechanisms: Sequence[Mechanism] = DEFAULT_MECHANISMS
    predicate: Callable[..., bool] | None = None
    args: tuple[Any, ...] = ()
    #: ``anonymous_required``: signed-in users are turned away instead.
    anonymous: bool = False
    #: ``scopes_required``: what an API key must grant (strings ALL, lists ANY).
    scopes: tuple[authz.RoleSpec, ...] = ()
    #: CSRF for cookie-authenticated requests: ``None`` checks unsafe methods (the
    #: default), ``False`` none (Authcode's ``csrf=False``), ``True`` every method.
    csrf: bool | None = None

    @classmethod
    def login(cls, *mechanisms: Mechanism) -> Rule:
        """Any authenticated user, through the given mechanisms (default: token and session)."""
        return cls(mechanisms=mechanisms or DEFAULT_MECHANISMS)

    @classmethod
    def roles(cls, *roles: authz.RoleSpec) -> Rule:
        """``roles_required``: strings ALL, list arguments ANY."""
        return cls(predicate=authz.has_roles, args=roles)

    @classmethod
    def roles_any(cls, *roles: authz.RoleSpec) -> Rule:
        """``roles_accepted``: any one of the roles."""
        return cls(predicate=authz.has_any_role, args=roles)

    @classmethod
    def permissions(cls, *permissions: authz.RoleSpec) -> Rule:
        """``permissions_required``: strings ALL, list arguments ANY."""
        return cls(predicate=authz.has_all_permissions, args=permissions)

    @classmethod
    def scoped(cls, *scopes: authz.RoleSpec) -> Rule:
        """``scopes_required``: an API key must grant the scopes (strings ALL, lists ANY)."""
        return cls(scopes=tuple(s if isinstance(s, str) else tuple(s) for s in scopes))

    @classmethod
    def permissions_any(cls, *permissions: authz.RoleSpec) -> Rule:
        """``permissions_accepted``: any one of the permissions."""
        return cls(predicate=authz.has_any_permission, args=permissions)


class Guard:
    """Applies :class:`Rule` objects to neutral requests."""

    def __init__(self, api: AuthAPI) -> None:
        self.api = api

    def principal(
        self,
        request: ApiRequest,
        mechanisms: Sequence[Mechanism] = DEFAULT_MECHANISMS,
        *,
        memory_only: bool = False,
    ) -> Principal | None:
        """The caller, or ``None``; a bad credential counts as none (for optional users).

        ``memory_only``: see :meth:`check`.
        """
        try:
            principal = self.api.credentials.authenticate(
                request, mechanisms, memory_only=memory_only
            )
        except AuthError:
            return None
        if principal is not None:
            self._loaded(principal)
        return principal

    def _loaded(self, principal: Principal) -> None:
        """Send ``user_loaded_from_cookie`` / ``user_loaded_from_request`` (if anyone listens)."""
        if principal.mechanism == "session":
            signal = signals.user_loaded_from_cookie
            extra: dict[str, Any] = {}
        else:
            signal = signals.user_loaded_from_request
            extra = {"mechanism": principal.mechanism}
        if signal.receivers:
            session_id = principal.session.id if principal.session is not None else None
            signal.send(self.api.auth, user=principal.user, session_id=session_id, **extra)

    def check(
        self, request: ApiRequest, rule: Rule, *, memory_only: bool = False
    ) -> Principal | None:
        """Authenticate and authorise; returns the principal (``None`` only for anonymous rules).

        With ``memory_only`` the check never blocks (an event loop may run it):
        when it needs the store (a session not in the session cache) or a
        password hash (HTTP Basic), it raises
        :class:`~authgate.session_cache.StoreNeeded` and the caller runs it again
        in a worker thread.

        Raises:
            Preflight: a CORS preflight; the view must not run (see :meth:`deny`).
            Unauthorized / InvalidToken / CSRFFailed: no or bad credential.
            Forbidden: authenticated without the role or permission, an API key
                without the scopes, or signed in on an ``anonymous_required`` view.
        """
        if request.method == "OPTIONS" and is_preflight(request):
            raise Preflight()
        if rule.anonymous:
            if self.principal(request, memory_only=memory_only) is not None:
                raise Forbidden("Already signed in.")
            return None
        if rule.csrf is False:
            request = self._without_csrf(request)
        principal = self.api.credentials.authenticate(
            request, rule.mechanisms, memory_only=memory_only
        )
        if principal is None:
            raise Unauthorized()
        if rule.csrf and principal.mechanism == "session" and request.is_safe:
            assert principal.token is not None
            self.api.credentials.check_csrf(request, principal.token)
        self._loaded(principal)
        if rule.predicate is not None and not rule.predicate(principal.user, *rule.args):
            raise Forbidden()
        if rule.scopes and not has_scopes(principal.scopes, *rule.scopes):
            raise Forbidden("This API key does not grant the scopes this needs.")
        if request.wants_html and principal.mechanism == "session":
            self._setup_check(principal.user, memory_only)
        return principal

    def _setup_check(self, user: Any, memory_only: bool) -> None:
        """:class:`TwoFactorSetupDue` for a browser of a user whose second factor is due."""
        settings = self.api.auth.settings
        if not (settings.two_factor and settings.pages) or (
            two_factor.TOTP not in settings.two_factor_methods
        ):
            return
        ctx = self.api.auth.ctx
        if not two_factor.is_required(ctx, user):
            return
        if memory_only:
            raise StoreNeeded()
        if two_factor.setup_status(ctx, user) is not None:
            raise TwoFactorSetupDue()

    def _without_csrf(self, request: ApiRequest) -> ApiRequest:
        """``request`` as it would pass the CSRF check (a view declared ``csrf=False``).

        Only an unsafe request with the session cookie and no ``Authorization``
        header changes: it gets its session's own CSRF token.
        """
        credentials = self.api.credentials
        cookie = request.cookies.get(credentials.cookie_name)
        if request.is_safe or not cookie or "authorization" in request.headers:
            return request
        token = credentials.csrf_token(cookie)
        headers = Headers([*request.headers.items(), (CSRF_HEADER, token)])
        return dataclasses.replace(request, headers=headers)

    def deny(
        self,
        request: ApiRequest,
        error: AuthError | Preflight,
        full_path: str,
        rule: Rule | None = None,
    ) -> ApiResponse:
        """The response for a failed check: a login redirect for pages, JSON for APIs.

        Args:
            request: the refused request.
            error: what :meth:`check` raised.
            full_path: the path the browser asked for (the login page's ``next``).
            rule: the rule that refused it; a 401 offers HTTP Basic when the
                rule accepts it.
        """
        if isinstance(error, Preflight):
            return ApiResponse(status=204, headers=[("Cache-Control", "no-store")])
        if isinstance(error, TwoFactorSetupDue):
            return ApiResponse.redirect(f"{self.api.prefix}/account/two-factor/setup")
        if error.status == 401 and signals.user_unauthorized.receivers:
            signals.user_unauthorized.send(self.api.auth, user=None, code=error.code)
        if request.wants_html and error.status == 401:
            settings = self.api.auth.settings
            target = safe_next(full_path, default=settings.post_login_url)
            return ApiResponse.redirect(login_redirect(self.api, target))
        if request.wants_html and isinstance(error, Forbidden) and "Already" in error.message:
            return ApiResponse.redirect(self.api.auth.settings.post_login_url)
        basic = rule is not None and "basic" in rule.mechanisms
        with use_locale(self.api.locale(request)):
            return AuthAPI.error(error, basic=basic)


def login_redirect(api: AuthAPI, target: str) -> str:
    """Where a browser goes to sign in and come back to ``target`` (an already safe path).

    The ``login_url`` setting (the app's own page) when set, else
    ``<prefix>/login``; ``next`` is added to its query.
    """
    login = api.auth.settings.login_url or f"{api.prefix}/login"
    joiner = "&" if "?" in login else "?"
    return f"{login}{joiner}next={quote(target, safe='')}"
