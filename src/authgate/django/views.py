"""The JSON API view, and the translation between Django and authgate's neutral HTTP types.

Everything an endpoint does is decided in :mod:`authgate.web`; this module
only turns an ``HttpRequest`` into an :class:`~authgate.web.http.ApiRequest`
and an :class:`~authgate.web.http.ApiResponse` back into an ``HttpResponse``.

CSRF: the API view is exempt from Django's ``CsrfViewMiddleware`` because
authgate protects it itself: a bearer-token request needs no CSRF token (a
browser never attaches one on its own), and an unsafe request authenticated
by the session cookie must carry the session's CSRF token in
``X-CSRF-Token`` or it is refused with ``403 CSRF_FAILED``. A request that
passes Django's own CSRF check (``{% csrf_token %}`` in a form, or Django's
``X-CSRFToken`` header with its ``csrftoken`` cookie) is accepted too, so
Django's test client, which skips that check unless created with
``Client(enforce_csrf_checks=True)``, skips authgate's as well.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Container
from http.cookies import Morsel, SimpleCookie
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse
from django.http.request import RawPostDataException
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt

from authgate.context import Client
from authgate.django import get_auth
from authgate.errors import AuthError, ValidationError
from authgate.web.api import AuthAPI
from authgate.web.credentials import CSRF_HEADER
from authgate.web.http import (
    CHUNKED_UNSUPPORTED,
    MAX_BODY_BYTES,
    ApiRequest,
    ApiResponse,
    Headers,
    HeadersView,
    read_at_most,
    still_chunked,
)
from authgate.web.pages import AuthPages

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = [
    "SESSION_TOKEN_KEY",
    "api",
    "api_for",
    "api_request",
    "django_client",
    "django_response",
    "django_session_token",
    "mount_prefix",
    "site_for",
    "with_django_csrf",
    "with_django_session",
]

_apis: weakref.WeakKeyDictionary[Auth, dict[str, AuthAPI]] = weakref.WeakKeyDictionary()


def api_for(auth: Auth, prefix: str) -> AuthAPI:
    """The (cached) :class:`AuthAPI` of ``auth`` mounted at ``prefix``."""
    per_prefix = _apis.get(auth)
    if per_prefix is None:
        per_prefix = _apis.setdefault(auth, {})
    found = per_prefix.get(prefix)
    if found is None:
        found = per_prefix.setdefault(prefix, AuthAPI(auth, prefix))
    return found


_sites: weakref.WeakKeyDictionary[Auth, dict[str, AuthAPI | AuthPages]] = (
    weakref.WeakKeyDictionary()
)


def site_for(auth: Auth, prefix: str) -> AuthAPI | AuthPages:
    """What serves requests below ``prefix``: the pages in front of the API (unless
    ``AUTHGATE_PAGES = False``), whose templates in the project's template folders
    (``TEMPLATES`` ``DIRS``, then the apps' ``templates``) override authgate's.
    """
    per_prefix = _sites.setdefault(auth, {})
    found = per_prefix.get(prefix)
    if found is None:
        api = api_for(auth, prefix)
        if auth.settings.pages:
            from django.apps import apps

            dirs = apps.get_app_config("authgate").template_dirs()
            found = per_prefix.setdefault(prefix, AuthPages(api, dirs))
        else:
            found = per_prefix.setdefault(prefix, api)
    return found


def mount_prefix(auth: Auth) -> str:
    """Where the project included ``authgate.django.urls`` (e.g. ``/auth``).

    Falls back to the ``url_prefix`` setting when the URLs are not included.
    """
    try:
        return str(reverse("authgate:api", kwargs={"subpath": ""})).rstrip("/")
    except NoReverseMatch:
        return auth.settings.url_prefix


def api_request(request: Any, path: str, *, body: bool = True) -> ApiRequest:
    """The neutral request for a Django ``HttpRequest``.

    Args:
        request: the Django request.
        path: the path as the API sees it (below the mount prefix).
        body: whether to read the body (guards only look at credentials).
    """
    data, too_large = b"", False
    if body:
        meta = request.META
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            too_large = True
        elif (
            not length
            and "wsgi.input" in meta
            and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):  # WSGI only: Django's ASGI request holds the whole (de-chunked) body
            data = _chunked_body(meta)
            too_large = len(data) > MAX_BODY_BYTES
        else:
            try:
                data = request.body
            except RawPostDataException:  # a multipart body already parsed by the view
                data = b""
    return ApiRequest(
        method=request.method.upper(),
        path=path,
        headers=HeadersView(request.headers),
        cookies=dict(request.COOKIES),
        query={key: values[0] for key, values in request.GET.lists() if values},
        body=data,
        remote_addr=request.META.get("REMOTE_ADDR"),
        body_too_large=too_large,
    )


def django_client(auth: Auth, request: Any) -> Client:
    """The client (IP through ``trusted_proxies``, user agent) of a Django request.

    Requests built by hand (Django's test client's ``force_login`` has no
    method or path) give what their ``META`` says.
    """
    meta = getattr(request, "META", None) or {}
    if not getattr(request, "method", None):
        return Client(meta.get("REMOTE_ADDR"), meta.get("HTTP_USER_AGENT"))
    neutral = api_request(request, request.path, body=False)
    return api_for(auth, mount_prefix(auth)).credentials.client(neutral)


def _chunked_body(meta: Any) -> bytes:
    """A chunked body, which Django's WSGI request reads as empty (it has no length).

    Raises:
        ValidationError: the server passed the body on still chunked.
    """
    if still_chunked(meta):
        raise ValidationError(CHUNKED_UNSUPPORTED, fields={"body": "invalid"})
    return read_at_most(meta["wsgi.input"], MAX_BODY_BYTES + 1)


def _passes_django_csrf(request: Any) -> bool:
    """Whether Django's ``CsrfViewMiddleware`` accepts ``request`` (already did, or would now)."""
    middleware = CsrfViewMiddleware(lambda r: HttpResponse())
    return middleware.process_view(request, None, (), {}) is None


#: Key of the authgate session token in a Django session (``django.contrib.auth.login``).
SESSION_TOKEN_KEY = "_authgate_token"


def django_session_token(request: Any) -> str | None:
    """The authgate session token that ``django.contrib.auth.login()`` kept in the Django
    session of ``request``, if any (see :mod:`authgate.django.login`)."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    token = session.get(SESSION_TOKEN_KEY)
    return token if isinstance(token, str) and token else None


def with_django_session(request: Any, neutral: ApiRequest, api: AuthAPI) -> ApiRequest:
    """A request signed in through Django's session (``login()``) carries its authgate
    session as the session cookie would: CSRF rules and all.

    Only when the request has neither authgate's cookie nor an ``Authorization``
    header (those win); the Django session is read only then.
    """
    if api.credentials.cookie_name in neutral.cookies or "authorization" in neutral.headers:
        return neutral
    token = django_session_token(request)
    if token is None:
        return neutral
    return dataclasses.replace(
        neutral, cookies={**neutral.cookies, api.credentials.cookie_name: token}
    )


def with_django_csrf(request: Any, neutral: ApiRequest, api: AuthAPI) -> ApiRequest:
    """Let a cookie request that passes Django's CSRF check also pass authgate's.

    The authgate session a Django session carries (:func:`with_django_session`)
    counts as the cookie. Only for unsafe requests that carry the session
    cookie and neither an ``Authorization`` header nor authgate's
    ``X-CSRF-Token``: the session's own CSRF token is added when Django's
    middleware accepts the request.
    """
    neutral = with_django_session(request, neutral, api)
    if neutral.is_safe or "authorization" in neutral.headers or CSRF_HEADER in neutral.headers:
        return neutral
    cookie = neutral.cookies.get(api.credentials.cookie_name)
    if not cookie or not _passes_django_csrf(request):
        return neutral
    headers = Headers([*neutral.headers.items(), (CSRF_HEADER, api.credentials.csrf_token(cookie))])
    return dataclasses.replace(neutral, headers=headers)


class _Cookie(Morsel[str]):
    """A cookie written by Django's handlers as ``name=value; ...`` exactly.

    Django's WSGI handler writes each cookie with ``output(header="")``, which
    starts the ``Set-Cookie`` value with a space (harmless to real clients,
    which strip it, but not what authgate formats); this morsel leaves it out.
    """

    def output(self, attrs: Container[str] | None = None, header: str = "Set-Cookie:") -> str:
        """The header line, or with ``header=""`` the bare value, without a leading space."""
        return super().output(attrs, header).lstrip()


def _set_cookie(response: HttpResponse, header: str) -> None:
    """Add one ``Set-Cookie`` header value of authgate's to a Django response (it may repeat)."""
    first, *attributes = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    cookie = _Cookie()
    cookie.set(name, value, SimpleCookie().value_encode(value)[1])
    for attribute in attributes:
        key, _, argument = attribute.partition("=")
        key = key.strip().lower()
        if key in ("secure", "httponly"):
            cookie[key] = True
        elif key in ("path", "max-age", "expires", "domain", "samesite"):
            cookie[key] = argument
    response.cookies[name] = cookie


def django_response(neutral: ApiResponse, method: str = "GET") -> HttpResponse:
    """The Django response for a neutral one (status, headers, cookies, body).

    For ``HEAD`` the body is left out and ``Content-Length`` says how long it
    would be (Django's WSGI handler sends whatever body a view returns).
    """
    body = neutral.body
    response = HttpResponse(
        b"" if method == "HEAD" else body, status=neutral.status, content_type=neutral.content_type
    )
    if method == "HEAD":
        response["Content-Length"] = str(len(body))
    for name, value in neutral.headers:
        if name.lower() == "set-cookie":
            _set_cookie(response, value)
        else:
            response[name] = value
    return response


def _api(request: Any, subpath: str = "") -> HttpResponse:
    """Serve authgate's JSON API below wherever ``authgate.django.urls`` is included.

    Every path and method below the mount point is answered in JSON (404
    ``NOT_FOUND``, 405 ``METHOD_NOT_ALLOWED``, 204 for OPTIONS...).
    """
    full = request.path
    prefix = (full[: len(full) - len(subpath)] if subpath else full).rstrip("/")
    auth = get_auth()
    endpoint = api_for(auth, prefix)
    try:
        neutral = with_django_csrf(request, api_request(request, "/" + subpath), endpoint)
    except AuthError as error:
        return django_response(endpoint.error(error))
    return django_response(site_for(auth, prefix).handle(neutral), neutral.method)


#: The JSON API and pages view (exempt from Django's CSRF middleware: authgate checks
#: CSRF itself, with the session's token or, on anonymous forms, a signed double submit).
api = csrf_exempt(_api)
