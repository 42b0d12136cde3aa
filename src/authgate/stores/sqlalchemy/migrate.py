"""Schema migrations of authgate's default models, run programmatically with Alembic.

The migrations live in this package (``migrations/``) and record their state
in ``authgate_alembic_version``, so they never clash with an app's own
Alembic history in the same database. ``authgate db upgrade`` calls
:func:`upgrade`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Select, column, select, table
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError, ProgrammingError

from authgate.stores.sqlalchemy.engine import make_engine

__all__ = ["VERSION_TABLE", "current_revision", "head_revision", "upgrade"]

#: Alembic's version table for authgate's own migrations.
VERSION_TABLE = "authgate_alembic_version"

_SCRIPT_LOCATION = Path(__file__).with_name("migrations")
_VERSION_QUERY: Select[Any] = select(column("version_num")).select_from(table(VERSION_TABLE))


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this version of authgate."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("authgate's migration scripts are missing from the installation")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` before the first migration.

    One query: reads the version row (a missing table means ``None``).
    """
    with engine.connect() as connection:
        try:
            row = connection.execute(_VERSION_QUERY).first()
        except (OperationalError, ProgrammingError):
            return None
    return None if row is None else str(row[0])


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest), in one transaction
    where the database supports transactional DDL.

    Args:
        url_or_engine: a database URL or an engine.
        revision: the target revision.
    """
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not url_or_engine:
            engine.dispose()
