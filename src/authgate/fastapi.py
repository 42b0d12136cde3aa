"""FastAPI integration: the JSON API as real FastAPI routes, and auth dependencies.

Usage::

    from fastapi import Depends, FastAPI
    from authgate import Auth
    from authgate.fastapi import CurrentUser, require_roles, setup_for_fastapi

    auth = Auth(secret="...", database_url="sqlite:///auth.db")
    app = FastAPI()
    setup_for_fastapi(auth, app)            # /auth/sign-up/email, /auth/sign-in/email, ...

    @app.get("/me")
    def me(user: CurrentUser):
        return {"email": user.email}

    @app.get("/admin", dependencies=[Depends(require_roles("admin"))])
    def admin(): ...

This module only translates. Starlette requests become
:class:`~authgate.web.http.ApiRequest` objects, :class:`~authgate.web.api.AuthAPI`
and :class:`~authgate.web.guard.Guard` decide, and their
:class:`~authgate.web.http.ApiResponse` objects go back as Starlette responses.
The core is synchronous: argon2 is CPU-bound and SQLAlchemy blocks. So every
endpoint runs its flow with ``run_in_threadpool``. The dependencies first ask
the session cache on the event loop (a dictionary lookup, no I/O) and go to the
thread pool only when the answer needs the store or a password hash (HTTP
Basic). Password hashing and database calls never block the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args

from authgate.authz import RoleSpec
from authgate.errors import AuthError
from authgate.session_cache import StoreNeeded
from authgate.web.api import AuthAPI, Route
from authgate.web.credentials import Mechanism, Principal
from authgate.web.guard import Guard, Preflight, Rule
from authgate.web.http import MAX_BODY_BYTES, ApiRequest, ApiResponse, HeadersView
from authgate.web.openapi import SECURITY_SCHEMES, document_guard, inline_refs
from authgate.web.pages import AuthPages

try:
    from fastapi import APIRouter, Depends, FastAPI, Request
    from fastapi.dependencies.models import Dependant
    from fastapi.openapi.utils import get_openapi
    from fastapi.routing import APIRoute
    from fastapi.security import APIKeyCookie, HTTPBearer
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import BaseRoute, Mount
except ImportError as exc:
    raise ImportError(
        "authgate.fastapi needs FastAPI, which is not installed. "
        'Install it with: pip install "authgate[fastapi]"'
    ) from exc

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = [
    "CurrentUser",
    "OptionalUser",
    "current_user",
    "optional_user",
    "require_anonymous",
    "require_any_permission",
    "require_any_role",
    "require_auth",
    "require_permissions",
    "require_roles",
    "require_scopes",
    "setup_for_fastapi",
]

_STATE = "authgate"
#: Operation fields FastAPI writes itself (security comes from the scheme dependencies).
_FASTAPI_OWN = frozenset({"operationId", "summary", "tags", "responses", "security"})
#: Methods answered by authgate's dispatcher on a known path when no route serves them
#: (a JSON 405, or 204 for OPTIONS; FastAPI's own 405 is ``{"detail": ...}``).
_OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
#: Where the rule a dependency refused with is kept for the error handler (scope key).
_RULE_KEY = "authgate.rule"

#: The bearer scheme in FastAPI's OpenAPI (/docs gets an "Authorize" button).
#: It never rejects: authgate reads the credentials itself.
_BEARER_SCHEME = "bearerAuth"
_bearer = HTTPBearer(auto_error=False, scheme_name=_BEARER_SCHEME)
#: The dependencies that check credentials, with their rule (``None``: an optional user);
#: the app's routes that use them document what they accept and answer.
_GUARD_DEPENDENCIES: dict[Callable[..., Any], Rule | None] = {}
D = TypeVar("D", bound=Callable[..., Any])
_LOGIN = Rule.login()
_ANONYMOUS = Rule(anonymous=True)
_MECHANISMS: tuple[str, ...] = get_args(Mechanism)


@dataclass(frozen=True)
class _Integration:
    """What :func:`setup_for_fastapi` leaves on ``app.state`` for the dependencies."""

    api: AuthAPI
    guard: Guard


# -- setup ------------------------------------------------------------------------
def setup_for_fastapi(
    auth: Auth,
    app: FastAPI,
    prefix: str | None = None,
    send_email: Any = None,
    *,
    pages: bool = False,
    template_dirs: Sequence[str] = (),
) -> Auth:
    """Mount authgate's JSON API on ``app`` and enable the dependencies.

    Every endpoint of SPEC §5 becomes its own FastAPI route under ``prefix``, with
    its summary, operation id, request body and error responses, so it appears
    in FastAPI's ``/openapi.json`` and ``/docs``. Routes of features that are
    switched off are served (they answer ``FEATURE_DISABLED``) but not listed.
    authgate's own OpenAPI 3.1 document is served at ``<prefix>/openapi.json``.
    An exception handler turns every :class:`~authgate.AuthError` that reaches
    FastAPI into the SPEC JSON error, or into a login redirect for page requests.

    Args:
        auth: the configured :class:`~authgate.Auth`.
        app: the FastAPI application.
        prefix: where the JSON API is mounted (default: the ``url_prefix``
            setting, ``/auth``).
        send_email: a mailer (``send(message)``) or a callable ``send_email(message)``;
            the ``Auth`` sends through it from now on.
        pages: also serve the HTML pages (login, register, account...) under
            ``prefix``; routes named ``authgate.<page>``
            (``request.url_for("authgate.login")``). Off by default: a FastAPI app
            is usually an API; and on only if the ``pages`` setting is on too.
        template_dirs: folders whose ``authgate/...`` templates override the
            package's pages (e.g. ``["templates"]``).

    Returns:
        ``auth``, so that ``auth = setup_for_fastapi(Auth(...), app)`` works.

    Raises:
        ValueError: ``prefix`` does not start with ``/``.
        RuntimeError: authgate is already set up on ``app``.
    """
    if prefix is not None and not prefix.startswith("/"):
        raise ValueError(f"prefix must start with '/', got {prefix!r}")
    if getattr(app.state, _STATE, None) is not None:
        raise RuntimeError("setup_for_fastapi() was already called for this app")
    if send_email is not None:
        auth.mail.use(send_email)
    api = AuthAPI(auth, prefix)
    setattr(app.state, _STATE, _Integration(api, Guard(api)))
    router = _router(api)
    if pages and auth.settings.pages:
        router.routes[:0] = _page_routes(AuthPages(api, list(template_dirs))).routes
    # One Mount, not ~50 routes ahead of the app's own: a request for any other
    # path is turned away by a single prefix check (each route tried costs ~2 µs).
    app.router.routes.append(Mount(api.prefix, routes=router.routes))
    _document(app, api.prefix, router)
    app.add_exception_handler(AuthError, _auth_error_handler)
    app.add_exception_handler(Preflight, _auth_error_handler)
    return auth


def _document(app: FastAPI, prefix: str, router: APIRouter) -> None:
    """Merge the mounted routes into FastAPI's own ``/openapi.json`` and ``/docs``.

    FastAPI documents only the routes it holds directly, so the mounted ones
    are added to the document it generates, under their full paths. The app's
    own routes that depend on :data:`CurrentUser` and the like get the bearer
    scheme (and /docs its "Authorize" button), see :func:`_secure_documented`.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        ours = get_openapi(title=app.title, version=app.version, routes=router.routes)
        schema.setdefault("paths", {}).update(
            {prefix + path: item for path, item in ours.get("paths", {}).items()}
        )
        for section, entries in ours.get("components", {}).items():
            schema.setdefault("components", {}).setdefault(section, {}).update(entries)
        _secure_documented(schema, app.routes)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _router(api: AuthAPI) -> APIRouter:
    """One FastAPI route per :class:`Route`, documented from authgate's own OpenAPI."""
    document = api.openapi()
    schemas: Mapping[str, Any] = document["components"]["schemas"]
    cookie = APIKeyCookie(
        name=api.credentials.cookie_name, auto_error=False, scheme_name="cookieAuth"
    )
    router = APIRouter(tags=["authgate"])
    methods: dict[str, set[str]] = {}
    for route in api.routes:
        methods.setdefault(route.path, set()).add(route.method)
        listed = api.enabled(route)
        operation = (
            document["paths"][api.prefix + route.path][route.method.lower()] if listed else {}
        )
        # FastAPI's document has no authgate components, so $refs are inlined.
        operation = inline_refs(operation, schemas)
        # The rest (request body, query parameters...) goes in as it is.
        extra = {k: v for k, v in operation.items() if k not in _FASTAPI_OWN} or None
        router.add_api_route(
            route.path,
            _endpoint(api, route),
            methods=[route.method],
            name=route.name,
            operation_id=route.name,
            summary=route.summary,
            include_in_schema=listed,
            response_class=Response,  # no FastAPI default body: authgate documents its own
            responses={
                int(status): spec for status, spec in operation.get("responses", {}).items()
            },
            openapi_extra=extra,
            dependencies=[Depends(_bearer), Depends(cookie)] if route.auth else None,
        )
    for path, served in methods.items():
        others = [m for m in _OTHER_METHODS if m not in served]
        router.add_api_route(
            path,
            _fallback(api, path),
            methods=others,
            name=f"{path}:method_not_allowed",
            include_in_schema=False,
        )
    # Last: any other path under the prefix is authgate's JSON 404, not FastAPI's.
    router.add_api_route(
        "/{path:path}", _fallback(api, None), methods=[*_OTHER_METHODS, "HEAD"],
        name="authgate:not_found", include_in_schema=False,
    )  # fmt: skip
    return router


