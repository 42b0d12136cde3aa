"""Count the SQL an app sends to SQLite, whichever way it sends it.

``timing.StatementCounter`` listens to SQLAlchemy's ``before_cursor_execute``,
which does not see statements run on a raw DBAPI cursor (as authgate's
session lookup now does, to skip SQLAlchemy's Connection/Result wrappers). So
this counter also installs ``sqlite3``'s own trace callback on every
connection checked out from the engine's pool while it counts: SQLite reports
each statement it actually runs, with its parameters filled in. Connections
owned by another thread (aiosqlite's) cannot be traced from here; for them the
SQLAlchemy events are the count. The larger of the two counts is reported.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import event

__all__ = ["SqlCounter"]


class SqlCounter:
    """``count(fn)``: average statements and pool checkouts per call of ``fn``."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        #: The statements of the last :meth:`count`, as SQLite ran them (or as
        #: SQLAlchemy sent them, where SQLite could not be traced).
        self.sql: list[str] = []

    @contextlib.contextmanager
    def _listening(self) -> Iterator[tuple[list[str], list[str], list[int]]]:
        traced: list[str] = []
        sent: list[str] = []
        checkouts = [0]
        touched: list[Any] = []

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            sent.append(statement)

        def trace(connection: Any) -> None:
            if not isinstance(connection, sqlite3.Connection) or connection in touched:
                return  # aiosqlite's adapter: its connection lives in another thread
            connection.set_trace_callback(traced.append)
            touched.append(connection)

        def on_checkout(dbapi_connection: Any, *args: Any) -> None:
            checkouts[0] += 1
            trace(dbapi_connection)

        # A StaticPool's one connection is traced now (an async engine's cannot be).
        if not self.engine.dialect.is_async:
            raw = self.engine.raw_connection()
            try:
                trace(raw.driver_connection)
            finally:
                raw.close()
        event.listen(self.engine, "before_cursor_execute", on_execute)
        event.listen(self.engine.pool, "checkout", on_checkout)
        checkouts[0] = 0
        try:
            yield traced, sent, checkouts
        finally:
            event.remove(self.engine, "before_cursor_execute", on_execute)
            event.remove(self.engine.pool, "checkout", on_checkout)
            for connection in touched:
                with contextlib.suppress(Exception):
                    connection.set_trace_callback(None)

    def count(self, fn: Callable[[], object], calls: int = 5) -> tuple[float, float]:
        with self._listening() as (traced, sent, checkouts):
            del traced[:]
            for _ in range(calls):
                fn()
        self.sql = traced if len(traced) >= len(sent) else sent
        return max(len(traced), len(sent)) / calls, checkouts[0] / calls
