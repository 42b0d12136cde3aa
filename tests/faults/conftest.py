"""Fixtures of the fault-injection suite: broken databases, Redis and mail servers.

* ``fault_proxy(host, port)`` — a :class:`~tests.faults.proxy.FaultProxy`, closed after the test;
* ``fault_db`` — a real, empty database on SQLite, PostgreSQL and MariaDB (one
  test per backend); on the servers authgate reaches it through a proxy
  (``fault_db.proxy``) the test may cut, freeze or slow;
* ``private_redis`` — a private ``redis-server`` the test may kill and flush;
* ``make_auth`` / ``make_http`` — ``Auth`` objects and contract-suite clients
  (``tests/web``) whose engines and mail threads are closed after the test.

Everything a fixture starts is stopped in its teardown, failure or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from authgate import Auth
from authgate.models import Base

from ..conftest import backend_params, empty_tables, service_unavailable
from ..core.conftest import FAST_HASHING, SECRET
from ..web.conftest import FRAMEWORKS, framework, make_client  # noqa: F401  (fixtures)
from .proxy import FaultProxy
from .redis_server import PrivateRedis, redis_binary

SQL_BACKENDS = ["sqlite", "postgres", "mysql"]
SERVER_BACKENDS = ["postgres", "mysql"]


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str, int], FaultProxy]]:
    """``fault_proxy(host, port)``: a proxy to that server; every one is closed after the test."""
    made: list[FaultProxy] = []

    def factory(host: str, port: int) -> FaultProxy:
        proxy = FaultProxy(host, port)
        made.append(proxy)
        return proxy

    yield factory
    for proxy in made:
        proxy.close()


@dataclass
class Database:
    """A database under test: the URL authgate gets, and a direct way to check its tables."""

    backend: str
    #: What authgate connects to (through :attr:`proxy` on a server).
    url: str
    #: The same database, without the proxy: for the test's own checks.
    direct_url: str
    proxy: FaultProxy | None
    engine: sa.Engine

    def count(self, table: str, where: str = "", **params: Any) -> int:
        """``SELECT count(*) FROM table [WHERE ...]``, read directly (never through the proxy)."""
        query = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text(query), params).scalar_one())

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` as a dict."""
        with self.engine.connect() as connection:
            return [
                dict(r) for r in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()
            ]

    def dump(self) -> str:
        """Every row of every authgate table as text (to look for secrets in it)."""
        return "\n".join(repr(self.rows(table.name)) for table in Base.metadata.sorted_tables)


def _through(url: str, proxy: FaultProxy) -> str:
    parsed = sa.make_url(url).set(host="127.0.0.1", port=proxy.port)
    parsed = parsed.update_query_dict({"connect_timeout": "3"})
    return parsed.render_as_string(hide_password=False)


def _open_database(
    backend: str,
    database_url: Callable[[str, str], str],
    fault_proxy: Callable[[str, int], FaultProxy],
) -> Iterator[Database]:
    direct = database_url(backend, "_faults")
    engine = sa.create_engine(direct)
    proxy = None
    url = direct
    if backend != "sqlite":
        parsed = sa.make_url(direct)
        proxy = fault_proxy(parsed.host or "127.0.0.1", int(parsed.port or 0))
        url = _through(direct, proxy)
    try:
        yield Database(backend, url, direct, proxy, engine)
    finally:
        if proxy is not None:
            proxy.resume()
        if sa.inspect(engine).has_table("authgate_users"):
            empty_tables(engine, Base.metadata)
        engine.dispose()


@pytest.fixture(params=backend_params(SQL_BACKENDS))
def fault_db(
    request: pytest.FixtureRequest,
    database_url: Callable[[str, str], str],
    fault_proxy: Callable[[str, int], FaultProxy],
) -> Iterator[Database]:
    """An empty database on each SQL backend (servers behind a proxy), emptied after the test."""
    yield from _open_database(request.param, database_url, fault_proxy)


@pytest.fixture(params=backend_params(SERVER_BACKENDS))
def server_db(
    request: pytest.FixtureRequest,
    database_url: Callable[[str, str], str],
    fault_proxy: Callable[[str, int], FaultProxy],
) -> Iterator[Database]:
    """Like ``fault_db``, on PostgreSQL and MariaDB only (a proxy to break is guaranteed)."""
    yield from _open_database(request.param, database_url, fault_proxy)


@pytest.fixture
def private_redis(tmp_path: Any) -> Iterator[PrivateRedis]:
    """A running private ``redis-server``; killed after the test."""
    if redis_binary() is None:
        service_unavailable("redis-server", RuntimeError("redis-server is not installed"))
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _close(auth: Auth) -> None:
    auth.outbox.close()
    auth.mail.close()
    close = getattr(auth.store, "close", None)
    if close is not None:
        close()


@pytest.fixture
def make_auth() -> Iterator[Callable[..., Auth]]:
    """``make_auth(**settings)``: an ``Auth`` with cheap hashing, closed after the test."""
    made: list[Auth] = []

    def factory(**settings: Any) -> Auth:
        auth = Auth(SECRET, **{**FAST_HASHING, **settings})
        made.append(auth)
        return auth

    yield factory
    for auth in made:
        _close(auth)


@pytest.fixture
def make_http(make_client: Callable[..., Any]) -> Iterator[Callable[..., Any]]:  # noqa: F811
    """``make_http(**settings)``: a contract-suite client of this test's framework, closed after."""
    made: list[Any] = []

    def factory(**settings: Any) -> Any:
        client = make_client(**settings)
        made.append(client)
        return client

    yield factory
    for client in made:
        _close(client.auth)


@pytest.fixture
def errors_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` recording authgate's ERROR lines."""
    caplog.set_level(logging.ERROR, logger="authgate")
    return caplog


__all__ = ["FRAMEWORKS", "Database"]
