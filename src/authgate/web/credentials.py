"""How a credential travels (transport) is separate from what it is (a server-side session).

Transports, tried in order:

* ``token`` — ``Authorization: Bearer <token>``; never needs CSRF protection.
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
from authgate.errors import CSRFFailed, InvalidToken, ValidationError
from authgate.flows import sessions as session_flows
from authgate.flows.signin import authenticate as password_authenticate
from authgate.results import SessionInfo
from authgate.session_cache import StoreNeeded
from authgate.tokens import token_digest
from authgate.web.http import ApiRequest, ApiResponse, format_cookie
from authgate.web.links import FLOW_COOKIE

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = ["DEFAULT_MECHANISMS", "Credentials", "Mechanism", "Principal", "client_of"]

Mechanism = Literal["session", "token", "basic"]
ALL_MECHANISMS: tuple[Mechanism, ...] = ("token", "session", "basic")
#: What ``login_required``, ``current_user``, the role decorators... accept (SPEC §5:
#: HTTP Basic only where an app asks for it).
DEFAULT_MECHANISMS: tuple[Mechanism, ...] = ("token", "session")
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Principal:
    """An authenticated request: the user, how they authenticated, and the session if any."""

    user: Any
    mechanism: Mechanism
    session: SessionInfo | None = None
    token: str | None = None


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
    ) -> Principal | None:
        """Identify the caller; ``None`` when no credential was sent.

        Only the ``mechanisms`` given count (default: bearer token and session
        cookie); credentials of another kind are ignored.

        With ``memory_only`` nothing blocks: a session not in the session cache,
        and HTTP Basic (which hashes), raise :class:`StoreNeeded` instead.

        Raises:
            InvalidToken: a bearer token or session cookie that is not valid.
            CSRFFailed: a cookie-authenticated unsafe request without a valid CSRF token.
            InvalidCredentials / RateLimited: bad HTTP Basic credentials.
        """
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if authorization and scheme == "bearer" and "token" in mechanisms:
            token = value.strip()
            info = session_flows.get_session(self.auth.ctx, token, memory_only=memory_only)
            return Principal(info.user, "token", info, token)
        if authorization and scheme == "basic" and "basic" in mechanisms:
            if memory_only:
                raise StoreNeeded()
            return self._basic(request, value.strip())
        cookie = request.cookies.get(self.cookie_name)
        if cookie and "session" in mechanisms:
            info = session_flows.get_session(self.auth.ctx, cookie, memory_only=memory_only)
            if not request.is_safe:
                self.check_csrf(request, cookie)
            return Principal(info.user, "session", info, cookie)
        return None

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
