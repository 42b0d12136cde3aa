"""The notice outbox in SQL: claimed by one conditional UPDATE, deleted once sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select, update

from authgate.models import Notice
from authgate.stores._common import notice_of
from authgate.stores.sqlalchemy.core import StoreCore, changed_one

__all__ = ["OutboxQueries"]


class OutboxQueries(StoreCore):
    """Notices waiting for a mailer (table ``authgate_outbox``)."""

    def add_notices(self, notices: Sequence[Notice]) -> None:
        """Insert notices that report no change of a user, in one transaction."""
        if notices:
            self._write(lambda s: self._store_notices(s, notices, None))

    def list_notices(self, *, due_by: dt.datetime | None = None, limit: int = 100) -> list[Notice]:
        """Notices, the soonest due first (then by id); with ``due_by``, only those due."""
        outbox = self._outbox
        query = select(outbox).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
        if due_by is not None:
            query = query.where(outbox.c.next_attempt_at <= due_by)
        return self._run(lambda s: [notice_of(row) for row in s.execute(query).mappings()])

    def claim_notice(self, notice_id: str, attempts: int, until: dt.datetime) -> bool:
        """``UPDATE ... SET attempts = attempts + 1, next_attempt_at = :until
        WHERE id = :id AND attempts = :attempts``: exactly one caller changes the row."""
        outbox = self._outbox
        statement = (
            update(outbox)
            .where(outbox.c.id == notice_id, outbox.c.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=until)
        )
        return self._write(lambda s: changed_one(s.execute(statement)))

    def delete_notice(self, notice_id: str) -> bool:
        """Forget a notice (sent, or given up)."""
        statement = delete(self._outbox).where(self._outbox.c.id == notice_id)
        return self._write(lambda s: changed_one(s.execute(statement)))
