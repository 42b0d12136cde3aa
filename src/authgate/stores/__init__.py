"""Storage: the store protocols, the in-memory store and :func:`make_store`.

``make_store()`` picks the backend the way ``Auth`` does: no database →
:class:`MemoryStore`; a URL or a Flask-SQLAlchemy ``db`` → the SQLAlchemy store.
"""

from __future__ import annotations

from typing import Any

from authgate.stores.base import (
    RoleStore as RoleStore,
    SessionStore as SessionStore,
    Store as Store,
    TokenStore as TokenStore,
    UserStore as UserStore,
)
from authgate.stores.memory import MemoryStore as MemoryStore

__all__ = [
    "MemoryStore",
    "RoleStore",
    "SessionStore",
    "Store",
    "TokenStore",
    "UserStore",
    "make_store",
]


def make_store(
    database_url: str | None = None,
    *,
    db: Any = None,
    user_model: type[Any] | None = None,
    role_model: type[Any] | None = None,
) -> Store:
    """The store for a configuration.

    Args:
        database_url: an SQLAlchemy URL (``sqlite:///auth.db``,
            ``postgresql://...``); ``None`` with no ``db`` keeps everything in memory.
        db: a Flask-SQLAlchemy object, an SQLAlchemy engine or a sessionmaker.
        user_model: the user class (default: authgate's ``User``).
        role_model: the role class (default: authgate's ``Role``).

    Raises:
        TypeError: both ``database_url`` and ``db`` were given.
    """
    models = {
        name: model
        for name, model in (("user_model", user_model), ("role_model", role_model))
        if model is not None
    }
    if database_url is None and db is None:
        return MemoryStore(**models)
    if database_url is not None and db is not None:
        raise TypeError("give either database_url or db, not both")
    from authgate.stores.sqlalchemy import SQLAlchemyStore

    return SQLAlchemyStore(db if db is not None else database_url, **models)
