"""SQLAlchemy 2 storage: :class:`SQLAlchemyStore` and the default models' migrations.

``SQLAlchemyStore(url | engine | sessionmaker | flask_sqlalchemy_db)`` stores
users, roles, sessions and token claims in SQLite, PostgreSQL or
MySQL/MariaDB. Schema migrations for authgate's default models ship in
``migrations/`` and run with :func:`authgate.stores.sqlalchemy.migrate.upgrade`
(``authgate db upgrade``) or :meth:`SQLAlchemyStore.ensure_schema`.
"""

from authgate.stores.sqlalchemy.store import (
    SQLAlchemyStore as SQLAlchemyStore,
    make_engine as make_engine,
)

__all__ = ["SQLAlchemyStore", "make_engine"]
