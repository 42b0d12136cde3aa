"""Bottle integration: mount the JSON API, ``current_user()`` and the view decorators.

Usage::

    import bottle
    from authgate import Auth
    from authgate.bottle import current_user, login_required, setup_for_bottle

    app = bottle.Bottle()
    setup_for_bottle(Auth(secret="...", database_url="sqlite:///auth.db"), app)

    @app.get("/dashboard")
    @login_required
    def dashboard():
        return {"email": current_user().email}

Put the route decorator first and the authgate decorator under it, as
above. Bottle's ``request`` is a thread-local, so the signed-in user is
read with the function :func:`current_user` (there is no proxy object to
import): it returns the user of the request being handled, or an
:class:`AnonymousUser`, and is computed at most once per request.

This module only translates: ``bottle.request`` becomes an
:class:`~authgate.web.http.ApiRequest`, the shared web layer decides, and
its :class:`~authgate.web.http.ApiResponse` becomes a
:class:`bottle.HTTPResponse`. The per-app state is an
:class:`AuthGatePlugin` installed on the app, so several apps with
different :class:`~authgate.Auth` objects can run in one process.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl

try:
    import bottle  # type: ignore[import-untyped]
except ImportError as exc:
    raise ImportError(
        'authgate.bottle needs Bottle; install it with `pip install "authgate[bottle]"`'
    ) from exc

from authgate import authz
from authgate.auth import Auth
from authgate.errors import AuthError, Forbidden, ValidationError
from authgate.models import ANONYMOUS, AnonymousUser
from authgate.web import protect
from authgate.web.api import AuthAPI, one_prefix
from authgate.web.credentials import Mechanism, Principal
from authgate.web.guard import Guard, Preflight, Rule, check_mechanisms, check_specs
from authgate.web.http import MAX_BODY_BYTES, ApiRequest, ApiResponse, HeadersView, read_at_most
from authgate.web.pages import AuthPages

__all__ = [
    "AnonymousUser",
    "AuthGatePlugin",
    "anonymous_required",
    "auth_required",
    "current_user",
    "login_required",
    "permissions_accepted",
    "permissions_required",
    "roles_accepted",
    "roles_required",
    "scopes_required",
    "setup_for_bottle",
]

#: Key of the cached user in the WSGI environ of a request.
_USER_KEY = "authgate.user"

F = TypeVar("F", bound=Callable[..., Any])


_ANONYMOUS = ANONYMOUS


_ACTIVE_KEY = "authgate.handling"


class AuthGatePlugin:
    """authgate's state on one Bottle app, installed by :func:`setup_for_bottle`.

    It changes no route (``apply`` returns the callback as it is); it is a
    plugin so that Bottle keeps it with the app (``app.plugins``) and refuses a
    second one.

    Attributes:
        auth: the app's :class:`~authgate.Auth`.
        guard: applies the decorators' rules; ``guard.api`` is the JSON API,
            mounted at ``guard.api.prefix``.
    """

    name = "authgate"
    #: Bottle's plugin API version (not authgate's JSON API).
    api = 2

    def __init__(self, auth: Auth, api: AuthAPI, pages: AuthPages | None = None) -> None:
        self.auth = auth
        self.guard = Guard(api)
        #: The HTML pages in front of the API, or ``None`` when switched off.
        self.pages = pages

    def setup(self, app: Any) -> None:
        """Refuse a second authgate plugin on the same app."""
        if any(isinstance(p, AuthGatePlugin) for p in app.plugins):
            raise bottle.PluginError("setup_for_bottle was already called for this Bottle app")

    def apply(self, callback: Callable[..., Any], route: Any) -> Callable[..., Any]:
        """Mark the request as being handled, so nothing reads a finished request's state.

        Bottle's ``request`` is a thread-local that keeps the last request of the
        thread after it is answered.
        """

        @functools.wraps(callback)
        def handling(*args: Any, **kwargs: Any) -> Any:
            environ = bottle.request.environ
            environ[_ACTIVE_KEY] = True
            try:
                return callback(*args, **kwargs)
            finally:
                environ.pop(_ACTIVE_KEY, None)

        return handling


def setup_for_bottle(
    auth: Auth,
    app: Any,
    url_prefix: str | None = None,
    send_email: Any = None,
    *,
    prefix: str | None = None,
    pages: bool | None = None,
    template_dirs: list[str] | None = None,
) -> Auth:
    """Mount authgate on a Bottle app: the JSON API and the pages under ``url_prefix``.

    Args:
        auth: the :class:`~authgate.Auth` to serve.
        app: the ``bottle.Bottle`` application.
        url_prefix: where the JSON API is mounted (default: the ``url_prefix``
            setting, ``/auth``).
        send_email: a mailer (``send(message)``) or a callable ``send_email(message)``;
            the ``Auth`` sends through it from now on.
        prefix: the same as ``url_prefix``, under the name every ``setup_for_*`` takes.
        pages: serve the HTML pages; default: the ``pages`` setting (on). Their
            routes are named ``authgate.<page>``: ``app.get_url("authgate.login")``.
        template_dirs: folders whose ``authgate/...`` templates override the
            package's; default: the folders of ``bottle.TEMPLATE_PATH`` that exist.

    Returns:
        ``auth``.

    Raises:
        bottle.PluginError: ``setup_for_bottle`` was already called for this app.

    Examples:
        >>> app = bottle.Bottle()
        >>> auth = setup_for_bottle(Auth(secret="s" * 32), app)
        >>> [r.rule for r in app.routes][-1:]
        ['/auth/<path:path>']
        >>> app.get_url("authgate.login")
        '/auth/login'
    """
    if send_email is not None:
        auth.mail.use(send_email)
    api = AuthAPI(auth, one_prefix(prefix, url_prefix))
    site = None
    if auth.settings.pages if pages is None else pages:
        if template_dirs is None:
            template_dirs = [os.path.abspath(d) for d in bottle.TEMPLATE_PATH if os.path.isdir(d)]
        site = AuthPages(api, template_dirs)
    plugin = AuthGatePlugin(auth, api, site)
    app.install(plugin)
    # Every method (``ANY``) reaches authgate's dispatcher, which answers OPTIONS,
    # 404 and 405 itself, in JSON.
    serve = functools.partial(_serve_api, plugin)
    prefix = api.prefix
    for page in site.pages if site is not None else ():
        app.route(f"{prefix}{page.path}", method="ANY", name=f"authgate.{page.name}",
                  callback=functools.partial(serve, path=page.path[1:]))  # fmt: skip
    app.route(f"{prefix}/", method="ANY", callback=functools.partial(serve, path=""))
    app.route(f"{prefix}/<path:path>", method="ANY", name="authgate.api", callback=serve)
    return auth


def _plugin() -> AuthGatePlugin:
    try:
        environ = bottle.request.environ
    except RuntimeError:
        environ = None
    active = environ is not None and environ.get(_ACTIVE_KEY)
    route = environ.get("bottle.route") if environ is not None and active else None
    if route is None:
        raise RuntimeError(
            "authgate.bottle works while Bottle handles a request; "
            "call setup_for_bottle(auth, app) first"
        )
    for plugin in route.app.plugins:
        if isinstance(plugin, AuthGatePlugin):
            return plugin
    raise RuntimeError(
        "authgate is not set up on the Bottle app serving this route: "
        "call setup_for_bottle(auth, app) first"
    )


# -- translation --------------------------------------------------------------------


def _read_body() -> tuple[bytes, bool]:
    """At most ``MAX_BODY_BYTES + 1`` bytes of the body, and whether it was too large.

    Raises:
        ValidationError: a chunked body that is not well-formed.
    """
    req = bottle.request
    environ = req.environ
    if req.content_length > MAX_BODY_BYTES:
        return b"", True  # refused unread (Content-Length says enough)
    if req.chunked and environ.get("wsgi.input_terminated"):
        # The server has de-chunked the body already (Werkzeug, Gunicorn, mod_wsgi):
        # it ends where the stream ends. Bottle would de-chunk it a second time.
        data = read_at_most(environ["wsgi.input"], MAX_BODY_BYTES + 1)
    elif req.chunked:
        # Bottle's ``request.body`` would spool the whole chunked body first.
        chunks: list[bytes] = []
        size = 0
        read = environ["wsgi.input"].read
        try:
            for part in bottle.BaseRequest._iter_chunked(read, req.MEMFILE_MAX):
                chunks.append(part)
                size += len(part)
                if size > MAX_BODY_BYTES:
                    break
        except bottle.HTTPError:
            raise ValidationError("Malformed chunked body.", fields={"body": "invalid"}) from None
        data = b"".join(chunks)
    elif req.content_length > 0:
        data = req.body.read(MAX_BODY_BYTES + 1)  # in memory: below MEMFILE_MAX
    else:
        data = b""
    return data[: MAX_BODY_BYTES + 1], len(data) > MAX_BODY_BYTES


def _api_request(path: str, *, with_body: bool = False) -> ApiRequest:
    """The current Bottle request as an :class:`ApiRequest` (the body only when asked)."""
    req = bottle.request
    environ = req.environ
    body, too_large = _read_body() if with_body else (b"", False)
    query: dict[str, str] = {}
    for key, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
        query.setdefault(key, value)
    return ApiRequest(
        method=req.method,
        path=path,
        headers=HeadersView(req.headers),
        cookies=dict(req.cookies.items()),
        query=query,
        body=body,
        # Not ``request.remote_addr``: Bottle believes X-Forwarded-For from anyone;
        # authgate reads it only through the ``trusted_proxies`` setting.
        remote_addr=environ.get("REMOTE_ADDR"),
        body_too_large=too_large,
    )


def _to_bottle(response: ApiResponse) -> Any:
    out = bottle.HTTPResponse(body=response.body, status=response.status)
    out.content_type = response.content_type
    for name, value in response.headers:
        if name.lower() == "content-type":
            out.set_header(name, value)
        else:
            out.add_header(name, value)
    return out


def _full_path() -> str:
    """The path the browser asked for (with the app's mount point and query)."""
    req = bottle.request
    query = req.environ.get("QUERY_STRING", "")
    path = req.script_name.rstrip("/") + req.path
    return f"{path}?{query}" if query else path


def _serve_api(plugin: AuthGatePlugin, path: str) -> Any:
    api = plugin.guard.api
    try:
        request = _api_request("/" + path, with_body=True)
    except AuthError as error:
        return _to_bottle(api.error(error))
    site = plugin.pages or api
    return _to_bottle(site.handle(request))


# -- current_user -------------------------------------------------------------------


def current_user() -> Any:
    """The signed-in user of the request being handled, or an :class:`AnonymousUser`.

    Computed once per request; a bad or expired credential counts as anonymous.

    Raises:
        RuntimeError: called outside a request of an app set up with
            :func:`setup_for_bottle`.
    """
    plugin = _plugin()
    environ = bottle.request.environ
    if _USER_KEY not in environ:
        principal = plugin.guard.principal(_api_request(bottle.request.path))
        environ[_USER_KEY] = principal.user if principal is not None else _ANONYMOUS
    return environ[_USER_KEY]


# -- decorators ---------------------------------------------------------------------


def _enforce(plugin: AuthGatePlugin, rule: Rule) -> Any | None:
    """``None`` when the request passes ``rule``; the denial response otherwise."""
    api_request = _api_request(bottle.request.path)
    try:
        principal: Principal | None = plugin.guard.check(api_request, rule)
    except (AuthError, Preflight) as error:
        return _to_bottle(plugin.guard.deny(api_request, error, _full_path(), rule))
    if principal is not None:
        bottle.request.environ[_USER_KEY] = principal.user
    return None


def _protect(rule: Rule) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            denied = _enforce(_plugin(), rule)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _bare_or_called(rule: Rule, view: F | None) -> Any:
    return _protect(rule) if view is None else _protect(rule)(view)


@overload
def login_required(view: F, /) -> F: ...
@overload
def login_required(view: None = None, /) -> Callable[[F], F]: ...
def login_required(view: F | None = None, /) -> F | Callable[[F], F]:
    """Require a signed-in user (session cookie or bearer token).

    Use bare (``@login_required``) or called (``@login_required()``). A page
    request (``Accept: text/html``) without a user is redirected to the login
    page with a safe ``next``; an API request gets the JSON 401. Every method is
    checked, OPTIONS included; a CORS preflight gets an empty 204 instead of the
    view. HTTP Basic counts only with ``auth_required("basic", ...)``.
    """
    result: F | Callable[[F], F] = _bare_or_called(Rule.login(), view)
    return result


@overload
def auth_required(view: F, /) -> F: ...
@overload
def auth_required(*mechanisms: Mechanism) -> Callable[[F], F]: ...
def auth_required(*mechanisms: Any) -> Any:
    """Require a user authenticated through one of ``mechanisms``.

    Args:
        *mechanisms: any of ``"session"`` (the cookie), ``"token"`` (bearer),
            ``"api_key"`` (a personal API key) and ``"basic"`` (HTTP Basic,
            accepted only when named here); none means session, token and API key.

    Raises:
        ValueError: an unknown mechanism.
    """
    if len(mechanisms) == 1 and callable(mechanisms[0]):
        return _protect(Rule.login())(mechanisms[0])
    return _protect(Rule.login(*check_mechanisms(mechanisms)))


def roles_required(*roles: authz.RoleSpec) -> Callable[[F], F]:
    """Require every role named as a string, and one role of each list argument.

    ``@roles_required("starving", ["artist", "programmer"])`` admits users with
    ``starving`` and either ``artist`` or ``programmer``.
    """
    return _protect(Rule.roles(*check_specs("roles_required", roles, "role")))


def roles_accepted(*roles: authz.RoleSpec) -> Callable[[F], F]:
    """Require any one of the roles."""
    return _protect(Rule.roles_any(*check_specs("roles_accepted", roles, "role")))


def permissions_required(*permissions: authz.RoleSpec) -> Callable[[F], F]:
    """Require every permission named as a string, and one of each list argument."""
    specs = check_specs("permissions_required", permissions, "permission")
    return _protect(Rule.permissions(*specs))


def permissions_accepted(*permissions: authz.RoleSpec) -> Callable[[F], F]:
    """Require any one of the permissions."""
    specs = check_specs("permissions_accepted", permissions, "permission")
    return _protect(Rule.permissions_any(*specs))


def scopes_required(*scopes: authz.RoleSpec) -> Callable[[F], F]:
    """Require, of an API key, the scopes: every one named as a string, one of each list.

    ``@scopes_required("read:reports")``: an API key without that scope gets
    403 ``FORBIDDEN``. Sessions and access tokens are the user themselves and
    are not limited by scopes (add a role or permission rule where they must
    be). Without a credential the request is treated as by ``login_required``.
    """
    return _protect(Rule.scoped(*check_specs("scopes_required", scopes, "scope")))


@overload
def anonymous_required(view: F, /) -> F: ...
@overload
def anonymous_required(view: None = None, /) -> Callable[[F], F]: ...
def anonymous_required(view: F | None = None, /) -> F | Callable[[F], F]:
    """Only for visitors who are not signed in (sign-up or login pages).

    Signed-in page requests are redirected to the ``post_login_url`` setting;
    API requests get 403.
    """
    result: F | Callable[[F], F] = _bare_or_called(Rule(anonymous=True), view)
    return result


# -- @auth.protected() ---------------------------------------------------------------


class _Protect:
    """``@auth.protected()`` in Bottle (see :mod:`authgate.web.protect`)."""

    def serving(self) -> bool:
        try:
            environ = bottle.request.environ
        except RuntimeError:
            return False
        return bool(environ.get(_ACTIVE_KEY))

    def enforce(self, auth: Auth, rule: Rule) -> tuple[Any | None, Any]:
        plugin = _plugin()
        if plugin.auth is not auth:
            raise RuntimeError(
                "@auth.protected(): this Auth is not the one set up on the Bottle app "
                "serving the request (setup_for_bottle(auth, app))"
            )
        denial = _enforce(plugin, rule)
        return denial, bottle.request.environ.get(_USER_KEY, _ANONYMOUS)

    def forbid(self, auth: Auth) -> Any:
        return _to_bottle(AuthAPI.error(Forbidden()))


protect.register(_Protect())
