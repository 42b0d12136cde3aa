"""Bring users over from Flask-Security, Flask-User, Django, fastapi-users and auth101.

From the command line::

    authgate --database-url sqlite:///auth.db import django --from postgresql://.../oldsite

and from Python::

    from authgate.importers import import_from

    report = import_from(auth, "flask-security", "sqlite:///old.db")
    print("\\n".join(report.lines()))

The other system's tables are read (users, their hashes, confirmed and
active flags, usernames, roles and their links, extra addresses where the
library has them) and written through authgate's stores. Old passwords keep
working: each hash stays as it is, is verified in its own scheme, and is
rehashed at the user's next sign-in. What cannot be carried is counted in the
report. Running it again imports nothing twice (see
:mod:`authgate.importers.base`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from authgate.importers.base import (
    DEFAULT_BATCH,
    ImportReport,
    Source,
    SourceDB,
    SourceError,
    SourceRole,
    SourceUser,
    import_users,
)
from authgate.importers.sources import SOURCES

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = [
    "SOURCES",
    "ImportReport",
    "Source",
    "SourceDB",
    "SourceError",
    "SourceRole",
    "SourceUser",
    "count_users",
    "import_from",
    "import_users",
    "source",
]


def source(name: str, **tables: str) -> Source:
    """The source called ``name`` (``flask-security``, ``flask-user``, ``django``,
    ``fastapi-users``, ``auth101``), with its tables renamed by ``tables``.

    Raises:
        SourceError: an unknown name.
        TypeError: a table keyword that source does not have.
    """
    cls = SOURCES.get(name)
    if cls is None:
        raise SourceError(f"unknown source {name!r}; choose one of {', '.join(sorted(SOURCES))}")
    found: Source = cls(**tables)
    return found


def import_from(
    auth: Auth,
    name: str,
    url: str,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    tables: Mapping[str, str] | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Import the users of the ``name`` system whose database is at ``url`` into ``auth``.

    Args:
        auth: where the users go.
        name: the system (see :func:`source`).
        url: its database, a SQLAlchemy URL (async drivers are read with their
            sync counterparts).
        batch: users read per query.
        progress: called with the number of users handled after each page.
        tables: renamed tables (e.g. ``{"users": "accounts_user"}`` for a
            custom Django user model).
        workers: threads writing users at once; by default 4 when authgate's
            database is a server (PostgreSQL, MySQL/MariaDB), 1 otherwise.

    Raises:
        SourceError: an unknown system, or a database or table that cannot be read.
    """
    chosen = source(name, **(tables or {}))
    db = SourceDB(url)
    try:
        if workers is None:
            workers = default_workers(auth)
        return import_users(auth, chosen, db, batch=batch, progress=progress, workers=workers)
    finally:
        db.close()


def count_users(name: str, url: str, tables: Mapping[str, str] | None = None) -> int:
    """How many users the source has (for a progress bar).

    Raises:
        SourceError: an unknown system, or a database or table that cannot be read.
    """
    db = SourceDB(url)
    try:
        chosen = source(name, **(tables or {}))
        chosen.check(db)
        return chosen.count(db)
    finally:
        db.close()


def default_workers(auth: Auth) -> int:
    """4 writer threads when ``auth`` stores in a database server, else 1 (SQLite, memory)."""
    engine = getattr(auth.store, "engine", None)
    dialect = getattr(getattr(engine, "dialect", None), "name", "")
    return 4 if dialect in {"postgresql", "mysql", "mariadb"} else 1
