"""The store contract (``tests/stores/test_contract.py``) on the Django ORM store.

Every contract test that takes the ``store`` fixture runs here again, with
``store`` overridden to a :class:`~authgate.django.store.DjangoStore` on
SQLite, PostgreSQL and MariaDB (the servers of ``tests/conftest.py``; an
unreachable one skips, or fails under ``CI=true``). Failure handling specific
to Django follows.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from authgate.errors import ServiceUnavailable
from tests.conftest import backend_params
from tests.django_project import DJANGO_DB_SUFFIX, empty_tables, setup, worker_database
from tests.stores import test_contract as contract

DJANGO_BACKENDS = ["sqlite", "postgres", "mysql"]

# The contract tests written against the `store` fixture, collected here with the
# `store` fixture of this module.
for _name, _test in vars(contract).items():
    if _name.startswith("test_") and "store" in inspect.signature(_test).parameters:
        globals()[_name] = _test

_migrated: set[str] = set()


class _ClosingPool(ThreadPoolExecutor):
    """A thread pool whose threads close their Django connections after each task.

    Django leaves a connection opened in a thread the app started open until
    that thread closes it (its documented rule); the contract's threads do so here.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        from django.db import connections

        def task() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                connections.close_all()

        return super().submit(task)


@pytest.fixture(autouse=True)
def _threads_close_their_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "ThreadPoolExecutor", _ClosingPool)


def _prepare(alias: str, database_url: Callable[[str, str], str]) -> None:
    """Create (servers) and migrate this worker's database behind ``alias``, once."""
    if alias in _migrated:
        return
    if alias != "sqlite":
        url = sa.make_url(database_url(alias, DJANGO_DB_SUFFIX))  # skips or fails when down
        assert url.database == worker_database()
    from django.core.management import call_command

    call_command("migrate", database=alias, verbosity=0)
    _migrated.add(alias)


@pytest.fixture(params=backend_params(DJANGO_BACKENDS))
def store(request: pytest.FixtureRequest, database_url: Callable[[str, str], str]) -> Iterator[Any]:
    """A DjangoStore with no data on each Django database backend."""
    setup()
    alias: str = request.param
    _prepare(alias, database_url)
    from authgate.django.store import DjangoStore

    yield DjangoStore(using=alias)
    empty_tables(alias)


# -- failures ---------------------------------------------------------------------


@contextlib.contextmanager
def database_fails(alias: str, statement_prefix: str) -> Iterator[None]:
    """Make every statement starting with ``statement_prefix`` fail as a lost connection."""
    from django.db import OperationalError, connections

    def fail(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(statement_prefix.upper()):
            raise OperationalError("server closed the connection unexpectedly (127.0.0.1)")
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(fail):
        yield


def test_failure_mid_create_user_leaves_nothing(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="authgate.store"),
        database_fails(store.using, 'INSERT INTO "AUTHGATE_USER_ROLES"'),
        database_fails(store.using, "INSERT INTO `AUTHGATE_USER_ROLES`"),
        pytest.raises(ServiceUnavailable) as info,
    ):
        store.create_user({"email": "alice@example.com"}, roles=["admin"])

    message = info.value.message
    assert message.startswith(ServiceUnavailable.default_message)
    assert "127.0.0.1" not in message and "server" not in message
    ref = message.rsplit("(ref ", 1)[1].rstrip(")")
    assert [r for r in caplog.records if ref in r.getMessage()]
    assert store.count_users() == 0
    assert store.get_role("admin") is None
    user = store.create_user({"email": "alice@example.com"}, roles=["admin"])
    assert user.role_names == ["admin"]


def test_unreachable_database_is_service_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    setup()
    from django.db import connections

    from authgate.django.store import DjangoStore

    alias = "unreachable"
    connections.settings[alias] = {
        **connections.settings["postgres"],
        "PORT": "1",
        "OPTIONS": {"connect_timeout": 2},
    }
    store = DjangoStore(using=alias)
    try:
        with caplog.at_level(logging.ERROR, logger="authgate.store"):
            with pytest.raises(ServiceUnavailable) as info:
                store.create_user({"email": "alice@example.com"})
            with pytest.raises(ServiceUnavailable):
                store.get_user_by_email("alice@example.com")
    finally:
        connections[alias].close()
        del connections.settings[alias]

    message = info.value.message
    for secret in ("127.0.0.1", ":1", "postgres", "psycopg", "connection"):
        assert secret not in message.lower()
    assert info.value.to_dict()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert len([r for r in caplog.records if r.exc_info is not None]) == 2


def test_contract_tests_are_collected_here() -> None:
    collected = {name for name in globals() if name.startswith("test_")}
    assert {"test_create_and_get_user", "test_concurrent_sign_ups_create_one_user"} <= collected


def test_background_purge_closes_its_connection(store: Any) -> None:
    """The hourly purge runs in a thread of its own, which closes its Django connection."""
    from authgate import Auth
    from tests.core.conftest import FAST_HASHING, PASSWORD, Clock

    clock = Clock()
    auth = Auth("s" * 32, store=store, clock=clock, audit_retention=3600, **FAST_HASHING)
    released: list[str] = []
    original = store.release_thread

    def release() -> None:
        import threading

        released.append(threading.current_thread().name)
        original()

    store.release_thread = release
    auth.sign_up("alice@example.com", PASSWORD)
    clock.advance(2 * 3600)
    auth.sign_in("alice@example.com", PASSWORD)
    auth.audit.wait()
    assert released == ["authgate-audit-purge"]
    assert [(e.kind, e.at) for e in auth.audit.events()] == [("sign_in", clock())]


def test_outbox_threads_close_their_connections(store: Any) -> None:
    """The mail threads and the outbox dispatcher close the Django connection they opened;
    a request's own thread keeps its connection."""
    import datetime as dt
    import threading
    import time

    from authgate import Auth
    from authgate.mail import MailDeliveryError
    from authgate.models import utcnow
    from tests.core.conftest import FAST_HASHING, PASSWORD

    class ServerMailer:
        synchronous = False

        def __init__(self) -> None:
            self.fail = False
            self.kinds: list[str] = []

        def send(self, message: Any) -> None:
            if self.fail:
                raise MailDeliveryError("down", retryable=True)
            self.kinds.append(message.kind)

    mailer = ServerMailer()
    later = [0]  # seconds the clock is moved on (past the retry delay)
    auth = Auth("s" * 32, store=store, send_email=mailer, **FAST_HASHING,
                clock=lambda: utcnow() + dt.timedelta(seconds=later[0]))  # fmt: skip
    auth.outbox.poll_interval = 0.05
    released: list[str] = []
    original = store.release_thread

    def release() -> None:
        released.append(threading.current_thread().name)
        original()

    store.release_thread = release
    try:
        user = auth.sign_up("alice@example.com", PASSWORD).user
        auth.mail.flush()
        assert mailer.kinds == ["welcome"]
        assert [name.startswith("authgate-mail") for name in released] == [True]
        mailer.fail = True
        auth.change_password(user, PASSWORD, "new staple battery horse")
        auth.mail.flush()
        mailer.fail = False
        later[0] = 61
        deadline = time.monotonic() + 10
        while mailer.kinds != ["welcome", "password_changed"] or auth.outbox.dispatching:
            assert time.monotonic() < deadline, mailer.kinds
            time.sleep(0.02)
        assert "authgate-outbox" in released
        assert threading.current_thread().name not in released
        assert store.list_notices() == []
    finally:
        auth.close()
