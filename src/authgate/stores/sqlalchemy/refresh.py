"""Refresh tokens in SQL: one row per token, in families (sessions) they die with."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authgate.models import RefreshTokenRecord
from authgate.stores.sqlalchemy.core import StoreCore, changed_one

__all__ = ["RefreshTokenQueries"]

_COLUMNS = ("token_hash", "session_id", "user_id", "created_at", "expires_at", "used_at")


class RefreshTokenQueries(StoreCore):
    """Refresh tokens (``authgate_refresh_tokens``); a session's deletion cascades to them."""

    def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        """Store the first token of a family."""
        statement = insert(self._refresh_tokens).values(_row(record))
        self._write(lambda s: s.execute(statement))

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        """The token with this digest (one primary-key lookup), or ``None``."""
        query = select(self._refresh_tokens).where(self._refresh_tokens.c.token_hash == token_hash)
        rows = self._run(lambda s: [dict(row) for row in s.execute(query).mappings()])
        return RefreshTokenRecord(**{k: rows[0][k] for k in _COLUMNS}) if rows else None

    def rotate_refresh_token(
        self, token_hash: str, new: RefreshTokenRecord, now: dt.datetime
    ) -> bool:
        """Retire ``token_hash`` by a conditional UPDATE and insert ``new``, in one transaction.

        ``UPDATE ... SET used_at = now WHERE token_hash = ? AND used_at IS NULL AND
        expires_at > now``: the database lets exactly one of concurrent callers
        change the row (the others wait for its commit, then match nothing).
        Only that caller inserts the successor; a session deleted meanwhile
        (the successor's foreign key fails) is a loss too, with nothing written.
        """
        table = self._refresh_tokens
        retire = (
            update(table)
            .where(table.c.token_hash == token_hash, table.c.used_at.is_(None))
            .where(table.c.expires_at > now)
            .values(used_at=now)
        )
        successor = insert(table).values(_row(new))

        def work(session: Session) -> bool:
            if not changed_one(session.execute(retire)):
                return False
            session.execute(successor)
            return True

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            return False

    def delete_refresh_tokens(self, session_id: str) -> int:
        """Delete every token of a family; returns how many."""
        statement = delete(self._refresh_tokens).where(
            self._refresh_tokens.c.session_id == session_id
        )
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    def purge_refresh_tokens(self, now: dt.datetime) -> int:
        """Delete expired tokens; returns how many."""
        statement = delete(self._refresh_tokens).where(self._refresh_tokens.c.expires_at <= now)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]


def _row(record: RefreshTokenRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _COLUMNS}
