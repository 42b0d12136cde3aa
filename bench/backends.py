"""The stores measured, each prepared with 1 user and with many users.

Each ``*_setup`` function is a context manager that yields a :class:`Setup`
with one :class:`State` per user count and removes everything on exit (the
temporary SQLite files, the PostgreSQL database ``authgate_bench``).

Users are loaded fast: one password hash is computed up front and shared by
every row. The known user (the one signed in) is created through
``auth.users.create_user`` like any real user; the others go in with SQLAlchemy
Core ``insert()`` executemany batches straight into the user table, the
user-role link table (each user holds the role ``member``) and the session
table (each user has one live session), so that the session lookup, too, has
a full table to find its row in. The memory store has no table, so it gets
its users and sessions through its own ``create_user`` and ``create_session``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from authgate import Auth
from authgate.models import SessionRecord, tables_for, utcnow

__all__ = [
    "BENCH_DATABASE",
    "KNOWN_EMAIL",
    "PASSWORD",
    "SECRET",
    "BackendUnavailable",
    "Setup",
    "State",
    "memory_setup",
    "postgres_setup",
    "sqlite_setup",
]

SECRET = "authgate-bench-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
KNOWN_EMAIL = "known.user@example.com"
ROLE = "member"
#: The database created (and dropped) on the PostgreSQL server for the run.
BENCH_DATABASE = "authgate_bench"
#: Rows per executemany batch when bulk-loading users.
INSERT_BATCH = 5_000

#: The benchmark settings: production defaults (argon2id parameters, trackable
#: sign-ins, session timeouts), except that sign-in throttling is off so that
#: repeated sign-ins of one user are not rate limited, and that the session
#: cache is off: ``get_session`` here is the store's lookup (what every request
#: paid before the cache, and what a cache miss pays). ``State.cached`` is the
#: same store behind the default session cache.
SETTINGS: dict[str, Any] = {
    "throttle_sign_in": False,
    "session_cache_ttl": 0,
    # No emails are sent here; a real deployment sets both (Auth() warns otherwise).
    "base_url": "http://127.0.0.1:8000",
    "send_email": lambda message: None,
}


class BackendUnavailable(Exception):
    """The backend cannot be measured here (e.g. no PostgreSQL server)."""


@dataclass
class State:
    """One store holding ``users`` users, with the known user signed in."""

    users: int
    auth: Auth
    user_id: Any
    #: A bare lookup of the known user by primary key on the same engine
    #: (or a dict lookup for the memory store).
    baseline: Callable[[], object]
    engine: Engine | None = None
    token: str = ""
    #: The same store behind the default session cache.
    cached: Auth | None = None

    def sign_in_known_user(self) -> None:
        """Sign the known user in once; keep the token for the session lookups."""
        self.token = self.auth.sign_in(KNOWN_EMAIL, PASSWORD).token
        defaults = {k: v for k, v in SETTINGS.items() if k != "session_cache_ttl"}
        self.cached = Auth(SECRET, store=self.auth.store, **defaults)


@dataclass
class Setup:
    """The states of one backend, and facts worth reporting about it."""

    name: str
    states: list[State]
    notes: dict[str, str] = field(default_factory=dict)


def _new_auth(database_url: str | None) -> Auth:
    return Auth(SECRET, database_url=database_url, **SETTINGS)


def _create_known_user(auth: Auth, password_hash: str) -> Any:
    return auth.users.create_user(email=KNOWN_EMAIL, password_hash=password_hash, roles=[ROLE])


def _other_email(number: int) -> str:
    return f"user{number:06d}@example.com"


def _session_values(user_id: str, stamp: str, now: dt.datetime) -> dict[str, Any]:
    """A live session of another user (its token is never used, only its digest stored)."""
    return {
        "id": secrets.token_urlsafe(16),
        "token_hash": secrets.token_hex(32),
        "user_id": user_id,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + dt.timedelta(days=7),
        "authenticated_at": now,
        "security_stamp": stamp,
        "remember": False,
    }


# -- memory ---------------------------------------------------------------------


def _memory_state(users: int, password_hash: str) -> State:
    auth = _new_auth(None)
    known = _create_known_user(auth, password_hash)
    by_id: dict[Any, Any] = {known.id: known}
    now = utcnow()
    for number in range(1, users):
        user = auth.store.create_user(
            {
                "email": _other_email(number),
                "password_hash": password_hash,
                "is_active": True,
                "email_confirmed_at": now,
            },
            [ROLE],
        )
        by_id[user.id] = user
        auth.store.create_session(
            SessionRecord(**_session_values(str(user.id), user.security_stamp, now))
        )
    key = known.id
    return State(users, auth, key, baseline=lambda: by_id[key])


@contextlib.contextmanager
def memory_setup(counts: Sequence[int], password_hash: str) -> Iterator[Setup]:
    """The in-memory store; the baseline is a dict lookup of the user by id."""
    yield Setup("memory", [_memory_state(n, password_hash) for n in counts])


# -- SQL --------------------------------------------------------------------------


def bulk_insert_users(auth: Auth, count: int, password_hash: str) -> None:
    """Insert ``count`` users with Core executemany batches, each with the role and a session."""
    engine: Engine = auth.store.engine  # type: ignore[attr-defined]
    users = auth.User.__table__
    tables = tables_for(auth.User.metadata)
    links, sessions = tables.user_roles, tables.sessions
    assert links is not None and sessions is not None
    role = auth.store.get_role(ROLE)
    assert role is not None
    now = utcnow()
    with engine.begin() as connection:
        for start in range(1, count + 1, INSERT_BATCH):
            rows = []
            for number in range(start, min(count + 1, start + INSERT_BATCH)):
                email = _other_email(number)
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "email": email,
                        "email_canonical": email,
                        "username": None,
                        "username_canonical": None,
                        "password_hash": password_hash,
                        "is_active": True,
                        "email_confirmed_at": now,
                        "security_stamp": secrets.token_hex(16),
                        "created_at": now - dt.timedelta(seconds=count - number),
                        "sign_in_count": 0,
                    }
                )
            connection.execute(insert(users), rows)
            connection.execute(
                insert(links), [{"user_id": row["id"], "role_id": role.id} for row in rows]
            )
            connection.execute(
                insert(sessions),
                [_session_values(row["id"], row["security_stamp"], now) for row in rows],
            )


def _sql_state(database_url: str, users: int, password_hash: str) -> State:
    auth = _new_auth(database_url)
    engine: Engine = auth.store.engine  # type: ignore[attr-defined]
    known = _create_known_user(auth, password_hash)
    bulk_insert_users(auth, users - 1, password_hash)
    table = auth.User.__table__
    statement = select(table).where(table.c.id == bindparam("id"))
    parameters = {"id": known.id}

    def baseline() -> object:
        # Checkout from the store's own pool (with its pre-ping), execute, fetch.
        with engine.connect() as connection:
            return connection.execute(statement, parameters).fetchone()

    return State(users, auth, known.id, baseline=baseline, engine=engine)


@contextlib.contextmanager
def sqlite_setup(counts: Sequence[int], password_hash: str) -> Iterator[Setup]:
    """One SQLite file per user count, in a temporary directory (WAL, as authgate sets it)."""
    with tempfile.TemporaryDirectory(prefix="authgate-bench-") as directory:
        states: list[State] = []
        try:
            for count in counts:
                path = Path(directory) / f"users_{count}.db"
                states.append(_sql_state(f"sqlite:///{path}", count, password_hash))
            yield Setup("sqlite", states, {"database": "file in a temporary directory, WAL"})
        finally:
            for state in states:
                state.auth.store.close()


@contextlib.contextmanager
def postgres_setup(counts: Sequence[int], password_hash: str, admin_url: str) -> Iterator[Setup]:
    """Database ``authgate_bench``, one schema per user count, dropped on exit.

    The database is created and dropped through an autocommit connection to
    ``admin_url``'s database. Each state's engine selects its schema with
    ``search_path``, so both states live side by side and their rounds can be
    interleaved. ``VACUUM ANALYZE`` runs after loading, so the planner has
    statistics and autovacuum has nothing left to do during the timings.
    """
    url = make_url(admin_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
            connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise BackendUnavailable(
            f"PostgreSQL unavailable at {url.host}:{url.port}: {reason}"
        ) from None
    bench_url = url.set(database=BENCH_DATABASE)
    bench_admin = create_engine(bench_url, isolation_level="AUTOCOMMIT")
    states: list[State] = []
    try:
        for count in counts:
            schema = f"users_{count}"
            with bench_admin.connect() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            state_url = bench_url.update_query_dict({"options": f"-csearch_path={schema}"})
            states.append(
                _sql_state(state_url.render_as_string(hide_password=False), count, password_hash)
            )
        with bench_admin.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
        yield Setup(
            "postgres",
            states,
            {"server": f"PostgreSQL {version}", "database": f"{BENCH_DATABASE} on {url.host}"},
        )
    finally:
        for state in states:
            state.auth.store.close()
        bench_admin.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        admin.dispose()
