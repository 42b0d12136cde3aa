"""Server-side sessions in SQL; the lookup every authenticated request makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from authgate.errors import ValidationError
from authgate.models import SessionRecord
from authgate.stores._common import INVALID_KEY, coerce_key
from authgate.stores.sqlalchemy.core import SESSION_COLUMNS, StoreCore
from authgate.stores.sqlalchemy.rows import PrecompiledQuery

__all__ = ["SessionQueries"]


class SessionQueries(StoreCore):
    """Server-side sessions."""

    def create_session(self, record: SessionRecord) -> None:
        """Store a new session."""
        row = self._session_row(
            {name: getattr(record, name) for name in SESSION_COLUMNS if name != "id"}
        )
        statement = insert(self._sessions).values(id=record.id, **row)
        self._write(lambda s: s.execute(statement))

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        """The session, its user and the user's roles in ONE indexed statement.

        sessions ⋈ users ⋈ user_roles ⋈ roles, all by primary or unique keys
        (flat outer joins: SQLite would scan the link table for a nested one),
        built once with a bound parameter so SQLAlchemy's compiled cache hits.

        This runs on every authenticated request, so outside a Flask-SQLAlchemy
        session (whose objects must belong to ``db.session``) it skips the ORM
        unit of work: the statement, compiled once by SQLAlchemy for the
        engine's dialect, runs on a pooled DBAPI connection (see
        :class:`PrecompiledQuery`), and the user and roles are built as
        *detached* instances, exactly what a closed ORM session would have
        handed back.
        """
        if self._db is not None:
            return self._run(self._orm_session_lookup(token_hash))
        rows = self._fast_lookup.rows(token_hash)
        if not rows:
            return None
        first = rows[0]
        record = self._record(
            dict(zip(self._session_keys, first[: self._session_width], strict=True))
        )
        if first[self._session_width + self._user_pk_index] is None:
            return record, None
        return record, self._loader.user(first, rows)

    def get_session_by_id(self, session_id: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this id and its user (by primary key; the user as
        :meth:`get_session_user` builds it)."""
        query = select(self._sessions).where(self._sessions.c.id == session_id)
        rows = self._run(lambda s: [dict(row) for row in s.execute(query).mappings()])
        if not rows:
            return None
        record = self._record(rows[0])
        return record, self.get_session_user(record.user_id)

    def get_session_user(self, user_id: Any) -> Any | None:
        """The user with this id and their roles, built as :meth:`get_session` builds them.

        For a session store kept elsewhere (Redis): its lookups then cost one
        precompiled statement here, as the session lookup does, not an ORM
        session (about a tenth of the time on SQLite). A Flask-SQLAlchemy
        ``db`` gets the same ORM object as :meth:`get_user`.
        """
        if self._db is not None:
            return self.get_user(user_id)  # type: ignore[attr-defined]
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        if self._fast_user is None:  # compiled on first use: the engine may come late
            self._fast_user = PrecompiledQuery(
                self.engine, self._user_core, self._serial, "user_id"
            )
        rows = self._fast_user.rows(key)
        return self._loader.user(rows[0], rows) if rows else None

    @property
    def _fast_lookup(self) -> PrecompiledQuery:
        if self._fast is None:  # compiled on first use: the engine may come late
            self._fast = PrecompiledQuery(self.engine, self._session_core, self._serial)
        return self._fast

    def _orm_session_lookup(
        self, token_hash: str
    ) -> Callable[[Session], tuple[SessionRecord, Any | None] | None]:
        def work(session: Session) -> tuple[SessionRecord, Any | None] | None:
            result = session.execute(self._session_query, {"token_hash": token_hash})
            rows = result.unique().all()
            if not rows:
                return None
            first = rows[0]
            columns = first[: self._session_width]
            record = self._record(dict(zip(self._session_keys, columns, strict=True)))
            return record, first[self._session_width]

        return work

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        """Record activity."""
        statement = (
            update(self._sessions)
            .where(self._sessions.c.id == session_id)
            .values(last_seen_at=last_seen_at)
        )
        self._write(lambda s: s.execute(statement))

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of a session; ``False`` if it does not exist.

        Raises:
            ValidationError: a name is not a session field (``unknown_field``).
        """
        unknown = {k: "unknown_field" for k in changes if k not in SESSION_COLUMNS or k == "id"}
        if unknown:
            raise ValidationError(fields=unknown)
        statement = (
            update(self._sessions)
            .where(self._sessions.c.id == session_id)
            .values(self._session_row(changes))
        )
        return self._write(lambda s: bool(s.execute(statement).rowcount == 1))  # type: ignore[attr-defined]

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        """The user's sessions, newest first."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return []
        sessions = self._sessions
        query = (
            select(sessions)
            .where(sessions.c.user_id == key)
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        )
        return self._run(lambda s: [self._record(dict(row)) for row in s.execute(query).mappings()])

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        """Delete one session; with ``user_id``, only if it belongs to that user."""
        sessions = self._sessions
        conditions = [sessions.c.id == session_id]
        if user_id is not None:
            key = coerce_key(self.user_model, user_id)
            if key is INVALID_KEY:
                return False
            conditions.append(sessions.c.user_id == key)
        statement = delete(sessions).where(*conditions)
        return self._write(lambda s: bool(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        """Delete every session of the user but ``except_session_id``; returns how many."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return 0
        sessions = self._sessions
        conditions = [sessions.c.user_id == key]
        if except_session_id is not None:
            conditions.append(sessions.c.id != except_session_id)
        statement = delete(sessions).where(*conditions)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        """Delete sessions whose absolute expiry has passed; returns how many."""
        statement = delete(self._sessions).where(self._sessions.c.expires_at <= now)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]
