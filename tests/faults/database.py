"""Make a real database fail at a chosen point of a transaction (SQLAlchemy engine events).

``fail_at(engine, statement="INSERT INTO authgate_users", nth=1)`` raises an
``OperationalError`` (what a dropped connection raises) just before the
*nth* matching statement is sent; ``fail_at(engine, commit=True)`` raises on
the COMMIT instead, after every statement of the transaction ran. The
listener is removed when the block ends, even if the test fails.

The store's ``_execute`` turns the error into ``SERVICE_UNAVAILABLE`` after a
rollback, which is exactly what the fault tests check: nothing is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

__all__ = ["Injected", "fail_at"]


@dataclass
class Injected:
    """What happened inside a :func:`fail_at` block."""

    #: Matching statements seen (the failing one included).
    seen: int = 0
    #: Whether the failure was raised.
    fired: bool = False
    statements: list[str] = field(default_factory=list)


def _boom() -> OperationalError:
    return OperationalError("injected failure", {}, Exception("server closed the connection"))


@contextlib.contextmanager
def fail_at(
    engine: sa.Engine,
    statement: str | None = None,
    *,
    nth: int = 1,
    commit: bool = False,
    times: int = 1,
) -> Iterator[Injected]:
    """Fail the database inside the block.

    Args:
        engine: the engine of the store under test.
        statement: fail before the ``nth`` statement that starts with this text
            (case-insensitive), e.g. ``"INSERT INTO authgate_user_roles"``.
        nth: which matching statement fails (1 = the first).
        commit: fail on COMMIT instead (every statement already ran).
        times: how many consecutive matches fail (later ones pass again).
    """
    if (statement is None) == (not commit):
        raise ValueError("give statement=... or commit=True")
    injected = Injected()
    prefix = (statement or "").strip().upper()

    def before_execute(conn: Any, cursor: Any, text: str, *args: Any) -> None:
        if not text.lstrip().upper().startswith(prefix):
            return
        injected.seen += 1
        injected.statements.append(text)
        if nth <= injected.seen < nth + times:
            injected.fired = True
            raise _boom()

    def on_commit(conn: Any) -> None:
        injected.seen += 1
        if nth <= injected.seen < nth + times:
            injected.fired = True
            raise _boom()

    name, listener = ("commit", on_commit) if commit else ("before_cursor_execute", before_execute)
    sa.event.listen(engine, name, listener)
    try:
        yield injected
    finally:
        sa.event.remove(engine, name, listener)
