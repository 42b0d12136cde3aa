"""JWT access tokens (``jwt_access_tokens``): issued at every sign-in, checked without a read.

An access token is a JWT (RFC 9068's ``typ: at+jwt``) signed by the first
key of ``jwt_keys`` with the one configured algorithm, with a ``kid``
header naming its key and these claims:

``iss``, ``aud`` (both from settings), ``sub`` (the user id), ``iat``,
``exp`` (``access_token_lifetime`` later), ``jti`` (random), ``sid`` (the
session the sign-in created: its refresh-token family), ``email``,
``email_verified``, ``username`` (when the user has one), ``roles`` and
``permissions`` (what the user held when the token was made).

Checking one takes no database read: the signature (by the key its ``kid``
names, with the configured algorithm only: ``alg: none``, HS/EdDSA
confusion and unknown keys are refused), the type, issuer, audience, expiry
(by the app's clock), ``nbf`` and ``iat`` (a minute of skew at most); then
the user is built from the claims (:class:`TokenUser`, read-only, with the
interface the decorators and ``to_dict()`` use). A verified token is
remembered (by its exact text) until it expires, so each token's signature
is checked once per process, not once per request.

What the claims say is what held when the token was made: a role taken
away, a password changed or a sign-out show on the next refresh, or at once
with ``jwt_check_stamp`` (which looks the token's session up through the
session cache).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from authgate.errors import InvalidToken
from authgate.keys import SigningKey, load_keys
from authgate.settings import Settings
from authgate.stores._common import key_type
from authgate.tokens import MAX_TOKEN_LENGTH, looks_like_jwt

__all__ = ["AccessClaims", "AccessTokens", "TokenRole", "TokenUser", "looks_like_jwt"]

#: Seconds an ``iat`` or ``nbf`` may lie ahead of this server's clock (other servers' skew).
CLOCK_SKEW = 60
#: Verified tokens remembered per process, at most (the oldest go first).
MAX_VERIFIED = 10_000
#: The JWT type of an access token (RFC 9068).
ACCESS_TOKEN_TYPE = "at+jwt"


@dataclass(frozen=True)
class TokenRole:
    """A role named by an access token: its name only (the permissions are the user's)."""

    name: str
    description: None = None
    permissions: None = None

    def get_permissions(self) -> set[str]:
        """Always empty: a token carries the user's permissions, not each role's."""
        return set()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name == other
        return isinstance(other, TokenRole | type(self)) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True, eq=False)
