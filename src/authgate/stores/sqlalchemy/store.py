"""The SQLAlchemy 2 store: users, roles, sessions, token claims, email addresses, the
audit trail and the notice outbox in SQL.

One class, :class:`SQLAlchemyStore`, assembled from a query module per concern
(:mod:`.users`, :mod:`.sessions`, :mod:`.emails`, :mod:`.tokens`, :mod:`.audit`,
:mod:`.outbox`, :mod:`.refresh`, :mod:`.api_keys`, :mod:`.two_factor`, :mod:`.passkeys`)
over the connections and transactions of :mod:`.core`.
"""

from __future__ import annotations

from authgate.stores.sqlalchemy.api_keys import ApiKeyQueries
from authgate.stores.sqlalchemy.audit import AuditQueries
from authgate.stores.sqlalchemy.emails import EmailQueries
from authgate.stores.sqlalchemy.engine import make_engine
from authgate.stores.sqlalchemy.outbox import OutboxQueries
from authgate.stores.sqlalchemy.passkeys import PasskeyQueries
from authgate.stores.sqlalchemy.refresh import RefreshTokenQueries
from authgate.stores.sqlalchemy.sessions import SessionQueries
from authgate.stores.sqlalchemy.tokens import TokenQueries
from authgate.stores.sqlalchemy.two_factor import TwoFactorQueries
from authgate.stores.sqlalchemy.users import UserQueries

__all__ = ["SQLAlchemyStore", "make_engine"]


class SQLAlchemyStore(
    UserQueries,
    SessionQueries,
    EmailQueries,
    TokenQueries,
    AuditQueries,
    OutboxQueries,
    RefreshTokenQueries,
    ApiKeyQueries,
    PasskeyQueries,
    TwoFactorQueries,
):
    """Every store protocol on a SQL database through SQLAlchemy 2.

    Args:
        bind: where the data lives: a database URL, an :class:`~sqlalchemy.Engine`,
            a :class:`~sqlalchemy.orm.sessionmaker` bound to an engine, or a
            Flask-SQLAlchemy ``SQLAlchemy`` object (its scoped ``db.session``
            is used, committed or rolled back but never closed, so calls must
            run inside an app context).
        user_model: the user class (default: authgate's ``User``).
        role_model: the role class (default: authgate's ``Role``); it must
            share the user model's ``MetaData``.

    Examples:
        >>> store = SQLAlchemyStore("sqlite://")
        >>> store.ensure_schema()
        >>> store.create_user({"email": "alice@example.com"}).email_canonical
        'alice@example.com'
    """
