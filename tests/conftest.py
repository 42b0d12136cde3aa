"""Fixtures shared by the test suite."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData

from authgate.models import Base
from authgate.stores import MemoryStore
from authgate.stores.sqlalchemy import SQLAlchemyStore

from ._names import worker_database

# == Store backends ==============================================================
#
# `store` runs a test on every backend in STORE_BACKENDS; `sql_store` on the SQL
# ones only. PostgreSQL and MariaDB are real servers: each pytest-xdist worker
# gets its own databases (dropped and recreated at session start) and every
# table is emptied after each test. An unreachable server skips its tests,
# except under CI=true, where it fails them.

STORE_BACKENDS = ["memory", "sqlite", "postgres", "mysql"]
#: The `store` fixture's backends: also "redis", sessions in Redis and the rest in SQLite.
WITH_REDIS_SESSIONS = [*STORE_BACKENDS, "redis"]
SQL_BACKENDS = ["sqlite", "postgres", "mysql"]
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
#: The shared Redis server; tests use database 15 and keys under a prefix of their own.
REDIS_URL = "redis://127.0.0.1:6379/15"
_SERVICES = {"postgres": ("PostgreSQL", POSTGRES_URL), "mysql": ("MariaDB/MySQL", MYSQL_URL)}
_MARKS = {"postgres": pytest.mark.postgres, "mysql": pytest.mark.mysql, "redis": pytest.mark.redis}


def backend_params(names: list[str]) -> list[Any]:
    """``pytest.param`` per backend name, carrying its marker (postgres, mysql)."""
    return [pytest.param(name, id=name, marks=_MARKS.get(name, ())) for name in names]


def service_unavailable(service: str, exc: BaseException) -> NoReturn:
    """Fail under ``CI=true`` (the service is required there), skip elsewhere."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if os.environ.get("CI") == "true":
        pytest.fail(f"{service} is required under CI=true: {detail}")
    pytest.skip(f"{service} is not reachable: {detail}")


def _fresh_database(backend: str, suffix: str) -> sa.URL:
    """Drop and recreate this worker's database ``authgate_test_<worker><suffix>``."""
    service, admin_url = _SERVICES[backend]
    name = worker_database(suffix)
    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with admin.connect() as connection:
            if backend == "postgres":
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                # The server's usual case- and accent-insensitive default collation, on
                # purpose: the canonical columns must not depend on it.
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
                connection.exec_driver_sql(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
    except sa.exc.OperationalError as exc:
        service_unavailable(service, exc)
    finally:
        admin.dispose()
    return sa.make_url(admin_url).set(database=name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], str]:
    """``database_url(backend, suffix)``: the URL of a fresh, empty database of this worker.

    Each (backend, suffix) is created once per session; use a suffix per schema
    (default models, app models...) since they share table names.
    """
    urls: dict[tuple[str, str], str] = {}

    def make(backend: str, suffix: str = "") -> str:
        if (backend, suffix) not in urls:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("sqlite") / f"authgate{suffix}.db"
                urls[backend, suffix] = f"sqlite:///{path}"
            else:
                url = _fresh_database(backend, suffix)
                urls[backend, suffix] = url.render_as_string(hide_password=False)
        return urls[backend, suffix]

    return make


def empty_tables(engine: sa.Engine, metadata: MetaData) -> None:
    """Delete every row of ``metadata``'s tables, children first."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="session")
def _sql_stores(database_url: Callable[[str, str], str]) -> Iterator[dict[str, SQLAlchemyStore]]:
    """One migrated SQLAlchemyStore per SQL backend, made on first use."""
    stores: dict[str, SQLAlchemyStore] = {}
    yield stores
    for store in stores.values():
        store.close()


def _sql_store(backend: str, stores: dict[str, SQLAlchemyStore], url: str) -> SQLAlchemyStore:
    if backend not in stores:
        store = SQLAlchemyStore(url)
        store.ensure_schema()
        stores[backend] = store
    return stores[backend]


@pytest.fixture(params=backend_params(WITH_REDIS_SESSIONS))
def store(
    request: pytest.FixtureRequest,
    _sql_stores: dict[str, SQLAlchemyStore],
    database_url: Callable[[str, str], str],
) -> Iterator[Any]:
    """A store with the default models and no data, on each backend.

    ``redis``: sessions in Redis (``RedisSessionStore``), everything else in
    SQLite, as ``Auth(redis_url=...)`` builds it.
    """
    backend: str = request.param
    if backend == "memory":
        yield MemoryStore()
        return
    if backend == "redis":
        sql = _sql_store("sqlite", _sql_stores, database_url("sqlite", ""))
        with redis_sessions(sql) as split:
            yield split
        empty_tables(sql.engine, Base.metadata)
        return
    sql = _sql_store(backend, _sql_stores, database_url(backend, ""))
    yield sql
    empty_tables(sql.engine, Base.metadata)


@pytest.fixture(params=backend_params(SQL_BACKENDS))
def sql_store(
    request: pytest.FixtureRequest,
    _sql_stores: dict[str, SQLAlchemyStore],
    database_url: Callable[[str, str], str],
) -> Iterator[SQLAlchemyStore]:
    """A SQLAlchemyStore with the default models and no data, on each SQL backend."""
    backend: str = request.param
    sql = _sql_store(backend, _sql_stores, database_url(backend, ""))
    yield sql
    empty_tables(sql.engine, Base.metadata)


# == Redis ======================================================================


def redis_client(url: str = REDIS_URL) -> Any:
    """A client of the shared Redis server; skips (fails under ``CI=true``) if it is down."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        service_unavailable("Redis", exc)
    return client


@contextlib.contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test alone on the shared Redis; its keys are deleted afterwards."""
    client = redis_client()
    prefix = f"authgate-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@contextlib.contextmanager
def redis_sessions(store: Any) -> Iterator[Any]:
    """``store`` with its sessions and refresh tokens in Redis (under a prefix of this test alone)."""
    from authgate.stores.redis import RedisRefreshTokenStore, RedisSessionStore
    from authgate.stores.split import SplitStore

    with redis_prefix() as prefix:
        sessions = RedisSessionStore(REDIS_URL, store, prefix=prefix)
        refresh = RedisRefreshTokenStore(sessions.client, prefix=prefix)
        try:
            yield SplitStore(store, sessions, refresh)
        finally:
            sessions.close()


# == end of store backends =======================================================
