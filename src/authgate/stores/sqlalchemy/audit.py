"""The audit trail in SQL: one INSERT per event, indexed reads, a bulk purge."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from authgate.models import SecurityEvent
from authgate.stores._common import event_row
from authgate.stores.sqlalchemy.core import StoreCore

__all__ = ["AuditQueries"]


class AuditQueries(StoreCore):
    """Security events (table ``authgate_security_events``)."""

    def add_event(self, event: SecurityEvent) -> None:
        """Insert one event; the database numbers it."""
        statement = insert(self._events).values(event_row(event))
        self._write(lambda s: s.execute(statement))

    def list_events(
        self,
        *,
        user_id: str | None = None,
        kinds: Sequence[str] = (),
        since: dt.datetime | None = None,
        before: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[SecurityEvent]:
        """Events newest first (time, then id), filtered; at most ``limit``."""
        events = self._events
        query = select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(events.c.user_id == str(user_id))
        if kinds:
            query = query.where(events.c.kind.in_(list(kinds)))
        if since is not None:
            query = query.where(events.c.at >= since)
        if before is not None:
            query = query.where(events.c.at < before)
        return self._run(lambda s: [_event(row) for row in s.execute(query).mappings()])

    def purge_events(self, before: dt.datetime) -> int:
        """Delete events strictly older than ``before``; returns how many."""
        statement = delete(self._events).where(self._events.c.at < before)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]


def _event(row: Any) -> SecurityEvent:
    details = row["details"]
    return SecurityEvent(
        id=int(row["id"]),
        kind=row["kind"],
        at=row["at"],
        outcome=row["outcome"],
        user_id=row["user_id"],
        actor=row["actor"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        details=json.loads(details) if details else {},
    )
