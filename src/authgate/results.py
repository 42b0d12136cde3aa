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
    """The outcome of a sign-up or sign-in: the user and, when signed in, a session token."""

    user: Any
    token: str | None
    session: SessionInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"user": {...}, "token": "..." | None}``."""
        return {"user": self.user.to_dict(), "token": self.token}


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
