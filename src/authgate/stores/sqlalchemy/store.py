"""The SQLAlchemy 2 store: users, roles, sessions and token claims in SQL.

Every public method is one short transaction. Uniqueness and single use are
decided by the database (unique indexes, primary keys, conditional
``UPDATE ... WHERE``), never by a read followed by a write, so concurrent
callers on several processes get the same answers as one caller would.
Driver and connection failures become :class:`~authgate.errors.ServiceUnavailable`
after a rollback, with the real error logged once under a short reference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect as sa_inspect,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, TimeoutError as PoolTimeoutError
from sqlalchemy.orm import (
    Session,
    contains_eager,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.orm.attributes import instance_state, manager_of_class, set_committed_value
from sqlalchemy.pool import StaticPool

from authgate.errors import ServiceUnavailable, UserExists, ValidationError
from authgate.models import (
    EmailRecord,
    Role,
    SessionRecord,
    User,
    canonical_email,
    canonical_username,
    new_id,
    tables_for,
)
from authgate.stores._common import (
    INVALID_KEY,
    check_attributes,
    coerce_key,
    column_attributes,
    permissions_text,
    primary_key,
)

__all__ = ["SQLAlchemyStore", "make_engine"]

T = TypeVar("T")

log = logging.getLogger("authgate.store")

#: How often a write is retried after losing a race that a retry resolves
#: (two sign-ups creating the same new role, say).
_ATTEMPTS = 3

_SESSION_COLUMNS = (
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

_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with authgate's connection settings.

    * ``postgresql://`` uses psycopg 3 and ``mysql://`` / ``mariadb://`` use
      PyMySQL when the URL names no driver; MySQL/MariaDB get ``charset=utf8mb4``.
    * Server connections are checked before use (``pool_pre_ping``).
    * SQLite connections enforce foreign keys, wait up to 5 s for a lock and,
      for files, use WAL; ``sqlite://`` (in memory) is one shared connection.

    Raises:
        ImportError: the database driver is not installed (names the extra to install).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if "+" not in parsed.drivername and backend in _DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{_DRIVERS[backend]}")
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
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


def _constraint_name(exc: IntegrityError) -> str:
    """The name of the violated constraint or key, as each driver reports it."""
    orig = exc.orig
    name = getattr(getattr(orig, "diag", None), "constraint_name", None)  # psycopg
    if name:
        return str(name)
    text = str(orig)
    # MariaDB/MySQL: "Duplicate entry '<value>' for key '<name>'". The value comes
    # first and may contain anything, so the key is after the *last* marker.
    if "for key '" in text:
        return text.rsplit("for key '", 1)[1].split("'", 1)[0]
    # SQLite: "UNIQUE constraint failed: <table>.<column>"
    if "constraint failed: " in text:
        return text.rsplit("constraint failed: ", 1)[1].split(",", 1)[0].strip()
    return ""


class SQLAlchemyStore:
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
        self._loader = _DetachedLoader(self.user_model, self.role_model)
        self._fast: _PrecompiledQuery | None = None
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
    def data_key(self) -> tuple[str, str] | None:
        """Equal for the stores of this process over the same database, else ``None``.

        ``Auth`` objects over the same database keep each other's session
        caches coherent (:func:`authgate.session_cache.group_for`). ``None``
        for a private in-memory SQLite database and for a Flask-SQLAlchemy
        ``db`` (whose engine needs an app context).
        """
        if self._engine is None:
            return None
        url = self._engine.url
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:") or url.database.startswith("file:"):
                return None
            url = url.set(database=os.path.abspath(url.database))
        return ("sqlalchemy", url.render_as_string(hide_password=True))

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
        their user and role tables plus authgate's four tables created if
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
                    ],
                    checkfirst=True,
                )
        except (DBAPIError, PoolTimeoutError) as exc:
            raise _unavailable(exc) from None

    # -- users ------------------------------------------------------------------

    def create_user(self, fields: Mapping[str, Any], roles: Sequence[str] = ()) -> Any:
        """Insert a user and their role links (missing roles are created) in one transaction.

        Raises:
            UserExists: the canonical email or username is taken (``field`` says which).
            ValidationError: ``email`` is missing.
        """
        if not fields.get("email"):
            raise ValidationError(fields={"email": "required"})
        names = sorted(set(roles))

        def work(session: Session) -> Any:
            user = self.user_model(**fields)
            user.roles = self._roles_or_create(session, names)
            session.add(user)
            session.flush()
            return user

        return self._write(work, retry=bool(names))

    def get_user(self, user_id: Any) -> Any | None:
        """The user with this id (a string is converted to the key type), or ``None``."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        return self._run(lambda s: s.get(self.user_model, key))

    def get_user_by_email(self, email_canonical: str) -> Any | None:
        """The user with this canonical email, or ``None`` (one indexed query)."""
        return self._first(self.user_model.email_canonical == email_canonical)

    def get_user_by_username(self, username_canonical: str) -> Any | None:
        """The user with this canonical username, or ``None`` (one indexed query)."""
        return self._first(self.user_model.username_canonical == username_canonical)

    def find_users(self, filters: Mapping[str, Any]) -> list[Any]:
        """Users whose attributes equal every filter (email/username canonically).

        Raises:
            ValidationError: a filter names no column of the user model (``unknown_field``).
        """
        check_attributes(self.user_model, filters)
        conditions: list[ColumnElement[bool]] = []
        for name, wanted in filters.items():
            column, value = self._user_columns[name], wanted
            if name == "email" and wanted is not None:
                column, value = self._user_columns["email_canonical"], canonical_email(wanted)
            elif name == "username":
                column = self._user_columns["username_canonical"]
                value = canonical_username(wanted) if wanted else None
            elif column is self._user_pk:
                value = coerce_key(self.user_model, wanted)
                if value is INVALID_KEY:
                    return []
            conditions.append(column.is_(None) if value is None else column == value)
        return self._run(lambda s: list(s.scalars(self._ordered_users().where(*conditions))))

    def list_users(self, offset: int = 0, limit: int | None = None) -> list[Any]:
        """Users ordered by creation time."""
        query = self._ordered_users().offset(offset).limit(limit)
        return self._run(lambda s: list(s.scalars(query)))

    def count_users(self) -> int:
        """How many users exist."""
        query = select(func.count()).select_from(self._users)
        return self._run(lambda s: int(s.scalar(query) or 0))

    def update_user(
        self,
        user_id: Any,
        changes: Mapping[str, Any],
        expect: Mapping[str, Any] | None = None,
    ) -> Any | None:
        """Apply ``changes`` in one ``UPDATE ... WHERE id=:id AND <expect>``.

        Returns the reloaded user, or ``None`` when the user does not exist or
        an expected value no longer holds (then nothing changed).

        Raises:
            UserExists: the new email or username is taken.
            ValidationError: a name is not a writable column (``unknown_field``).
        """
        check_attributes(self.user_model, changes, writable=True)
        check_attributes(self.user_model, expect or {})
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        values = {self._user_columns[name]: value for name, value in changes.items()}
        if "email" in changes:
            values[self._user_columns["email_canonical"]] = canonical_email(changes["email"])
        if "username" in changes:
            name = changes["username"]
            values[self._user_columns["username_canonical"]] = (
                canonical_username(name) if name else None
            )
        conditions = [self._user_pk == key]
        for name, value in (expect or {}).items():
            column = self._user_columns[name]
            conditions.append(column.is_(None) if value is None else column == value)

        def work(session: Session) -> Any | None:
            if values:
                result = session.execute(update(self._users).where(*conditions).values(values))
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    return None
            elif session.scalar(select(self._user_pk).where(*conditions)) is None:
                return None
            return session.get(self.user_model, key, populate_existing=True)

        return self._write(work)

    def delete_user(self, user_id: Any) -> bool:
        """Delete the user with their sessions, role links and extra email addresses."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False

        def work(session: Session) -> bool:
            for table in (self._sessions, self._user_roles, self._emails):
                session.execute(delete(table).where(table.c.user_id == key))
            result = session.execute(delete(self._users).where(self._user_pk == key))
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._write(work)

    # -- roles ------------------------------------------------------------------

    def create_role(
        self, name: str, description: str | None = None, permissions: Sequence[str] = ()
    ) -> Any:
        """Create a role.

        Raises:
            ValidationError: the name is taken (``{"name": "taken"}``).
        """

        def work(session: Session) -> Any:
            role = self.role_model(
                name=name, description=description, permissions=permissions_text(permissions)
            )
            session.add(role)
            session.flush()
            return role

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise ValidationError(fields={"name": "taken"}) from None

    def get_role(self, name: str) -> Any | None:
        """The role with this name, or ``None``."""
        query = select(self.role_model).where(self.role_model.name == name)
        return self._run(lambda s: s.scalar(query))

    def list_roles(self) -> list[Any]:
        """Every role, ordered by name."""
        query = select(self.role_model).order_by(self.role_model.name)
        return self._run(lambda s: list(s.scalars(query)))

    def update_role(self, name: str, changes: Mapping[str, Any]) -> Any | None:
        """Change a role's fields (``permissions`` may be a list); ``None`` if it does not exist.

        Raises:
            ValidationError: an unknown field, or a new name that is taken.
        """
        check_attributes(self.role_model, changes, writable=True)

        def work(session: Session) -> Any | None:
            role = session.scalar(select(self.role_model).where(self.role_model.name == name))
            if role is None:
                return None
            for key, value in changes.items():
                setattr(role, key, permissions_text(value) if key == "permissions" else value)
            session.flush()
            return role

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise ValidationError(fields={"name": "taken"}) from None

    def delete_role(self, name: str) -> bool:
        """Delete a role and its links to users."""
        role_id = select(self._role_pk).where(self.role_model.name == name).scalar_subquery()

        def work(session: Session) -> bool:
            links = self._user_roles
            session.execute(delete(links).where(links.c.role_id == role_id))
            result = session.execute(delete(self._roles).where(self._roles.c.name == name))
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._write(work)

    def add_role_to_user(self, user_id: Any, role_name: str) -> bool:
        """Give a user a role (created if missing); ``False`` if they had it or do not exist."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False
        links = self._user_roles

        def work(session: Session) -> bool:
            if session.scalar(select(self._user_pk).where(self._user_pk == key)) is None:
                return False
            (role,) = self._roles_or_create(session, [role_name])
            role_id = getattr(role, self._role_pk.key)
            held = select(links.c.user_id).where(links.c.user_id == key, links.c.role_id == role_id)
            if session.scalar(held) is not None:
                return False
            session.execute(insert(links).values(user_id=key, role_id=role_id))
            return True

        # A lost race (the role or the link created meanwhile) is settled by a retry.
        return self._write(work, retry=True)

    def remove_role_from_user(self, user_id: Any, role_name: str) -> bool:
        """Take a role away; ``False`` if the user did not have it."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False
        links = self._user_roles
        role_id = select(self._role_pk).where(self.role_model.name == role_name).scalar_subquery()

        def work(session: Session) -> bool:
            gone = delete(links).where(links.c.user_id == key, links.c.role_id == role_id)
            return bool(session.execute(gone).rowcount)  # type: ignore[attr-defined]

        return self._write(work)

    # -- sessions ---------------------------------------------------------------

    def create_session(self, record: SessionRecord) -> None:
        """Store a new session."""
        row = self._session_row(
            {name: getattr(record, name) for name in _SESSION_COLUMNS if name != "id"}
        )
        statement = insert(self._sessions).values(id=record.id, **row)
        self._write(lambda s: s.execute(statement))

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        """The session, its user and the user's roles in ONE indexed statement.

        sessions ⋈ users ⋈ user_roles ⋈ roles, all by primary or unique keys
        (flat outer joins: SQLite would scan the link table for a nested one),
        built once with a bound parameter so SQLAlchemy's compiled cache hits.

        This runs on every authenticated request, so outside a Flask-SQLAlchemy
        session (whose objects must belong to ``db.session``) it skips the ORM
        unit of work: the statement, compiled once by SQLAlchemy for the
        engine's dialect, runs on a pooled DBAPI connection (see
        :class:`_PrecompiledQuery`), and the user and roles are built as
        *detached* instances, exactly what a closed ORM session would have
        handed back.
        """
        if self._db is not None:
            return self._run(self._orm_session_lookup(token_hash))
        rows = self._fast_lookup.rows(token_hash)
        if not rows:
            return None
        first = rows[0]
        record = self._record(
            dict(zip(self._session_keys, first[: self._session_width], strict=True))
        )
        if first[self._session_width + self._user_pk_index] is None:
            return record, None
        return record, self._loader.user(first, rows)

    @property
    def _fast_lookup(self) -> _PrecompiledQuery:
        if self._fast is None:  # compiled on first use: the engine may come late
            self._fast = _PrecompiledQuery(self.engine, self._session_core, self._serial)
        return self._fast

    def _orm_session_lookup(
        self, token_hash: str
    ) -> Callable[[Session], tuple[SessionRecord, Any | None] | None]:
        def work(session: Session) -> tuple[SessionRecord, Any | None] | None:
            result = session.execute(self._session_query, {"token_hash": token_hash})
            rows = result.unique().all()
            if not rows:
                return None
            first = rows[0]
            columns = first[: self._session_width]
            record = self._record(dict(zip(self._session_keys, columns, strict=True)))
            return record, first[self._session_width]

        return work

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        """Record activity."""
        statement = (
            update(self._sessions)
            .where(self._sessions.c.id == session_id)
            .values(last_seen_at=last_seen_at)
        )
        self._write(lambda s: s.execute(statement))

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of a session; ``False`` if it does not exist.

        Raises:
            ValidationError: a name is not a session field (``unknown_field``).
        """
        unknown = {k: "unknown_field" for k in changes if k not in _SESSION_COLUMNS or k == "id"}
        if unknown:
            raise ValidationError(fields=unknown)
        statement = (
            update(self._sessions)
            .where(self._sessions.c.id == session_id)
            .values(self._session_row(changes))
        )
        return self._write(lambda s: bool(s.execute(statement).rowcount == 1))  # type: ignore[attr-defined]

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        """The user's sessions, newest first."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return []
        sessions = self._sessions
        query = (
            select(sessions)
            .where(sessions.c.user_id == key)
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        )
        return self._run(lambda s: [self._record(dict(row)) for row in s.execute(query).mappings()])

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        """Delete one session; with ``user_id``, only if it belongs to that user."""
        sessions = self._sessions
        conditions = [sessions.c.id == session_id]
        if user_id is not None:
            key = coerce_key(self.user_model, user_id)
            if key is INVALID_KEY:
                return False
            conditions.append(sessions.c.user_id == key)
        statement = delete(sessions).where(*conditions)
        return self._write(lambda s: bool(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        """Delete every session of the user but ``except_session_id``; returns how many."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return 0
        sessions = self._sessions
        conditions = [sessions.c.user_id == key]
        if except_session_id is not None:
            conditions.append(sessions.c.id != except_session_id)
        statement = delete(sessions).where(*conditions)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        """Delete sessions whose absolute expiry has passed; returns how many."""
        statement = delete(self._sessions).where(self._sessions.c.expires_at <= now)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    # -- extra email addresses ---------------------------------------------------

    def add_email(
        self, user_id: Any, email: str, confirmed_at: dt.datetime | None = None
    ) -> EmailRecord:
        """Add an extra address; ``UserExists`` if it is already an extra address."""
        key = coerce_key(self.user_model, user_id)
        record = EmailRecord(
            id=new_id(), user_id=str(user_id), email=email, email_canonical=canonical_email(email),
            confirmed_at=confirmed_at, created_at=dt.datetime.now(dt.timezone.utc),
        )  # fmt: skip
        row = {**dataclasses.asdict(record), "user_id": key}

        def work(session: Session) -> EmailRecord:
            session.execute(insert(self._emails).values(row))
            return record

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise UserExists(field="email") from None

    def list_emails(self, user_id: Any) -> list[EmailRecord]:
        """The user's extra addresses, oldest first."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return []
        emails = self._emails
        query = select(emails).where(emails.c.user_id == key).order_by(emails.c.created_at)
        return self._run(lambda s: [self._email(r) for r in s.execute(query).mappings()])

    def get_email(self, email_id: str) -> EmailRecord | None:
        """One extra address by id."""
        return self._one_email(self._emails.c.id == email_id)

    def find_email(self, email_canonical: str) -> EmailRecord | None:
        """The extra address with this canonical form."""
        return self._one_email(self._emails.c.email_canonical == email_canonical)

    def confirm_email_address(self, email_id: str, confirmed_at: dt.datetime) -> bool:
        """Mark confirmed once (``UPDATE ... WHERE confirmed_at IS NULL``)."""
        emails = self._emails
        statement = (
            update(emails)
            .where(emails.c.id == email_id, emails.c.confirmed_at.is_(None))
            .values(confirmed_at=confirmed_at)
        )
        return self._write(lambda s: _changed_one(s.execute(statement)))

    def delete_email(self, email_id: str, user_id: Any) -> bool:
        """Remove one of the user's extra addresses."""
        key = coerce_key(self.user_model, user_id)
        emails = self._emails
        statement = delete(emails).where(emails.c.id == email_id, emails.c.user_id == key)
        return self._write(lambda s: _changed_one(s.execute(statement)))

    def swap_primary_email(
        self, user_id: Any, email_id: str, expect_stamp: str, new_stamp: str
    ) -> Any | None:
        """Exchange the primary address with a confirmed extra one in one transaction."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        emails, columns = self._emails, self._user_columns

        def work(session: Session) -> Any | None:
            found = session.execute(
                select(emails).where(
                    emails.c.id == email_id, emails.c.user_id == key,
                    emails.c.confirmed_at.is_not(None),
                )
            ).mappings().first()  # fmt: skip
            user = session.get(self.user_model, key)
            if found is None or user is None or user.security_stamp != expect_stamp:
                return None
            old_email, old_confirmed = user.email, user.email_confirmed_at
            result = session.execute(
                update(self._users)
                .where(self._user_pk == key, columns["security_stamp"] == expect_stamp)
                .values({
                    columns["email"]: found["email"],
                    columns["email_canonical"]: found["email_canonical"],
                    columns["email_confirmed_at"]: found["confirmed_at"],
                    columns["security_stamp"]: new_stamp,
                })
            )  # fmt: skip
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            session.execute(
                update(emails).where(emails.c.id == email_id).values(
                    email=old_email, email_canonical=canonical_email(old_email),
                    confirmed_at=old_confirmed or found["confirmed_at"],
                )
            )  # fmt: skip
            return session.get(self.user_model, key, populate_existing=True)

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise UserExists(field="email") from None

    def _one_email(self, condition: ColumnElement[bool]) -> EmailRecord | None:
        query = select(self._emails).where(condition)

        def work(session: Session) -> EmailRecord | None:
            row = session.execute(query).mappings().first()
            return None if row is None else self._email(row)

        return self._run(work)

    @staticmethod
    def _email(row: Any) -> EmailRecord:
        return EmailRecord(**{**dict(row), "user_id": str(row["user_id"])})

    # -- token claims -----------------------------------------------------------

    def claim_token(
        self, jti: str, purpose: str, user_id: Any, expires_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """Claim a token by inserting its id; the primary key lets exactly one caller win."""
        statement = insert(self._used_tokens).values(
            jti=jti,
            purpose=purpose,
            user_id=None if user_id is None else str(user_id),
            used_at=now,
            expires_at=expires_at,
        )
        try:
            self._write(lambda s: s.execute(statement), expect_conflict=True)
        except IntegrityError:
            return False
        return True

    def is_claimed(self, jti: str) -> bool:
        """Whether ``jti`` was claimed (one primary-key lookup)."""
        query = select(self._used_tokens.c.jti).where(self._used_tokens.c.jti == jti)
        return self._run(lambda s: s.scalar(query) is not None)

    def purge_used_tokens(self, now: dt.datetime) -> int:
        """Forget claims whose token has expired anyway; returns how many."""
        statement = delete(self._used_tokens).where(self._used_tokens.c.expires_at <= now)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]

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
                    raise _unavailable(exc) from None
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
                raise _unavailable(exc) from None
        raise AssertionError("unreachable")

    def _violated(self, exc: IntegrityError) -> str | None:
        """Which unique rule ``exc`` broke: ``"email"``, ``"username"`` or ``None``."""
        table = self._users.name.lower()
        name = _constraint_name(exc).lower().removeprefix(f"{table}.")
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


class _PrecompiledQuery:
    """One SELECT compiled once by SQLAlchemy, run on a pooled DBAPI connection.

    Why: on SQLite a Core ``Connection.execute`` costs ~55 µs against ~17 µs
    for the same compiled SQL on the pooled DBAPI connection, and this query
    runs on every authenticated request. SQLAlchemy still does the parts that
    matter: it compiles the statement for the dialect, owns the pool, and its
    types' result processors convert each value (aware UTC datetimes,
    booleans); only the Connection/Result wrappers are skipped. Driver errors
    become ``ServiceUnavailable`` like everywhere else.
    """

    def __init__(self, engine: Engine, statement: Any, serial: Any) -> None:
        self._engine = engine
        self._serial = serial
        compiled = statement.compile(dialect=engine.dialect)
        self._sql = compiled.string
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        if names != ["token_hash"]:
            raise TypeError(f"expected one bound parameter 'token_hash', got {names}")
        self._positional = compiled.positional
        processors = [
            column.type._cached_result_processor(engine.dialect, None)
            for column in statement.selected_columns
        ]
        #: Only the columns whose values need converting (datetimes, SQLite booleans...).
        self._convert = [(i, p) for i, p in enumerate(processors) if p is not None]
        self._errors: tuple[type[BaseException], ...] = (
            engine.dialect.loaded_dbapi.Error,
            DBAPIError,
            PoolTimeoutError,
        )

    def rows(self, token_hash: str) -> list[list[Any]]:
        """The result rows, every value converted as SQLAlchemy would."""
        bound: Any = [token_hash] if self._positional else {"token_hash": token_hash}
        try:
            with self._serial:
                connection = self._engine.raw_connection()
                try:
                    cursor = connection.cursor()
                    cursor.execute(self._sql, bound)
                    raw = cursor.fetchall()
                    cursor.close()
                finally:
                    connection.close()
        except self._errors as exc:
            raise _unavailable(exc) from None
        rows = []
        for values in raw:
            row = list(values)
            for index, process in self._convert:
                row[index] = process(row[index])
            rows.append(row)
        return rows


class _DetachedLoader:
    """Builds detached user and role instances from one Core row, as the ORM would.

    Attributes are set as committed values (nothing is dirty) and each object
    gets its identity key, so it behaves exactly like an object loaded by a
    session that has since closed.
    """

    def __init__(self, user_model: type[Any], role_model: type[Any]) -> None:
        self.user_model, self.role_model = user_model, role_model
        user_props = [(p.key, p.columns[0]) for p in sa_inspect(user_model).column_attrs]
        role_props = [(p.key, p.columns[0]) for p in sa_inspect(role_model).column_attrs]
        self.user_keys = [key for key, _ in user_props]
        self.role_keys = [key for key, _ in role_props]
        self.user_columns = [column for _, column in user_props]
        self.role_columns = [column for _, column in role_props]
        self._role_name = self.role_keys.index("name")

    def _build(self, model: type[Any], keys: list[str], values: Sequence[Any]) -> Any:
        obj = manager_of_class(model).new_instance()
        # Column values go straight into the instance dict, as the ORM's own
        # row loader does: loaded state, nothing pending, nothing dirty.
        instance_state(obj).dict.update(zip(keys, values, strict=True))
        make_transient_to_detached(obj)
        return obj

    def user(self, first: Sequence[Any], rows: Sequence[Sequence[Any]]) -> Any:
        """The user of ``first`` with the roles spread over ``rows``."""
        width = len(first) - len(self.user_keys) - len(self.role_keys)
        end = width + len(self.user_keys)
        user = self._build(self.user_model, self.user_keys, first[width:end])
        roles = [
            self._build(self.role_model, self.role_keys, row[end:])
            for row in rows
            if row[end + self._role_name] is not None
        ]
        roles.sort(key=lambda role: role.name)
        set_committed_value(user, "roles", roles)
        return user


def _changed_one(result: Any) -> bool:
    """Whether a write changed exactly one row (the winner of a conditional write)."""
    return bool(result.rowcount == 1)


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    """Log ``exc`` once under a short reference and return the error the caller sees."""
    ref = uuid.uuid4().hex[:12]
    log.error("storage backend failure (ref %s)", ref, exc_info=exc)
    return ServiceUnavailable(f"{ServiceUnavailable.default_message} (ref {ref})")
