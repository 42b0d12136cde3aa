"""Small frozen result objects returned by flows, each with ``to_dict()``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = ["AuthResult", "SessionEntry", "SessionInfo"]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class SessionInfo:
    """A valid session and its user (what ``Auth.get_session`` returns)."""

    id: str
    user: Any
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    authenticated_at: dt.datetime
    remember: bool = False
    ip: str | None = None
    user_agent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"user": {...}}`` as ``GET /session`` answers."""
        return {"user": self.user.to_dict()}


@dataclass(frozen=True)
class AuthResult:
    """The outcome of a sign-up or sign-in: the user and, when signed in, a token.

    ``token`` is the session token; with ``jwt_access_tokens`` it is the JWT
    access token, ``refresh_token`` and ``expires_in`` come with it, and the
    session's own token (for the cookie) is :attr:`session_token`.
    """

    user: Any
    token: str | None
    session: SessionInfo | None = None
    #: The refresh token of the pair (``jwt_access_tokens``), shown once.
    refresh_token: str | None = None
    #: Seconds the access token is valid for (``jwt_access_tokens``).
    expires_in: int | None = None
    #: The session token behind the result (the cookie's value); ``token`` when
    #: there is no access token.
    session_token: str | None = None
    #: Extra names the access token is also answered under (``access_token`` for
    #: auth101's clients).
    aliases: tuple[str, ...] = ()
    #: The trusted-device cookie value of a second-factor sign-in with
    #: ``trust_device`` (the web integrations set it as a cookie); never in :meth:`to_dict`.
    trusted_device: str | None = None

    def __post_init__(self) -> None:
        if self.session_token is None and self.refresh_token is None:
            object.__setattr__(self, "session_token", self.token)

    def to_dict(self) -> dict[str, Any]:
        """``{"user": {...}, "token": "..." | None}``; with an access token also
        ``refresh_token``, ``expires_in`` and ``token_type: "Bearer"`` (SPEC §10)."""
        data: dict[str, Any] = {"user": self.user.to_dict(), "token": self.token}
        if self.refresh_token is not None:
            data["refresh_token"] = self.refresh_token
            data["expires_in"] = self.expires_in
            data["token_type"] = "Bearer"
            for alias in self.aliases:
                data[alias] = self.token
        return data


@dataclass(frozen=True)
class SessionEntry:
    """One row of ``Auth.list_sessions``."""

    id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ip: str | None
    user_agent: str | None
    current: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"}``."""
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "last_seen_at": _iso(self.last_seen_at),
            "expires_at": _iso(self.expires_at),
            "ip": self.ip,
            "user_agent": self.user_agent,
            "current": self.current,
        }