def _page_routes(site: AuthPages) -> APIRouter:
    """One route per page (named ``authgate.<page>``) and the static files, not documented.

    They go first: a page's path that is also a JSON route (an emailed link's
    landing) is answered by the pages, which hand the API's requests to it.
    """
    router = APIRouter()
    methods = [*_OTHER_METHODS, "HEAD"]
    for page in site.pages:
        router.add_api_route(
            page.path, _site_endpoint(site, page.path), methods=methods,
            name=f"authgate.{page.name}", include_in_schema=False, response_class=Response,
        )  # fmt: skip
    router.add_api_route(
        "/static/{name}", _site_endpoint(site, None), methods=methods, name="authgate.static",
        include_in_schema=False, response_class=Response,
    )  # fmt: skip
    return router


def _site_endpoint(site: AuthPages, path: str | None) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        below = "/static/" + request.path_params["name"] if path is None else path
        return _response(await run_in_threadpool(site.handle, await _read(request, below)))

    return endpoint


def _secure_documented(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Document, on every route that depends on our guards, what they accept and answer.

    The schemes (bearer, Basic), and the 401/403 refusals (see
    :func:`~authgate.web.openapi.document_guard`). Why not let FastAPI find the
    schemes: FastAPI documents a scheme when a dependency *is* a security-scheme
    object, and solving such a dependency costs a third more on every request
    than a plain ``async def`` one. The dependencies stay plain functions, and
    the document says what they do.
    """
    used: set[str] = set()
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        rules = _guard_rules(route.dependant)
        if not rules:
            continue
        for method in route.methods or ():
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None:
                used |= document_guard(operation, rules, method)
    if used:
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        for name in used:
            schemes.setdefault(name, SECURITY_SCHEMES[name])


def _guard_rules(dependant: Dependant) -> list[Rule | None]:
    rules: list[Rule | None] = []
    for sub in dependant.dependencies:
        if sub.call in _GUARD_DEPENDENCIES:
            rules.append(_GUARD_DEPENDENCIES[sub.call])
        rules += _guard_rules(sub)
    return rules


def _endpoint(api: AuthAPI, route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        neutral = await _read(request, route.path)
        return _response(await run_in_threadpool(api.dispatch, route, neutral))

    endpoint.__name__ = route.name
    return endpoint


def _fallback(api: AuthAPI, path: str | None) -> Callable[[Request], Awaitable[Response]]:
    """The dispatcher's answer for what no route serves: 404, 405, OPTIONS or HEAD.

    ``path``: the route's path below the prefix (``None``: the catch-all route).
    """

    async def not_served(request: Request) -> Response:
        below = "/" + request.path_params["path"] if path is None else path
        return _response(await run_in_threadpool(api.handle, await _read(request, below)))

    return not_served


# -- translation --------------------------------------------------------------------
async def _read(request: Request, path: str) -> ApiRequest:
    """The neutral request with its body, read up to :data:`MAX_BODY_BYTES`.

    A larger body is not read any further; the API answers ``VALIDATION_ERROR``.
    The check does not trust ``Content-Length`` alone: chunked bodies are capped too.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _neutral(request, path, too_large=True)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _neutral(request, path, too_large=True)
    return _neutral(request, path, bytes(body))


def _neutral(
    request: Request, path: str | None = None, body: bytes = b"", *, too_large: bool = False
) -> ApiRequest:
    """``request`` as an :class:`ApiRequest`.

    ``path`` is the route's path below the API prefix; dependencies on the
    app's own routes leave it out and get the request's full path.
    """
    query: dict[str, str] = {}
    if request.scope.get("query_string"):
        for key, value in request.query_params.multi_items():
            query.setdefault(key, value)  # the first value of each parameter
    return ApiRequest(
        method=request.method,
        path=request.scope["path"] if path is None else path,
        headers=HeadersView(request.headers),
        cookies=request.cookies,
        query=query,
        body=body,
        remote_addr=_peer(request.scope.get("client")),
        body_too_large=too_large,
    )


def _peer(client: Any) -> str | None:
    """The peer's host from the ASGI scope's ``client`` pair (what ``request.client.host`` says)."""
    return str(client[0]) if client else None


def _response(answer: ApiResponse) -> Response:
    """A Starlette response; repeated headers (``Set-Cookie``) stay repeated."""
    response = Response(answer.body, status_code=answer.status, media_type=answer.content_type)
    for name, value in answer.headers:
        response.headers.append(name, value)
    return response


def _integration(request: Request) -> _Integration:
    integration: _Integration | None = getattr(request.app.state, _STATE, None)
    if integration is None:
        raise RuntimeError(
            "authgate is not set up on this FastAPI app: call setup_for_fastapi(auth, app) "
            "first (CurrentUser, OptionalUser and the require_* dependencies need it)"
        )
    return integration


async def _auth_error_handler(request: Request, exc: Exception) -> Response:
    """JSON error for API requests, login redirect (with a safe ``next``) for pages."""
    assert isinstance(exc, AuthError | Preflight)
    full_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    rule = request.scope.get(_RULE_KEY)
    return _response(_integration(request).guard.deny(_neutral(request), exc, full_path, rule))


# -- dependencies -------------------------------------------------------------------
async def _check(request: Request, rule: Rule) -> Any:
    """The user allowed by ``rule`` (``None`` where the guard lets a request through anonymously).

    Answered on the event loop from the session cache when it can be; the
    same check runs in the thread pool when it needs the store or a hash.

    Raises:
        AuthError: turned into the response by the handler :func:`setup_for_fastapi` installs.
    """
    guard = _integration(request).guard
    try:
        principal = await _without_blocking(guard.check, _neutral(request), rule)
    except (AuthError, Preflight):
        request.scope[_RULE_KEY] = rule  # the handler's answer depends on it (Basic challenge)
        raise
    return None if principal is None else principal.user


async def _without_blocking(
    decide: Callable[..., Principal | None], *args: Any
) -> Principal | None:
    """``decide(*args)`` on the event loop from memory, or in the thread pool if it needs I/O."""
    try:
        return decide(*args, memory_only=True)
    except StoreNeeded:
        return await run_in_threadpool(decide, *args)


def _guard_documented(rule: Rule | None) -> Callable[[D], D]:
    """Mark a dependency checking ``rule``: its routes document it (:func:`_secure_documented`)."""

    def mark(dependency: D) -> D:
        _GUARD_DEPENDENCIES[dependency] = rule
        return dependency

    return mark


@_guard_documented(_LOGIN)
async def current_user(request: Request) -> Any:
    """The signed-in user (bearer token or session cookie), or 401; never ``None``.

    Answered from the session cache on the event loop when the session is
    there; otherwise the lookup runs in the thread pool, so it never blocks the
    event loop. FastAPI caches the result for the request.

    Raises:
        Unauthorized: no credential (``UNAUTHORIZED``); page requests are
            redirected to the login page instead.
        InvalidToken: a bad, expired or revoked credential (``INVALID_TOKEN``).
        CSRFFailed: a cookie-authenticated unsafe request without its CSRF token.
    """
    return await _check(request, _LOGIN)


@_guard_documented(None)
async def optional_user(request: Request) -> Any | None:
    """The signed-in user, or ``None`` (a bad credential counts as none)."""
    guard = _integration(request).guard
    principal = await _without_blocking(guard.principal, _neutral(request))
    return None if principal is None else principal.user


async def require_anonymous(request: Request) -> None:
    """Only for visitors who are not signed in (sign-up pages and the like).

    Raises:
        Forbidden: the caller is signed in (pages are redirected to ``post_login_url``).
    """
    await _check(request, _ANONYMOUS)


#: The signed-in user; 401 ``UNAUTHORIZED`` (or the login redirect) when there is none.
CurrentUser = Annotated[Any, Depends(current_user)]
#: The signed-in user, or ``None``.
OptionalUser = Annotated[Any | None, Depends(optional_user)]


def require_roles(*roles: RoleSpec) -> Callable[..., Any]:
    """A dependency: the signed-in user must hold the roles; it returns that user.

    String arguments are ALL required; a list argument needs ANY one of its
    members, so ``require_roles("starving", ["artist", "programmer"])`` means
    starving AND (artist OR programmer). No user is 401, a missing role 403.

    Examples:
        >>> @app.get("/admin", dependencies=[Depends(require_roles("admin"))])  # doctest: +SKIP
        ... def admin(): ...
        >>> Admin = Annotated[Any, Depends(require_roles("admin"))]  # doctest: +SKIP
        >>> @app.get("/me")  # doctest: +SKIP
        ... def me(user: Admin): ...
    """
    return _dependency(Rule.roles(*_specs("require_roles", roles)))


def require_any_role(*roles: RoleSpec) -> Callable[..., Any]:
    """A dependency: the signed-in user must hold at least one of the roles (``roles_accepted``)."""
    return _dependency(Rule.roles_any(*_specs("require_any_role", roles)))


def require_permissions(*permissions: RoleSpec) -> Callable[..., Any]:
    """A dependency: the user's roles must grant the permissions (strings ALL, lists ANY)."""
    return _dependency(Rule.permissions(*_specs("require_permissions", permissions)))


def require_any_permission(*permissions: RoleSpec) -> Callable[..., Any]:
    """A dependency: the user's roles must grant at least one of the permissions."""
    return _dependency(Rule.permissions_any(*_specs("require_any_permission", permissions)))


def require_scopes(*scopes: RoleSpec) -> Callable[..., Any]:
    """A dependency: an API key must grant the scopes (strings ALL, lists ANY); returns the user.

    ``Depends(require_scopes("read:reports"))``: an API key without that scope
    gets 403 ``FORBIDDEN``. Sessions and access tokens are the user themselves
    and are not limited by scopes. No credential is 401.
    """
    return _dependency(Rule.scoped(*_specs("require_scopes", scopes)))


def require_auth(*mechanisms: Mechanism) -> Callable[..., Any]:
    """A dependency: a user signed in through one of ``mechanisms`` (default: any).

    Mechanisms: ``"session"`` (the session cookie), ``"token"`` (a bearer token),
    ``"api_key"`` (a personal API key), ``"basic"`` (HTTP Basic, accepted only
    when named here: default session, token and API key). ``require_auth("token")``
    turns cookie sessions away, e.g. for an API meant for scripts. It returns the user.

    Raises:
        ValueError: an unknown mechanism.
    """
    unknown = [m for m in mechanisms if m not in _MECHANISMS]
    if unknown:
        raise ValueError(
            f"unknown authentication mechanism {unknown[0]!r}; use any of "
            + ", ".join(repr(m) for m in _MECHANISMS)
        )
    return _dependency(Rule.login(*dict.fromkeys(mechanisms)))


def _specs(name: str, specs: tuple[RoleSpec, ...]) -> tuple[RoleSpec, ...]:
    """``specs`` with lists made tuples, so rules are hashable and dependencies shared."""
    if not specs or any(not spec for spec in specs):
        raise TypeError(f"{name}() needs at least one name (a string, or a non-empty list)")
    return tuple(spec if isinstance(spec, str) else tuple(spec) for spec in specs)


@functools.cache
def _dependency(rule: Rule) -> Callable[..., Any]:
    """The dependency for ``rule``, made once per rule.

    ``require_roles("admin")`` twice is then one callable, which FastAPI runs
    once per request (its dependency cache is keyed by the callable).
    """

    async def dependency(request: Request) -> Any:
        return await _check(request, rule)

    return _guard_documented(rule)(dependency)
