"""Engines with authgate's connection settings, and how driver failures are reported."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

__all__ = ["CONNECT_TIMEOUT", "STATEMENT_TIMEOUT", "make_engine"]

#: Seconds to wait for a database server to accept a connection.
CONNECT_TIMEOUT = 5
#: Seconds a statement (PostgreSQL) or a read or write (MySQL/MariaDB) may take.
STATEMENT_TIMEOUT = 30

log = logging.getLogger("authgate.store")

_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with authgate's connection settings.

    * ``postgresql://`` uses psycopg 3 and ``mysql://`` / ``mariadb://`` use
      PyMySQL when the URL names no driver; MySQL/MariaDB get ``charset=utf8mb4``.
    * Server connections are checked before use (``pool_pre_ping``) and bounded
      in time, so a database that stops answering is a prompt 503, not a hung
      worker: connecting gives up after :data:`CONNECT_TIMEOUT` seconds;
      PostgreSQL statements after :data:`STATEMENT_TIMEOUT` (a server-side
      ``statement_timeout``); MySQL/MariaDB reads and writes after
      :data:`STATEMENT_TIMEOUT` (the client's socket timeouts). Parameters
      given in the URL win (``?connect_timeout=2``).
    * SQLite connections enforce foreign keys, wait up to 5 s for a lock and,
      for files, use WAL; ``sqlite://`` (in memory) is one shared connection.

    Raises:
        ImportError: the database driver is not installed (names the extra to install).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if "+" not in parsed.drivername and backend in _DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{_DRIVERS[backend]}")
    if backend in ("mysql", "mariadb"):
        defaults = {"charset": "utf8mb4", "connect_timeout": str(CONNECT_TIMEOUT),
                    "read_timeout": str(STATEMENT_TIMEOUT),
                    "write_timeout": str(STATEMENT_TIMEOUT)}  # fmt: skip
        parsed = parsed.update_query_dict(
            {k: v for k, v in defaults.items() if k not in parsed.query}
        )
    elif backend == "postgresql":
        defaults = {"connect_timeout": str(CONNECT_TIMEOUT),
                    "options": f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}"}  # fmt: skip
        parsed = parsed.update_query_dict(
            {k: v for k, v in defaults.items() if k not in parsed.query}
        )
    # A server connection can drop while pooled: ping it on checkout. An
    # SQLite file cannot, so it skips the ping (one statement per request saved).
    options: dict[str, Any] = {"pool_pre_ping": backend != "sqlite"}
    in_memory = backend == "sqlite" and parsed.database in (None, "", ":memory:")
    if in_memory:
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    try:
        engine = create_engine(parsed, **options)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get(backend, "all")
        raise ImportError(
            f'The {backend} driver is not installed; run `pip install "authgate[{extra}]"`'
        ) from exc
    if backend == "sqlite":
        _configure_sqlite(engine, wal=not in_memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
