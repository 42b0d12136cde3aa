"""How a credential travels (transport) is separate from what it is (a server-side session).

Transports, tried in order:

* ``token`` — ``Authorization: Bearer <token>``: a session token, or (with
  ``jwt_access_tokens``) a JWT access token, checked without a database read
  unless ``jwt_check_stamp`` asks for its session; never needs CSRF protection.
* ``api_key`` — a personal API key (``ag_...``) as ``Authorization: Bearer``
  or ``X-API-Key``; accepted by default next to tokens and sessions (a key is
  a credential its owner made for scripts), limited by its scopes where a view
  asks for them. Never needs CSRF protection (a browser never sends it by
  itself). The JSON API's own routes do not take API keys: managing the
  account needs the user's session or access token.
* ``session`` — the HttpOnly session cookie; unsafe methods need a CSRF token
  (``X-CSRF-Token`` header or ``csrf_token`` form field) bound to the session.
* ``basic`` — ``Authorization: Basic`` with email (or username) and password,
  throttled like any sign-in; creates no session. Only where the app asks for
  it (``auth_required("basic", ...)``): anywhere else it would make every URL a
  password oracle and cost a password hash per request.

:meth:`Credentials.authenticate` follows Starlette's backend contract:
``None`` means "no credential", an :class:`~authgate.errors.AuthError` means
"bad credential", a :class:`Principal` means "authenticated".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from itsdangerous import BadSignature, Signer

from authgate.context import Client
from authgate.errors import AccountDisabled, CSRFFailed, InvalidToken, ValidationError
from authgate.flows import api_keys as api_key_flows, sessions as session_flows
from authgate.flows.signin import authenticate as password_authenticate
from authgate.results import SessionInfo
from authgate.session_cache import StoreNeeded
from authgate.tokens import looks_like_jwt, token_digest
from authgate.web.http import ApiRequest, ApiResponse, format_cookie
from authgate.web.links import FLOW_COOKIE

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = [
    "ACCOUNT_MECHANISMS",
    "DEFAULT_MECHANISMS",
    "Credentials",
    "Mechanism",
    "Principal",
    "client_of",
]

Mechanism = Literal["session", "token", "api_key", "basic"]
ALL_MECHANISMS: tuple[Mechanism, ...] = ("token", "api_key", "session", "basic")
#: What ``login_required``, ``current_user``, the role decorators... accept (SPEC §5:
#: HTTP Basic only where an app asks for it).
DEFAULT_MECHANISMS: tuple[Mechanism, ...] = ("token", "api_key", "session")
#: What the JSON API's signed-in routes accept: managing the account takes the
#: user's own session or access token, never an API key.
ACCOUNT_MECHANISMS: tuple[Mechanism, ...] = ("token", "session")
API_KEY_HEADER = "x-api-key"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Principal:
    """An authenticated request: the user, how they authenticated, and the session if any."""

    user: Any
    mechanism: Mechanism
    session: SessionInfo | None = None
    token: str | None = None
    #: The scopes an API key grants; ``None``: not scope-limited (a session, a token).
    scopes: frozenset[str] | None = None
    #: The API key's id (``mechanism == "api_key"``).
    api_key_id: str | None = None


def client_of(request: ApiRequest, trusted_proxies: int) -> Client:
    """The client IP and user agent; ``X-Forwarded-For`` only through trusted proxies."""
    ip = request.remote_addr
    if trusted_proxies > 0:
        hops = [
            h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()
        ]
        if len(hops) >= trusted_proxies:
            ip = hops[-trusted_proxies]
    return Client(ip=ip, user_agent=request.headers.get("user-agent"))


class Credentials:
    """Reads and writes credentials for one :class:`~authgate.Auth`."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        settings = auth.settings
        secure = settings.secure_cookies
        host_only = secure and settings.cookie_domain is None
        #: ``__Host-`` binds the cookie to this exact host over HTTPS (SECURITY.md #42).
        self.cookie_name = ("__Host-" if host_only else "") + settings.cookie_name
        self.csrf_cookie_name = ("__Host-" if host_only else "") + "authgate_csrf"
        #: The link pages' nonce cookie is always host-only (no ``Domain``), so it is
        #: ``__Host-`` whenever cookies are secure: a sibling subdomain cannot plant it.
        self.flow_cookie_name = ("__Host-" if secure else "") + FLOW_COOKIE
        self._secure = secure
        self._signer = Signer(list(reversed(settings.secrets)), salt="authgate.csrf")
        self._check_stamp = settings.jwt_check_stamp
        #: With ``api_keys`` off no key is ever looked up (``X-API-Key`` is ignored).
        self._keys = settings.api_keys

    # -- reading ------------------------------------------------------------------
    def client(self, request: ApiRequest) -> Client:
        """The client of ``request`` (IP through trusted proxies, user agent)."""
        return client_of(request, self.auth.settings.trusted_proxies)

    def authenticate(
        self,
        request: ApiRequest,
        mechanisms: Sequence[Mechanism] = DEFAULT_MECHANISMS,
        *,
        memory_only: bool = False,
        with_session: bool = False,
    ) -> Principal | None:
        """Identify the caller; ``None`` when no credential was sent.

        Only the ``mechanisms`` given count (default: bearer token, API key
        and session cookie); credentials of another kind are ignored, except a
        bearer API key where tokens but not keys count (``INVALID_TOKEN``).

        With ``memory_only`` nothing blocks: a session not in the session cache,
        an API key, and HTTP Basic (which hashes), raise :class:`StoreNeeded`.

        With ``with_session`` (the JSON API), an access token is resolved to its
        session and the stored user, as ``jwt_check_stamp`` does everywhere.

        Raises:
            InvalidToken: a bearer token, API key or session cookie that is not valid.
            CSRFFailed: a cookie-authenticated unsafe request without a valid CSRF token.
            InvalidCredentials / RateLimited: bad HTTP Basic credentials, too many wrong keys.
        """
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if authorization and scheme == "bearer":
            token = value.strip()
            if self._keys and api_key_flows.looks_like_api_key(token):
                if "api_key" in mechanisms:
                    return self._api_key(request, token, memory_only)
                if "token" in mechanisms:
                    raise InvalidToken("API keys are not accepted here.")
            elif "token" in mechanisms:
                return self._token(token, memory_only, with_session)
        if authorization and scheme == "basic" and "basic" in mechanisms:
            if memory_only:
                raise StoreNeeded()
            return self._basic(request, value.strip())
        key = request.headers.get(API_KEY_HEADER)
        if key and self._keys and "api_key" in mechanisms:
            return self._api_key(request, key.strip(), memory_only)
        cookie = request.cookies.get(self.cookie_name)
        if cookie and "session" in mechanisms:
            info = session_flows.get_session(self.auth.ctx, cookie, memory_only=memory_only)
            if not request.is_safe:
                self.check_csrf(request, cookie)
            return Principal(info.user, "session", info, cookie)
        return None

    def _token(self, token: str, memory_only: bool, with_session: bool) -> Principal:
        """A bearer token: an access token (from its claims, or its session) or a session token."""
        ctx = self.auth.ctx
        access = ctx.access_tokens
        if access is not None and looks_like_jwt(token):
            claims = access.verify(token)
            if claims.session_id is None:  # auth101's own token: its user by email
                if memory_only:
                    raise StoreNeeded()
                return Principal(self._legacy_user(claims.user.email), "token", None, token)
            if not (with_session or self._check_stamp):
                return Principal(claims.user, "token", None, token)
        info = session_flows.get_session(ctx, token, memory_only=memory_only)
        return Principal(info.user, "token", info, token)

    def _legacy_user(self, email: str) -> Any:
        """The stored user of a token auth101 signed (``auth101_compat``)."""
        from authgate.models import canonical_email

        user = self.auth.ctx.users.get_user_by_email(canonical_email(email))
        if user is None:
            raise InvalidToken()
        if not user.is_active:
            raise AccountDisabled()
        return user

    def _api_key(self, request: ApiRequest, key: str, memory_only: bool) -> Principal:
        if memory_only:
            raise StoreNeeded()
        record, user = api_key_flows.verify_api_key(self.auth.ctx, key, self.client(request))
        return Principal(user, "api_key", scopes=frozenset(record.scopes), api_key_id=record.id)

    def _basic(self, request: ApiRequest, value: str) -> Principal:
        # Browsers resend cached Basic credentials with cross-site requests; scripts
        # send no Sec-Fetch-Site. A cross-site unsafe request is a forgery.
        site = request.headers.get("sec-fetch-site", "").lower()
        if not request.is_safe and site in {"cross-site", "same-site"}:
            raise CSRFFailed()
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidToken("Malformed Basic credentials.") from None
        identifier, sep, password = decoded.partition(":")
        if not sep:
            raise InvalidToken("Malformed Basic credentials.")
        try:
            user = password_authenticate(
                self.auth.ctx, identifier, password, client=self.client(request)
            )
        except ValidationError:
            raise InvalidToken("Malformed Basic credentials.") from None
        return Principal(user, "basic")

    # -- CSRF ---------------------------------------------------------------------
    def csrf_token(self, session_token: str) -> str:
        """The CSRF token bound to a session (an itsdangerous signature of its digest)."""
        return self._signer.get_signature(token_digest(session_token)).decode()

    def check_csrf(
        self, request: ApiRequest, session_token: str, form_value: str | None = None
    ) -> None:
        """Raise :class:`CSRFFailed` unless the request carries this session's CSRF token."""
        sent = request.headers.get(CSRF_HEADER) or form_value or ""
        try:
            ok = (
                bool(sent)
                and sent.isascii()
                and self._signer.verify_signature(
                    token_digest(session_token).encode(), sent.encode()
                )
            )
        except BadSignature:
            ok = False
        if not ok:
            raise CSRFFailed()

    # -- writing ------------------------------------------------------------------
    def set_session_cookie(
        self, response: ApiResponse, token: str, session: SessionInfo | None
    ) -> None:
        """Attach the session cookie (and the readable CSRF cookie and header)."""
        settings = self.auth.settings
        max_age = None
        if session is not None and session.remember:
            max_age = int((session.expires_at - session.created_at).total_seconds())
        samesite = settings.cookie_samesite.capitalize()
        response.set_cookie(
            format_cookie(
                self.cookie_name, token, max_age=max_age, domain=settings.cookie_domain,
                secure=self._secure, httponly=True, samesite=samesite,
            )
        )  # fmt: skip
        csrf = self.csrf_token(token)
        response.set_cookie(
            format_cookie(
                self.csrf_cookie_name, csrf, max_age=max_age, domain=settings.cookie_domain,
                secure=self._secure, httponly=False, samesite=samesite,
            )
        )  # fmt: skip
        response.headers.append(("X-CSRF-Token", csrf))

    def clear_session_cookie(self, response: ApiResponse) -> None:
        """Expire the session and CSRF cookies."""
        settings = self.auth.settings
        for name, httponly in ((self.cookie_name, True), (self.csrf_cookie_name, False)):
            response.set_cookie(
                format_cookie(
                    name, "", max_age=0, domain=settings.cookie_domain, secure=self._secure,
                    httponly=httponly, samesite=settings.cookie_samesite.capitalize(),
                )
            )  # fmt: skip
