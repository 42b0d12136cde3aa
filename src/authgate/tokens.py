"""Tokens: opaque session tokens and signed, purpose-bound email-link tokens.

Session tokens are 256 random bits; only their SHA-256 digest is stored, so a
database leak does not leak live sessions.

Email-link tokens (confirmation, reset, magic link, invitation) are signed
with itsdangerous, salted per purpose, expire, carry a random ``jti`` that the
flow claims once in the store (single use), and a fingerprint of the state
they were issued for, so they die when that state changes. The secret may be a
list, newest first: tokens signed with an older secret still verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from authgate.errors import InvalidToken

__all__ = [
    "EmailTokens",
    "TokenPayload",
    "constant_time_equals",
    "derive_key",
    "looks_like_jwt",
    "new_session_token",
    "state_fingerprint",
    "token_digest",
]

#: Longest token accepted anywhere; longer input is rejected before any work.
MAX_TOKEN_LENGTH = 4096


def new_session_token() -> str:
    """A new opaque session token: 256 bits from :mod:`secrets`, URL-safe."""
    return secrets.token_urlsafe(32)


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has a JWT's shape (three dot-separated parts).

    Session, refresh and API-key tokens are URL-safe base64 without dots.
    """
    return token.count(".") == 2


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def derive_key(settings: Any, purpose: str) -> bytes:
    """A key for one internal purpose, derived from the newest secret (HMAC-SHA256).

    Like itsdangerous' key derivation: each use gets its own key, so no two
    uses ever share one, and none of them is the secret itself.
    """
    secret = settings.secrets[0].encode("utf-8", "surrogatepass")
    return hmac.new(secret, b"authgate." + purpose.encode("ascii"), hashlib.sha256).digest()


def state_fingerprint(*parts: object) -> str:
    """A short digest of the state a token is bound to (e.g. the security stamp)."""
    data = "\x00".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class TokenPayload:
    """What a verified email-link token says."""

    purpose: str
    user_id: str | None
    fingerprint: str
    jti: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    data: dict[str, Any] = field(default_factory=dict)


class EmailTokens:
    """Signs and verifies purpose-bound, expiring email-link tokens.

    Args:
        secrets: signing secrets, newest first.
        clock: returns the current aware UTC time (injectable for tests).
    """

    def __init__(self, secrets: Sequence[str], clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        # itsdangerous wants keys oldest to newest and signs with the last one.
        self._keys = list(reversed(list(secrets)))
        outer = self

        class _ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(outer._clock().timestamp())

        self._signer_cls = _ClockSigner
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        s = self._serializers.get(purpose)
        if s is None:
            s = URLSafeTimedSerializer(
                self._keys, salt=f"authgate.{purpose}", signer=self._signer_cls
            )
            self._serializers[purpose] = s
        return s

    def issue(
        self,
        purpose: str,
        user_id: Any,
        fingerprint: str,
        data: dict[str, Any] | None = None,
    ) -> str:
        """Sign a new token for ``purpose`` bound to ``fingerprint``."""
        payload: dict[str, Any] = {
            "p": purpose,
            "u": None if user_id is None else str(user_id),
            "f": fingerprint,
            "j": secrets.token_urlsafe(16),
        }
        if data:
            payload["d"] = data
        return self._serializer(purpose).dumps(payload)

    def verify(self, purpose: str, token: object, max_age: int) -> TokenPayload:
        """Check signature, purpose and age; raise :class:`InvalidToken` on any failure.

        The failure never says why (expired, tampered, other purpose...).
        """
        if (
            not isinstance(token, str)
            or not token
            or len(token) > MAX_TOKEN_LENGTH
            or not token.isascii()
        ):
            raise InvalidToken()
        try:
            payload, signed_at = self._serializer(purpose).loads(
                token, max_age=max_age, return_timestamp=True
            )
        except BadData:
            raise InvalidToken() from None
        if (
            not isinstance(payload, dict)
            or payload.get("p") != purpose
            or not isinstance(payload.get("f"), str)
            or not isinstance(payload.get("j"), str)
        ):
            raise InvalidToken()
        now = self._clock()
        if signed_at > now + dt.timedelta(seconds=60):
            raise InvalidToken()  # signed in the future: clock games
        data = payload.get("d") or {}
        if not isinstance(data, dict):
            raise InvalidToken()
        user_id = payload.get("u")
        return TokenPayload(
            purpose=purpose,
            user_id=None if user_id is None else str(user_id),
            fingerprint=payload["f"],
            jti=payload["j"],
            issued_at=signed_at,
            expires_at=signed_at + dt.timedelta(seconds=max_age),
            data=data,
        )
