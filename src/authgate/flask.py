"""Flask integration: mount the JSON API, ``current_user`` and the view decorators.

Usage::

    from flask import Flask
    from authgate import Auth
    from authgate.flask import current_user, login_required, roles_required, setup_for_flask

    app = Flask(__name__)
    auth = setup_for_flask(Auth(secret="...", database_url="sqlite:///auth.db"), app)

    @app.get("/dashboard")
    @login_required
    def dashboard():
        return {"email": current_user.email}

    @app.get("/admin")
    @roles_required("admin")
    def admin():
        return {"admin": True}

This module only translates: a Flask request becomes an
:class:`~authgate.web.http.ApiRequest`, the shared web layer
(:class:`~authgate.web.api.AuthAPI` for the endpoints,
:class:`~authgate.web.guard.Guard` for the decorators) decides, and its
:class:`~authgate.web.http.ApiResponse` becomes a Flask response. Every
piece of state lives in ``app.extensions["authgate"]``, so app factories
and several apps with different :class:`~authgate.Auth` objects work side
by side. Nothing runs on requests that do not ask for it: a view without a
decorator that never touches ``current_user`` costs nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, overload

import click

try:
    from flask import (
        Blueprint,
        Flask,
        Response,
        after_this_request,
        current_app,
        g,
        has_app_context,
        has_request_context,
        request,
    )
    from werkzeug.local import LocalProxy
except ImportError as exc:
    raise ImportError(
        'authgate.flask needs Flask; install it with `pip install "authgate[flask]"`'
    ) from exc

from authgate import authz
from authgate.auth import Auth
from authgate.cli.app import make_cli
from authgate.errors import AccountDisabled, AuthError, Forbidden, UserNotFound, ValidationError
from authgate.models import ANONYMOUS, AnonymousUser
from authgate.settings import InsecureSettingWarning, Settings
from authgate.web import protect
from authgate.web.api import AuthAPI, one_prefix
from authgate.web.credentials import Mechanism, Principal
from authgate.web.guard import Guard, Preflight, Rule, check_mechanisms, check_specs
from authgate.web.http import (
    CHUNKED_UNSUPPORTED,
    MAX_BODY_BYTES,
    ApiRequest,
    ApiResponse,
    HeadersView,
    read_at_most,
    still_chunked,
)
from authgate.web.pages import AuthPages

__all__ = [
    "AnonymousUser",
    "AuthGateState",
    "anonymous_required",
    "auth_required",
    "current_user",
    "login_required",
    "login_user",
    "logout_user",
    "permissions_accepted",
    "permissions_required",
    "roles_accepted",
    "roles_required",
    "scopes_required",
    "setup_for_flask",
]

#: Key of the per-app state in ``app.extensions``.
EXTENSION_KEY = "authgate"
_CONFIG_PREFIX = "AUTHGATE_"
_USER_KEY = "_authgate_user"
_TOKEN_KEY = "_authgate_login_token"
#: Every method reaches authgate's dispatcher (HEAD comes with GET), which answers
#: OPTIONS, 404 and 405 itself, in JSON.
_API_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class AuthGateState:
    """What :func:`setup_for_flask` stores in ``app.extensions["authgate"]``.

    Attributes:
        auth: the app's :class:`~authgate.Auth`.
        api: the JSON API mounted at ``api.prefix``.
        guard: applies the decorators' rules.
        pages: the HTML pages in front of the API, or ``None`` when switched off.
    """

    auth: Auth
    api: AuthAPI
    guard: Guard
    pages: AuthPages | None = None


_ANONYMOUS = ANONYMOUS


# -- setup --------------------------------------------------------------------------


def setup_for_flask(
    auth: Auth | None,
    app: Flask,
    url_prefix: str | None = None,
    send_email: Any = None,
    *,
    prefix: str | None = None,
    pages: bool | None = None,
) -> Auth:
    """Mount authgate on a Flask app: the JSON API, the pages, ``current_user``, ``flask authgate``.

    Call it once per app, in an app factory if you use one. With ``auth=None``
    the :class:`~authgate.Auth` is built from ``AUTHGATE_*`` keys of
    ``app.config`` and of the environment, with ``SECRET_KEY`` as the default
    secret. With an ``Auth``, any ``AUTHGATE_*`` key in ``app.config`` must
    agree with it.

    Args:
        auth: the ``Auth`` to serve, or ``None`` to build one from ``app.config``.
        app: the Flask application.
        url_prefix: where the JSON API is mounted (default: the ``url_prefix``
            setting, ``/auth``).
        send_email: a mailer (``send(message)``) or a callable ``send_email(message)``;
            the ``Auth`` sends through it from now on.
        prefix: the same as ``url_prefix``, under the name every ``setup_for_*`` takes.
        pages: serve the HTML pages (login, register, account...); default: the
            ``pages`` setting (on). Their endpoints are ``authgate.<page>``:
            ``url_for("authgate.login")``.

    Templates in the app's ``templates/authgate/`` folder (pages, and emails
    under ``email/``) override the package's.

    Returns:
        The ``Auth`` in use (handy with ``auth=None``).

    Raises:
        TypeError: an unknown ``AUTHGATE_*`` key in ``app.config`` (the message
            names the closest setting), or no secret at all.
        ValueError: an ``AUTHGATE_*`` key that disagrees with the given ``Auth``.
        RuntimeError: ``setup_for_flask`` was already called for this app.

    Examples:
        >>> app = Flask("example")
        >>> app.config["SECRET_KEY"] = "s" * 32
        >>> setup_for_flask(None, app).settings.url_prefix
        '/auth'
    """
    if EXTENSION_KEY in app.extensions:
        raise RuntimeError(f"setup_for_flask was already called for the Flask app {app.name!r}")
    url_prefix = one_prefix(prefix, url_prefix)
    if auth is None:
        auth = _auth_from_config(app)
    else:
        _check_config(app.config, auth)
    if send_email is not None:
        auth.mail.use(send_email)
    if getattr(auth.store, "flask_db", None) is not None:
        # Flask-SQLAlchemy's engine lives in the app context, in the outbox's
        # threads too; the notices left by a stopped process are looked for here.
        auth.outbox.context = app.app_context
        with app.app_context():
            if auth.settings.create_tables:
                auth.store.ensure_schema()  # type: ignore[attr-defined]
            auth.outbox.start()
    templates = os.path.join(app.root_path, app.template_folder or "templates")
    if os.path.isdir(os.path.join(templates, "authgate")):
        auth.mail.add_template_dir(templates)  # the app's authgate/email/... win
    api = AuthAPI(auth, url_prefix)
    serve_pages = auth.settings.pages if pages is None else pages
    site = AuthPages(api, [templates]) if serve_pages else None
    state = AuthGateState(auth=auth, api=api, guard=Guard(api), pages=site)
    app.extensions[EXTENSION_KEY] = state

    blueprint = Blueprint("authgate", __name__)
    serve = functools.partial(_serve_api, state)
    options: dict[str, Any] = {"methods": _API_METHODS, "provide_automatic_options": False}
    blueprint.add_url_rule(f"{api.prefix}/", "api", serve, defaults={"path": ""}, **options)
    blueprint.add_url_rule(f"{api.prefix}/<path:path>", "api", serve, **options)
    for page in site.pages if site is not None else ():
        blueprint.add_url_rule(f"{api.prefix}{page.path}", page.name, serve,
                               defaults={"path": page.path[1:]}, **options)  # fmt: skip
    app.register_blueprint(blueprint)
    app.context_processor(_template_context)
    app.cli.add_command(make_cli(functools.partial(_cli_auth, app, state)), "authgate")
    return auth


def _auth_from_config(app: Flask) -> Auth:
    secret: Any = app.config.get("SECRET_KEY")
    if isinstance(secret, bytes):  # os.urandom(24): keep every byte of it
        secret = secret.hex()
    if isinstance(secret, str) and "," in secret:
        # Commas separate rotated secrets in AUTHGATE_SECRET, not in SECRET_KEY.
        secret = (secret,)
    defaults = {"secret": secret} if secret else None
    configured = app.config.get("AUTHGATE_SECRET") or os.environ.get("AUTHGATE_SECRET")
    if defaults is None and not configured:
        raise TypeError(
            "setup_for_flask(None, app) needs a secret: set app.config['SECRET_KEY'] "
            "or AUTHGATE_SECRET (32 or more random bytes)"
        )
    with app.app_context():  # a Flask-SQLAlchemy store creates its tables in one
        return Auth.from_config(app.config, defaults=defaults)


def _check_config(config: Mapping[str, Any], auth: Auth) -> None:
    """``AUTHGATE_*`` keys of ``app.config`` must be known and agree with ``auth``."""
    keys = {k: v for k, v in config.items() if isinstance(k, str) and k.startswith(_CONFIG_PREFIX)}
    if not keys:
        return
    named = {k[len(_CONFIG_PREFIX) :].lower(): k for k in keys}
    current = auth.settings
    others = {f.name: getattr(current, f.name) for f in dataclasses.fields(Settings)}
    for name in named:
        others.pop(name, None)
    with warnings.catch_warnings():  # any warning about the secret was given by Auth()
        warnings.simplefilter("ignore", InsecureSettingWarning)
        configured = Settings.from_mapping(keys, _CONFIG_PREFIX, **others)
    for name, key in sorted(named.items()):
        if getattr(configured, name) != getattr(current, name):
            shown = "" if name == "secret" else f" ({name}={getattr(current, name)!r} there)"
            raise ValueError(
                f"app.config[{key!r}] disagrees with the Auth given to setup_for_flask{shown}; "
                "configure authgate in one place: either pass the settings to Auth(...) "
                "or call setup_for_flask(None, app) to build the Auth from app.config"
            )


def _template_context() -> dict[str, Any]:
    return {"current_user": current_user}


def _cli_auth(app: Flask, state: AuthGateState) -> Auth:
    # `flask authgate ...` runs inside the app context; a test runner or a host CLI
    # may not, and a Flask-SQLAlchemy store needs one.
    if not has_app_context() or current_app._get_current_object() is not app:  # type: ignore[attr-defined]
        click.get_current_context().with_resource(app.app_context())
    return state.auth


def _state() -> AuthGateState:
    if not has_app_context():
        raise RuntimeError(
            "authgate.flask works inside a Flask app or request context; "
            "call setup_for_flask(auth, app) first and use it while handling a request"
        )
    state = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AuthGateState):
        raise RuntimeError(
            f"authgate is not set up on the Flask app {current_app.name!r}: "
            "call setup_for_flask(auth, app) first"
        )
    return state


# -- translation --------------------------------------------------------------------


def _api_request(path: str, *, with_body: bool = False) -> ApiRequest:
    """The current Flask request as an :class:`ApiRequest` (the body only when asked)."""
    body, too_large = b"", False
    if with_body:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            too_large = True  # refused unread (Content-Length says enough)
        elif still_chunked(request.environ):
            raise ValidationError(CHUNKED_UNSUPPORTED, fields={"body": "invalid"})
        else:
            body = read_at_most(request.stream, MAX_BODY_BYTES + 1)
            too_large = len(body) > MAX_BODY_BYTES
    return ApiRequest(
        method=request.method,
        path=path,
        headers=HeadersView(request.headers),
        cookies=request.cookies,  # first value of each, as ``args``
        query=request.args,
        body=body,
        remote_addr=request.remote_addr,
        body_too_large=too_large,
    )


def _to_flask(response: ApiResponse) -> Response:
    out: Response = current_app.response_class(
        response.body, status=response.status, content_type=response.content_type
    )
    for name, value in response.headers:
        if name.lower() == "content-type":
            out.headers[name] = value
        else:
            out.headers.add(name, value)
    return out


def _full_path() -> str:
    """The path the browser asked for (with the app's mount point and query)."""
    path = request.script_root + request.path
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path


def _serve_api(state: AuthGateState, path: str) -> Response:
    try:
        api_request = _api_request("/" + path, with_body=True)
    except AuthError as error:
        return _to_flask(state.api.error(error))
    site = state.pages or state.api
    return _to_flask(site.handle(api_request))


# -- current_user -------------------------------------------------------------------


def _get_user() -> Any:
    state = _state()
    if not has_request_context():
        return _ANONYMOUS
    if _USER_KEY not in g:
        principal = state.guard.principal(_api_request(request.path))
        setattr(g, _USER_KEY, principal.user if principal is not None else _ANONYMOUS)
    return getattr(g, _USER_KEY)


#: The signed-in user of the current request, or an :class:`AnonymousUser`.
#: Computed once per request; a bad or expired credential counts as anonymous.
#: Also available in templates as ``current_user``.
current_user: Any = LocalProxy(_get_user)


# -- app-driven sign-in (Flask-Login's names) ------------------------------------------


def _on_response(headers: list[tuple[str, str]]) -> None:
    """Add ``headers`` (cookies) to the response of the current request."""

    def add(response: Response) -> Response:
        for name, value in headers:
            response.headers.add(name, value)
        return response

    after_this_request(add)


def _request_state() -> AuthGateState:
    state = _state()
    if not has_request_context():
        raise RuntimeError("login_user and logout_user work while Flask handles a request")
    return state


def login_user(user: Any, remember: bool = False) -> bool:
    """Sign ``user`` in from a view, as Flask-Login's ``login_user`` does.

    For sign-ins the app decides itself (its own form, an SSO callback):
    a real authgate session starts (fresh, recorded as a sign-in with
    ``method="app"``), the session cookie is set on this request's response,
    and ``current_user`` is ``user`` for the rest of the request.

    Args:
        user: a user object of this app's ``Auth`` (read again from the store).
        remember: a remember-me session (``remember_lifetime``, a persistent cookie).

    Returns:
        ``True``; ``False`` for a deactivated or deleted user (nothing is set).

    Raises:
        RuntimeError: outside a request of an app set up with :func:`setup_for_flask`.
    """
    state = _request_state()
    client = state.api.credentials.client(_api_request(request.path))
    try:
        result = state.auth.login_user(
            user, remember=remember, ip=client.ip, user_agent=client.user_agent
        )
    except (AccountDisabled, UserNotFound):
        return False
    assert result.token is not None
    cookies = ApiResponse()
    state.api.credentials.set_session_cookie(cookies, result.token, result.session)
    _on_response(cookies.headers)
    setattr(g, _USER_KEY, result.user)
    setattr(g, _TOKEN_KEY, result.token)
    return True


def logout_user() -> bool:
    """Sign the current user out, as Flask-Login's ``logout_user`` does.

    The session behind the request's credential (the cookie or a bearer
    token), and one started by :func:`login_user` in this request, are revoked
    server-side; the session cookie is cleared on the response and
    ``current_user`` is anonymous for the rest of the request.

    Returns:
        ``True``.

    Raises:
        RuntimeError: outside a request of an app set up with :func:`setup_for_flask`.
    """
    state = _request_state()
    tokens = {g.pop(_TOKEN_KEY, None)}
    principal = state.guard.principal(_api_request(request.path))
    if principal is not None:
        tokens.add(principal.token)
    for token in tokens - {None}:
        assert token is not None
        state.auth.sign_out(token)
    cookies = ApiResponse()
    state.api.credentials.clear_session_cookie(cookies)
    _on_response(cookies.headers)
    setattr(g, _USER_KEY, _ANONYMOUS)
    return True


# -- decorators ---------------------------------------------------------------------


def _enforce(rule: Rule) -> Response | None:
    """``None`` when the request passes ``rule``; the denial response otherwise."""
    state = _state()
    api_request = _api_request(request.path)
    try:
        principal: Principal | None = state.guard.check(api_request, rule)
    except (AuthError, Preflight) as error:
        return _to_flask(state.guard.deny(api_request, error, _full_path(), rule))
    if principal is not None:
        setattr(g, _USER_KEY, principal.user)
    return None


def _protect(rule: Rule) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                denied = _enforce(rule)
                if denied is not None:
                    return denied
                return await view(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            denied = _enforce(rule)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return cast(F, wrapper)

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

    Examples:
        >>> @auth_required("token", "basic")
        ... def api_view(): ...
    """
    if len(mechanisms) == 1 and callable(mechanisms[0]):
        return _protect(Rule.login())(mechanisms[0])
    return _protect(Rule.login(*check_mechanisms(mechanisms)))


def roles_required(*roles: authz.RoleSpec) -> Callable[[F], F]:
    """Require every role named as a string, and one role of each list argument.

    ``@roles_required("starving", ["artist", "programmer"])`` admits users with
    ``starving`` and either ``artist`` or ``programmer``. Signed-in users
    without them get 403; others are treated as by :func:`login_required`.
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
    """``@auth.protected()`` in Flask (see :mod:`authgate.web.protect`)."""

    def serving(self) -> bool:
        return has_request_context()

    def enforce(self, auth: Auth, rule: Rule) -> tuple[Any | None, Any]:
        state = _state()
        if state.auth is not auth:
            raise RuntimeError(
                f"@auth.protected(): this Auth is not the one set up on the Flask app "
                f"{current_app.name!r} (setup_for_flask(auth, app))"
            )
        denial = _enforce(rule)
        return denial, getattr(g, _USER_KEY, _ANONYMOUS)

    def forbid(self, auth: Auth) -> Any:
        return _to_flask(AuthAPI.error(Forbidden()))


protect.register(_Protect())
