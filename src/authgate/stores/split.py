"""A store whose sessions live elsewhere: :class:`SplitStore`.

``Auth(redis_url=...)`` keeps users, roles, emails, single-use claims and the
notice outbox in the main store and sessions in Redis. To the flows it is still one
:class:`~authgate.stores.base.Store`: the session methods go to the session
store, everything else to the main store, and deleting a user deletes their
sessions in both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from authgate.models import Notice, RefreshTokenRecord, SessionRecord
from authgate.stores.base import RefreshTokenStore, SessionStore, Store

__all__ = ["SplitStore"]


class SplitStore:
    """The main store, with sessions taken from ``sessions``.

    Args:
        store: users, roles, emails and token claims (and their own sessions
            table, which then stays empty).
        sessions: where sessions live (a :class:`~authgate.stores.redis.RedisSessionStore`).
        refresh_tokens: where refresh tokens live, next to the sessions (a
            :class:`~authgate.stores.redis.RedisRefreshTokenStore`); ``None``
            keeps them in the main store.
    """

    def __init__(
        self,
        store: Store,
        sessions: SessionStore,
        refresh_tokens: RefreshTokenStore | None = None,
    ) -> None:
        self.main = store
        self.sessions = sessions
        self.refresh_tokens: RefreshTokenStore = refresh_tokens or store

    def __getattr__(self, name: str) -> Any:
        if name in ("main", "sessions", "refresh_tokens"):  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.main, name)

    def __repr__(self) -> str:
        return f"<SplitStore {self.main!r} sessions={self.sessions!r}>"

    def delete_user(self, user_id: Any, *, outbox: Sequence[Notice] = ()) -> bool:
        """Delete the user's sessions, then the user (and what the main store keeps of them)
        with the ``outbox`` notices.

        The sessions go first: if the session store is down, nothing is deleted
        (``ServiceUnavailable``), no notice is kept, and the call can be repeated.
        """
        self.sessions.delete_user_sessions(user_id)
        return bool(self.main.delete_user(user_id, outbox=outbox))

    def close(self) -> None:
        """Close both stores."""
        close = getattr(self.sessions, "close", None)
        if close is not None:
            close()
        self.main.close()

    # -- sessions ------------------------------------------------------------------

    def create_session(self, record: SessionRecord) -> None:
        self.sessions.create_session(record)

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        return self.sessions.get_session(token_hash)

    def get_session_by_id(self, session_id: str) -> tuple[SessionRecord, Any | None] | None:
        return self.sessions.get_session_by_id(session_id)

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        self.sessions.touch_session(session_id, last_seen_at)

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        return bool(self.sessions.update_session(session_id, changes))

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        return self.sessions.list_sessions(user_id)

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        return bool(self.sessions.delete_session(session_id, user_id))

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        return int(self.sessions.delete_user_sessions(user_id, except_session_id))

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        return int(self.sessions.purge_expired_sessions(now))

    # -- refresh tokens --------------------------------------------------------------

    def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        self.refresh_tokens.add_refresh_token(record)

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        return self.refresh_tokens.get_refresh_token(token_hash)

    def rotate_refresh_token(
        self, token_hash: str, new: RefreshTokenRecord, now: dt.datetime
    ) -> bool:
        return bool(self.refresh_tokens.rotate_refresh_token(token_hash, new, now))

    def delete_refresh_tokens(self, session_id: str) -> int:
        return int(self.refresh_tokens.delete_refresh_tokens(session_id))

    def purge_refresh_tokens(self, now: dt.datetime) -> int:
        return int(self.refresh_tokens.purge_refresh_tokens(now))
