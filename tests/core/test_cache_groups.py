"""Which ``Auth`` objects of a process share a session-cache group (finding S9).

Caches in one group see each other's revocations at once. The group follows
the data, not the spelling of the URL: the same SQLite file however it is
named, the same server and database whatever the driver or options, the same
store object.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from authgate import Auth
from authgate.errors import AuthError
from authgate.session_cache import group_for
from authgate.stores import MemoryStore
from authgate.stores._common import database_identity
from authgate.stores.sqlalchemy import SQLAlchemyStore

from .conftest import FAST_HASHING, PASSWORD, SECRET

Pair = Callable[[Path], tuple[Auth, Auth]]


def _sqlite_same_url(tmp: Path) -> tuple[Auth, Auth]:
    url = f"sqlite:///{tmp / 'x.db'}"
    return Auth(SECRET, database_url=url, **FAST_HASHING), Auth(
        SECRET, database_url=url, **FAST_HASHING
    )


def _sqlite_url_with_options(tmp: Path) -> tuple[Auth, Auth]:
    return (
        Auth(SECRET, database_url=f"sqlite:///{tmp / 'x.db'}", **FAST_HASHING),
        Auth(SECRET, database_url=f"sqlite:///{tmp / 'x.db'}?timeout=30", **FAST_HASHING),
    )


def _sqlite_relative_path(tmp: Path) -> tuple[Auth, Auth]:
    os.chdir(tmp)  # undone by the fixture below
    return (
        Auth(SECRET, database_url=f"sqlite:///{tmp / 'x.db'}", **FAST_HASHING),
        Auth(SECRET, database_url="sqlite:///./sub/../x.db", **FAST_HASHING),
    )


def _one_memory_store(tmp: Path) -> tuple[Auth, Auth]:
    store = MemoryStore()
    return Auth(SECRET, store=store, **FAST_HASHING), Auth(SECRET, store=store, **FAST_HASHING)


def _one_in_memory_engine(tmp: Path) -> tuple[Auth, Auth]:
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
    )
    return Auth(SECRET, db=engine, **FAST_HASHING), Auth(SECRET, db=engine, **FAST_HASHING)


PAIRS: dict[str, Pair] = {
    "sqlite same URL": _sqlite_same_url,
    "sqlite URL with options": _sqlite_url_with_options,
    "sqlite relative path": _sqlite_relative_path,
    "one MemoryStore, two Auth": _one_memory_store,
    "one in-memory engine, two stores": _one_in_memory_engine,
}

ACTIONS: dict[str, Callable[[Auth, Any, str, str], None]] = {
    "deactivate": lambda a, user, tok, other: a.users.deactivate_user(user),
    "delete user": lambda a, user, tok, other: a.users.delete_user(user),
    "change password": lambda a, user, tok, other: a.change_password(
        a.get_session(tok).user, PASSWORD, PASSWORD + "!", current_token=tok
    ),
    "revoke other sessions": lambda a, user, tok, other: a.revoke_other_sessions(
        a.get_session(tok).user, tok
    ),
    "sign out": lambda a, user, tok, other: a.sign_out(other),
}


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Auth, Auth]]:
    cwd = os.getcwd()
    (tmp_path / "sub").mkdir()
    a, b = PAIRS[request.param](tmp_path)
    yield a, b
    os.chdir(cwd)
    a.close()
    b.close()


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("pair", list(PAIRS), indirect=True)
def test_a_revocation_through_one_auth_is_refused_at_once_by_the_other(
    pair: tuple[Auth, Auth], action: str
) -> None:
    """The cases of ``findings/cache.py``: no waiting for the ttl."""
    a, b = pair
    user = a.sign_up("v@example.com", PASSWORD).user
    tok = a.sign_in("v@example.com", PASSWORD).token
    other = a.sign_in("v@example.com", PASSWORD).token
    assert tok and other
    for auth in (a, b):  # warm both caches
        auth.get_session(tok)
        auth.get_session(other)
    assert b.ctx.session_cache is not None and len(b.ctx.session_cache) == 2

    ACTIONS[action](a, user, tok, other)

    for auth in (a, b):
        with pytest.raises(AuthError) as info:
            auth.get_session(other)
        assert info.value.code in {"INVALID_TOKEN", "ACCOUNT_DISABLED", "USER_NOT_FOUND"}


def test_different_data_makes_different_groups(tmp_path: Path) -> None:
    first = SQLAlchemyStore(f"sqlite:///{tmp_path / 'a.db'}")
    second = SQLAlchemyStore(f"sqlite:///{tmp_path / 'b.db'}")
    memory_one, memory_two = SQLAlchemyStore("sqlite://"), SQLAlchemyStore("sqlite://")
    try:
        assert group_for(first) is not group_for(second)
        assert group_for(memory_one) is not group_for(memory_two)  # two private databases
        assert group_for(MemoryStore()) is not group_for(MemoryStore())
        store = MemoryStore()
        assert group_for(store) is group_for(store)
    finally:
        for store in (first, second, memory_one, memory_two):
            store.close()


def test_a_symlinked_sqlite_file_is_the_same_data(tmp_path: Path) -> None:
    (tmp_path / "real.db").touch()
    (tmp_path / "link.db").symlink_to(tmp_path / "real.db")
    assert database_identity("sqlite", None, None, str(tmp_path / "link.db")) == (
        database_identity("sqlite", None, None, str(tmp_path / "real.db"))
    )


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("postgresql+psycopg://u@localhost/app", "postgresql://v:pw@127.0.0.1:5432/app", True),
        ("postgresql://db.internal/app", "postgresql+psycopg2://DB.internal:5432/app?sslmode=require", True),
        ("postgresql://db.internal/app", "postgresql://db.internal/other", False),
        ("postgresql://db.internal/app", "postgresql://db.internal:5433/app", False),
        ("postgresql://db.internal/app", "postgresql://replica.internal/app", False),
        ("mysql+pymysql://root@127.0.0.1/app?charset=utf8mb4", "mariadb://root@localhost:3306/app", True),
        ("mysql://h/app", "postgresql://h/app", False),
        ("postgresql:///app?host=/run/postgresql", "postgresql://u@/app?host=/run/postgresql", True),
    ],
)  # fmt: skip
def test_server_urls_are_grouped_by_server_and_database(first: str, second: str, same: bool) -> None:
    def key(url: str) -> Any:
        parsed = sa.make_url(url)
        host = parsed.host or parsed.query.get("host")
        return database_identity(parsed.get_backend_name(), host, parsed.port, parsed.database)  # type: ignore[arg-type]

    assert (key(first) == key(second)) is same


def test_in_memory_sqlite_has_no_identity(tmp_path: Path) -> None:
    assert database_identity("sqlite", None, None, ":memory:") is None
    assert database_identity("sqlite", None, None, None) is None
    assert database_identity("sqlite3", None, None, "file:memdb?mode=memory&cache=shared") is None
    path = str(tmp_path / "x.db")
    expected = ("sqlite", os.path.realpath(path))
    assert database_identity("sqlite3", None, None, f"file:{path}?mode=ro") == expected
