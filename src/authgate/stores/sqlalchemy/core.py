"""The part every query module of :class:`SQLAlchemyStore` shares: set-up and transactions.

Every public method is one short transaction. Uniqueness and single use are
decided by the database (unique indexes, primary keys, conditional
``UPDATE ... WHERE``), never by a read followed by a write, so concurrent
callers on several processes get the same answers as one caller would.
Driver and connection failures become :class:`~authgate.errors.ServiceUnavailable`
after a rollback, with the real error logged once under a short reference.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, Table, bindparam, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, contains_eager, sessionmaker
from sqlalchemy.pool import StaticPool

from authgate.errors import UserExists, ValidationError
from authgate.models import Notice, Role, SessionRecord, User, tables_for
from authgate.stores._common import (
    INVALID_KEY,
    coerce_key,
    column_attributes,
    constraint_name,
    database_identity,
    notice_row,
    primary_key,
    unavailable,
)
from authgate.stores.sqlalchemy.engine import make_engine
from authgate.stores.sqlalchemy.rows import DetachedLoader, PrecompiledQuery

__all__ = ["SESSION_COLUMNS", "StoreCore", "changed_one"]

T = TypeVar("T")

log = logging.getLogger("authgate.store")

#: How often a write is retried after losing a race that a retry resolves
#: (two sign-ups creating the same new role, say).
_ATTEMPTS = 3

SESSION_COLUMNS = (
    "id",
    "token_hash",
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "authenticated_at",
    "security_stamp",
    "remember",
    "ip",
    "user_agent",
    "data",
)


class StoreCore:
    """Connections, transactions and the mapped tables; the query modules build on it."""

    def __init__(
        self,
        bind: str | URL | Engine | sessionmaker[Session] | Any,
        *,
        user_model: type[Any] | None = None,
        role_model: type[Any] | None = None,
    ) -> None:
        self.user_model: type[Any] = user_model or User
        self.role_model: type[Any] = role_model or Role
        self._user_pk = primary_key(self.user_model)
        self._role_pk = primary_key(self.role_model)
        tables = tables_for(self.user_model.metadata)
        if (
            tables.user_roles is None
            or tables.sessions is None
            or tables.used_tokens is None
            or tables.emails is None
            or tables.events is None
            or tables.outbox is None
            or tables.refresh_tokens is None
            or tables.api_keys is None
            or tables.passkeys is None
            or tables.two_factor is None
            or tables.recovery_codes is None
            or tables.role_model is not self.role_model
        ):
            raise TypeError(
                f"{self.role_model.__name__} must be a RoleMixin model declared on the same "
                f"base (MetaData) as the UserMixin model {self.user_model.__name__}"
            )
        self._user_roles: Table = tables.user_roles
        self._sessions: Table = tables.sessions
        self._used_tokens: Table = tables.used_tokens
        self._emails: Table = tables.emails
        self._events: Table = tables.events
        self._outbox: Table = tables.outbox
        self._refresh_tokens: Table = tables.refresh_tokens
        self._api_keys: Table = tables.api_keys
        self._passkeys: Table = tables.passkeys
        self._two_factor: Table = tables.two_factor
        self._recovery_codes: Table = tables.recovery_codes
        self._users: Table = self._user_pk.table
        self._roles: Table = self._role_pk.table
        self._user_columns = column_attributes(self.user_model)
        sessions, links = self._sessions, self._user_roles
        self._session_keys = tuple(sessions.c.keys())
        self._session_width = len(self._session_keys)
        self._session_query = (
            select(sessions, self.user_model)
            .join_from(sessions, self.user_model, sessions.c.user_id == self._user_pk, isouter=True)
            .outerjoin(links, links.c.user_id == self._user_pk)
            .outerjoin(self.role_model, self._role_pk == links.c.role_id)
            .where(sessions.c.token_hash == bindparam("token_hash"))
            .options(contains_eager(self.user_model.roles))
        )
        self._loader = DetachedLoader(self.user_model, self.role_model)
        self._fast: PrecompiledQuery | None = None
        self._fast_user: PrecompiledQuery | None = None
        self._user_pk_index = self._loader.user_keys.index(self._user_pk.key)
        self._session_core = (
            select(sessions, *self._loader.user_columns, *self._loader.role_columns)
            .select_from(
                sessions.outerjoin(self._users, sessions.c.user_id == self._user_pk)
                .outerjoin(links, links.c.user_id == self._user_pk)
                .outerjoin(self._roles, self._role_pk == links.c.role_id)
            )
            .where(sessions.c.token_hash == bindparam("token_hash"))
        )
        self._user_core = (
            select(*self._loader.user_columns, *self._loader.role_columns)
            .select_from(
                self._users.outerjoin(links, links.c.user_id == self._user_pk).outerjoin(
                    self._roles, self._role_pk == links.c.role_id
                )
            )
            .where(self._user_pk == bindparam("user_id"))
        )

        self._db: Any = None
        self._engine: Engine | None = None
        self._owns_engine = False
        self._factory: sessionmaker[Session] | None = None
        # One shared in-memory SQLite connection must not run two transactions at once.
        self._serial: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if isinstance(bind, str | URL):
            self._engine = make_engine(bind)
            self._owns_engine = True
            if isinstance(self._engine.pool, StaticPool):
                self._serial = threading.RLock()
        elif isinstance(bind, Engine):
            self._engine = bind
        elif isinstance(bind, sessionmaker):
            engine = bind.kw.get("bind")
            if not isinstance(engine, Engine):
                raise TypeError("the sessionmaker must be bound to an Engine")
            self._engine, self._factory = engine, bind
        elif hasattr(bind, "session") and hasattr(bind, "Model"):
            self._db = bind
        else:
            raise TypeError(
                "SQLAlchemyStore needs a database URL, an Engine, a sessionmaker "
                f"or a Flask-SQLAlchemy object, not {type(bind).__name__}"
            )
        if self._db is None and self._factory is None:
            self._factory = sessionmaker(self._engine)

    @property
    def flask_db(self) -> Any:
        """The Flask-SQLAlchemy ``db`` this store uses, or ``None``."""
        return self._db

    @property
    def data_key(self) -> Hashable:
        """Equal for the stores of this process that reach the same data.

        ``Auth`` objects over the same data keep each other's session caches
        coherent (:func:`authgate.session_cache.group_for`), so the key names
        the data, not the URL's spelling: the real path of an SQLite file, or
        the server and database (:func:`~authgate.stores._common.database_identity`;
        ``sqlite:///x.db`` and ``sqlite:///x.db?timeout=30`` are one database).
        An in-memory SQLite database is identified by its engine (two stores
        over one engine share it), a Flask-SQLAlchemy ``db`` (whose engine
        needs an app context) by the ``db`` object.
        """
        if self._engine is None:
            return ("flask-sqlalchemy", id(self._db))
        url = self._engine.url
        database = url.database
        if url.get_backend_name() == "sqlite" and url.query.get("mode") == "memory":
            database = None
        host = url.host or url.query.get("host") or url.query.get("unix_socket")
        if isinstance(host, tuple):  # a repeated query option
            host = host[0]
        identity = database_identity(url.get_backend_name(), host, url.port, database)
        return identity if identity is not None else ("sqlite-memory", id(self._engine))

    @property
    def engine(self) -> Engine:
        """The engine in use (for a Flask-SQLAlchemy ``db``: ``db.engine``, app context needed)."""
        if self._engine is not None:
            return self._engine
        engine: Engine = self._db.engine
        return engine

    def close(self) -> None:
        """Dispose of the engine if this store created it."""
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()

    def ensure_schema(self) -> None:
        """Create or upgrade the tables; cheap when they are up to date.

        authgate's default models are migrated with the shipped Alembic
        migrations (one query when already at head). App-owned models get
        their user and role tables plus authgate's own tables created if
        missing (``create_all`` with ``checkfirst``); evolving them is the
        app's own migrations' job.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        from authgate.stores.sqlalchemy import migrate

        try:
            if self.user_model is User and self.role_model is Role:
                if migrate.current_revision(self.engine) != migrate.head_revision():
                    migrate.upgrade(self.engine)
            else:
                self.user_model.metadata.create_all(
                    self.engine,
                    tables=[
                        self._users,
                        self._roles,
                        self._user_roles,
                        self._sessions,
                        self._used_tokens,
                        self._emails,
                        self._events,
                        self._outbox,
                        self._refresh_tokens,
                        self._api_keys,
                        self._passkeys,
                        self._two_factor,
                        self._recovery_codes,
                    ],
                    checkfirst=True,
                )
        except (DBAPIError, PoolTimeoutError) as exc:
            raise unavailable(exc) from None

    # -- transactions -----------------------------------------------------------

    def _session(self) -> Session:
        if self._factory is not None:
            return self._factory(expire_on_commit=False)
        session: Session = self._db.session()
        return session

    def _execute(self, work: Callable[[Session], T], *, commit: bool) -> T:
        """Run ``work`` as one unit: commit it (writes) or just end it (reads).

        Rolls back on any failure. ``IntegrityError`` is re-raised for the
        caller to interpret; every other driver or pool failure becomes
        ``ServiceUnavailable``. Own sessions are closed (``expire_on_commit``
        is off, so returned objects stay loaded). A Flask-SQLAlchemy
        ``db.session`` is left open and reads are not committed: its objects
        follow its own settings (by default a commit expires them and they
        reload on access inside the app context), as in Flask-Security.
        """
        with self._serial:
            session = self._session()
            try:
                result = work(session)
                if commit:
                    session.commit()
                return result
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    session.rollback()
                if isinstance(exc, DBAPIError | PoolTimeoutError) and not isinstance(
                    exc, IntegrityError
                ):
                    raise unavailable(exc) from None
                raise
            finally:
                if self._db is None:
                    session.close()

    def _run(self, work: Callable[[Session], T]) -> T:
        """Run a read."""
        return self._execute(work, commit=False)

    def _write(
        self, work: Callable[[Session], T], *, retry: bool = False, expect_conflict: bool = False
    ) -> T:
        """Run and commit a write, mapping constraint violations.

        A violated email or username becomes ``UserExists``. Any other
        violation retries the whole transaction when ``retry`` is set (it
        lost a race a retry settles, such as a role created meanwhile), then
        propagates as ``IntegrityError`` when ``expect_conflict`` is set (the
        caller knows what it means) and becomes ``ServiceUnavailable`` otherwise.
        """
        attempts = _ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._execute(work, commit=True)
            except IntegrityError as exc:
                kind = self._violated(exc)
                if kind is not None:
                    raise UserExists(field=kind) from None
                if attempt < attempts:
                    continue
                if expect_conflict:
                    raise
                raise unavailable(exc) from None
        raise AssertionError("unreachable")

    def _violated(self, exc: IntegrityError) -> str | None:
        """Which unique rule ``exc`` broke: ``"email"``, ``"username"`` or ``None``."""
        table = self._users.name.lower()
        name = constraint_name(exc.orig).removeprefix(f"{table}.")
        for field, attribute in (("email", "email_canonical"), ("username", "username_canonical")):
            column = self._user_columns[attribute].name.lower()
            if name in (
                column,
                f"{table}_{column}_key",
                f"uq_{table}_{column}",
                f"ix_{table}_{column}",
            ):
                return field
        return None

    # -- helpers ----------------------------------------------------------------

    def _first(self, condition: ColumnElement[bool]) -> Any | None:
        query = select(self.user_model).where(condition)
        return self._run(lambda s: s.scalar(query))

    def _ordered_users(self) -> Any:
        return select(self.user_model).order_by(self.user_model.created_at, self._user_pk)

    def _roles_or_create(self, session: Session, names: Sequence[str]) -> list[Any]:
        """The named roles, missing ones added to ``session`` (flushed with the caller)."""
        if not names:
            return []
        found = {
            role.name: role
            for role in session.scalars(
                select(self.role_model).where(self.role_model.name.in_(names))
            )
        }
        for name in names:
            if name not in found:
                found[name] = self.role_model(name=name)
                session.add(found[name])
        session.flush()
        return [found[name] for name in sorted(names)]

    def _store_notices(self, session: Session, notices: Sequence[Notice], user_id: Any) -> None:
        """Insert ``notices`` in the caller's transaction (``user_id`` for those without one)."""
        if notices:
            owner = None if user_id is None else str(user_id)
            session.execute(insert(self._outbox), [notice_row(n, owner) for n in notices])

    def _session_row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(values)
        if "data" in row:
            row["data"] = json.dumps(row["data"] or {}, separators=(",", ":"))
        if "user_id" in row:
            key = coerce_key(self.user_model, row["user_id"])
            if key is INVALID_KEY:
                raise ValidationError(fields={"user_id": "invalid"})
            row["user_id"] = key
        return row

    @staticmethod
    def _record(row: Mapping[str, Any]) -> SessionRecord:
        values = dict(row)
        values["user_id"] = str(values["user_id"])
        values["data"] = json.loads(values["data"]) if values["data"] else {}
        values["remember"] = bool(values["remember"])
        return SessionRecord(**values)


def changed_one(result: Any) -> bool:
    """Whether a write changed exactly one row (the winner of a conditional write)."""
    return bool(result.rowcount == 1)
