"""Alembic environment of authgate's default models.

Run through :mod:`authgate.stores.sqlalchemy.migrate`, which hands over an
open connection in ``config.attributes["connection"]``; a ``sqlalchemy.url``
main option works too (and is required for offline ``--sql`` mode).
Only authgate's own tables are compared or touched.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from authgate.models import Base
from authgate.stores.sqlalchemy.engine import make_engine
from authgate.stores.sqlalchemy.migrate import VERSION_TABLE

target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Consider only authgate's tables, whatever else shares the database."""
    return type_ != "table" or name in target_metadata.tables


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        compare_type=True,
        **options,
    )


def run_online(connection: Connection) -> None:
    """Run the migrations on an open connection."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


config = context.config
if context.is_offline_mode():
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    run_online(shared)
else:
    engine = make_engine(str(config.get_main_option("sqlalchemy.url")))
    try:
        with engine.begin() as own:
            run_online(own)
    finally:
        engine.dispose()