class TokenUser:
    """The signed-in user as an access token describes them, read-only.

    It answers what the decorators, the dependencies and ``to_dict()`` ask of
    a user (``id``, ``email``, ``username``, ``roles``, ``has_role``,
    ``has_permission``, ``permissions``...). It has no password hash and no
    app fields; with ``jwt_check_stamp`` the stored user is used instead.
    """

    id: Any
    email: str
    username: str | None
    email_confirmed: bool
    role_names: tuple[str, ...]
    #: Every permission the user's roles granted when the token was made.
    permissions: frozenset[str]
    #: The session (refresh-token family) the token belongs to.
    session_id: str | None = None

    is_active = True
    is_authenticated = True
    is_anonymous = False

    @property
    def roles(self) -> tuple[TokenRole, ...]:
        """The user's roles (names only)."""
        return tuple(TokenRole(name) for name in self.role_names)

    @property
    def email_confirmed_at(self) -> None:
        """Unknown from a token (see :attr:`email_confirmed`)."""
        return None

    def has_role(self, role: Any) -> bool:
        """Whether the user holds ``role`` (a name or a role object)."""
        name = role if isinstance(role, str) else getattr(role, "name", None)
        return name in self.role_names

    def has_permission(self, permission: str) -> bool:
        """Whether the user's roles grant ``permission``."""
        return permission in self.permissions

    def get_id(self) -> str:
        """The id as a string (Flask-Login compatibility)."""
        return str(self.id)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "email", "username", "is_active", "email_confirmed", "roles"}`` (SPEC §2)."""
        return {
            "id": str(self.id),
            "email": self.email,
            "username": self.username,
            "is_active": True,
            "email_confirmed": self.email_confirmed,
            "roles": list(self.role_names),
        }

    def __repr__(self) -> str:
        return f"<TokenUser {self.email!r}>"


@dataclass(frozen=True)
class AccessClaims:
    """A verified access token: its user, session, and when it expires."""

    user: TokenUser
    #: ``None`` only for a token auth101 signed (``auth101_compat``): no session behind it.
    session_id: str | None
    expires_at: float
    subject: str


class AccessTokens:
    """Issues and verifies the access tokens of one :class:`~authgate.Auth`.

    Args:
        settings: reads the ``jwt_*`` settings, ``access_token_lifetime``,
            ``auth101_compat``, ``base_url`` and ``site_name``.
        user_model: the user model (``sub`` is turned back into its key type).
        clock: the app's clock (aware UTC); expiry is judged by it.

    Raises:
        ValueError: a bad key in ``jwt_keys`` (see :func:`authgate.keys.load_keys`).
    """

    def __init__(
        self, settings: Settings, user_model: type[Any], clock: Callable[[], dt.datetime]
    ) -> None:
        self.keys: list[SigningKey] = load_keys(settings)
        self.algorithm = settings.jwt_signing_algorithm
        self.lifetime = settings.access_token_lifetime
        self.compat = settings.auth101_compat
        self.issuer = settings.jwt_issuer or settings.base_url or settings.site_name
        self.audience = settings.jwt_audience or self.issuer
        self._key_type = key_type(user_model)
        self._clock = clock
        self._by_kid = {key.kid: key for key in self.keys}
        self._signer = self.keys[0]
        self._headers = {
            "kid": self._signer.kid,
            "typ": "JWT" if self.compat else ACCESS_TOKEN_TYPE,
        }
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()
        self._lock = threading.Lock()

    # -- issuing -----------------------------------------------------------------
    def issue(self, user: Any, session_id: str, now: dt.datetime) -> str:
        """A new access token for ``user`` in session ``session_id``, valid from ``now``."""
        issued = int(now.timestamp())
        roles = sorted(role.name for role in user.roles)
        granted: set[str] = set()
        for role in user.roles:
            granted |= role.get_permissions()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": str(user.id),
            "iat": issued,
            "exp": issued + self.lifetime,
            "jti": secrets.token_urlsafe(12),
            "sid": session_id,
            "email": user.email,
            "email_verified": user.email_confirmed_at is not None,
            "roles": roles,
            "permissions": sorted(granted),
        }
        if user.username:
            claims["username"] = user.username
        if self.compat:  # auth101's own claims; its verifiers reject an unexpected aud
            claims["type"] = "access"
        else:
            claims["aud"] = self.audience
        return jwt.encode(
            claims, self._signer.private, algorithm=self.algorithm, headers=self._headers
        )

    # -- verifying ---------------------------------------------------------------
    def verify(self, token: object) -> AccessClaims:
        """The claims of a valid access token.

        Raises:
            InvalidToken: anything wrong (signature, algorithm, key, type, issuer,
                audience, expiry, ``nbf``, ``iat``, claims); it never says what.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken()
        now = self._clock().timestamp()
        known = self._verified.get(token)
        if known is not None:
            if now < known.expires_at:
                return known
            with self._lock:
                self._verified.pop(token, None)
            raise InvalidToken()
        claims = self._decode(token, now)
        if len(self._verified) >= MAX_VERIFIED:
            with self._lock:
                while len(self._verified) >= MAX_VERIFIED:
                    try:
                        self._verified.popitem(last=False)
                    except KeyError:  # emptied meanwhile
                        break
        self._verified[token] = claims
        return claims

    def _decode(self, token: str, now: float) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._by_kid.get(kid) if isinstance(kid, str) else None
            if key is None:
                if not (self.compat and kid is None):
                    raise InvalidToken()
                candidates: Sequence[SigningKey] = self.keys  # auth101 set no kid
            else:
                candidates = (key,)
            typ = header.get("typ")
            if typ != ACCESS_TOKEN_TYPE and not (self.compat and typ in (None, "JWT")):
                raise InvalidToken()
            payload = self._payload(token, candidates)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise InvalidToken() from None
        return self._claims(payload, now)

    def _payload(self, token: str, candidates: Sequence[SigningKey]) -> dict[str, Any]:
        options: Any = {
            # Judged below by the app's clock, not PyJWT's.
            "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": not self.compat, "verify_iss": not self.compat,
            "require": ["exp", "iat", "sub"],
        }  # fmt: skip
        error: Exception = InvalidToken()
        for key in candidates:
            try:
                payload: dict[str, Any] = jwt.decode(
                    token, key.public, algorithms=[self.algorithm], options=options,
                    audience=None if self.compat else self.audience,
                    issuer=None if self.compat else self.issuer,
                )  # fmt: skip
                return payload
            except jwt.InvalidSignatureError as exc:
                error = exc
        raise error

    def _claims(self, payload: dict[str, Any], now: float) -> AccessClaims:
        exp, iat, nbf = payload["exp"], payload["iat"], payload.get("nbf", 0)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat, nbf)):
            raise InvalidToken()
        if now >= exp or iat > now + CLOCK_SKEW or nbf > now + CLOCK_SKEW:
            raise InvalidToken()
        if self.compat:
            if payload.get("type", "access") != "access":  # auth101's refresh tokens
                raise InvalidToken()
            if "iss" in payload and payload["iss"] != self.issuer:
                raise InvalidToken()
        sid = payload.get("sid")
        subject = payload["sub"]
        email = payload.get("email")
        if not isinstance(subject, str) or not isinstance(email, str):
            raise InvalidToken()
        if (sid is None and not self.compat) or (sid is not None and not isinstance(sid, str)):
            raise InvalidToken()
        roles, granted = payload.get("roles", []), payload.get("permissions", [])
        if not _strings(roles) or not _strings(granted):
            raise InvalidToken()
        username = payload.get("username")
        key: Any = subject
        if self._key_type is not None and self._key_type is not str:
            try:
                key = self._key_type(subject)
            except (TypeError, ValueError):
                raise InvalidToken() from None
        user = TokenUser(
            id=key,
            email=email,
            username=username if isinstance(username, str) else None,
            email_confirmed=payload.get("email_verified") is True,
            role_names=tuple(roles),
            permissions=frozenset(granted),
            session_id=sid,
        )
        return AccessClaims(user=user, session_id=sid, expires_at=float(exp), subject=subject)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
