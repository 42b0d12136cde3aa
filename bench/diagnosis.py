"""What a ``get_session`` costs on an SQL store, piece by piece.

The variants below all fetch the same session, user and roles (except where
the name says otherwise) from the same engine, so the difference between two
of them is the cost of what separates them:

* the flow (token digest, liveness and stamp checks, ``SessionInfo``):
  ``auth.get_session`` minus ``store.get_session``;
* building the statement on every call and converting the row:
  ``store.get_session`` minus the ORM query built once;
* loading roles with a second, ``selectin`` query instead of in the same
  statement through flat ``LEFT OUTER JOIN``s (``contains_eager``);
* the ORM itself (Session, identity map, instances) over plain Core rows.

``joinedload(User.roles)`` is timed apart, with few calls: for a
many-to-many it renders ``LEFT OUTER JOIN (user_roles JOIN roles)``, which
SQLite materialises by scanning the whole link table on every call.

These queries re-create what ``SQLAlchemyStore.get_session`` runs, with the
store's tables and the models' ``roles`` relationship; they measure, they
change nothing in the store.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, joinedload, sessionmaker

from authgate.models import tables_for
from authgate.tokens import token_digest

__all__ = ["NESTED_JOINEDLOAD", "explain", "get_session_anatomy", "profile"]

ANATOMY_FULL = "auth.get_session (flow + store)"
ANATOMY_STORE = "store.get_session (store call only)"
ANATOMY_SELECTIN = "ORM query built once, roles by selectin (as the store, minus rebuild)"
ANATOMY_JOINED = "ORM query built once, roles by flat LEFT JOINs + contains_eager (1 statement)"
ANATOMY_CORE_ROLES = "Core sessions⋈users + Core roles query (2 statements, no ORM)"
ANATOMY_CORE = "Core sessions⋈users only (1 statement, no ORM, no roles)"
ANATOMY_BASELINE = "bare PK lookup (the baseline)"
#: Timed apart (it can be very slow): the ORM query with ``joinedload(User.roles)``.
NESTED_JOINEDLOAD = "ORM query built once, roles by joinedload (1 statement, nested join)"


def get_session_anatomy(state: Any) -> dict[str, Callable[[], object]]:
    """Callables isolating the parts of one ``get_session`` on ``state``'s engine.

    The last one, :data:`NESTED_JOINEDLOAD`, is to be timed with few calls.
    """
    auth, engine, store = state.auth, state.engine, state.auth.store
    user_model, role_model = auth.User, auth.Role
    users, roles = user_model.__table__, role_model.__table__
    tables = tables_for(user_model.metadata)
    sessions, links = tables.sessions, tables.user_roles
    assert sessions is not None and links is not None
    digest = token_digest(state.token)
    factory = sessionmaker(engine, expire_on_commit=False)

    by_token = sessions.c.token_hash == bindparam("token_hash")
    orm_query = (
        select(sessions, user_model)
        .join_from(sessions, user_model, sessions.c.user_id == users.c.id, isouter=True)
        .where(by_token)
    )
    orm_flat = (
        orm_query.outerjoin(links, links.c.user_id == users.c.id)
        .outerjoin(role_model, role_model.id == links.c.role_id)
        .order_by(role_model.name)
        .options(contains_eager(user_model.roles))
    )
    orm_nested = orm_query.options(joinedload(user_model.roles))
    core_query = (
        select(sessions, users)
        .join_from(sessions, users, sessions.c.user_id == users.c.id, isouter=True)
        .where(by_token)
    )
    core_roles = (
        select(links.c.user_id, roles)
        .join(roles, roles.c.id == links.c.role_id)
        .where(links.c.user_id == bindparam("user_id"))
        .order_by(roles.c.name)
    )
    token_parameters = {"token_hash": digest}
    user_parameters = {"user_id": state.user_id}

    def selectin() -> object:
        with factory() as session:
            return session.execute(orm_query, token_parameters).first()

    def flat() -> object:
        with factory() as session:
            return session.execute(orm_flat, token_parameters).unique().first()

    def nested() -> object:
        with factory() as session:
            return session.execute(orm_nested, token_parameters).unique().first()

    def core_with_roles() -> object:
        with engine.connect() as connection:
            row = connection.execute(core_query, token_parameters).fetchone()
            return row, connection.execute(core_roles, user_parameters).fetchall()

    def core_only() -> object:
        with engine.connect() as connection:
            return connection.execute(core_query, token_parameters).fetchone()

    # Each variant must find what get_session finds.
    for fn in (selectin, flat, nested):
        row: Any = fn()
        assert row is not None and row[-1].id == state.user_id and row[-1].role_names
    pair: Any = core_with_roles()
    assert pair[0] is not None and pair[1]

    return {
        ANATOMY_FULL: lambda: auth.get_session(state.token),
        ANATOMY_STORE: lambda: store.get_session(digest),
        ANATOMY_SELECTIN: selectin,
        ANATOMY_JOINED: flat,
        ANATOMY_CORE_ROLES: core_with_roles,
        ANATOMY_CORE: core_only,
        ANATOMY_BASELINE: state.baseline,
        NESTED_JOINEDLOAD: nested,
    }


def explain(engine: Any, statement: str, parameters: Any) -> list[str]:
    """The query plan of one statement as the driver received it."""
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with engine.connect() as connection:
        if isinstance(parameters, list):  # a raw cursor's positional list
            parameters = tuple(parameters)
        rows = connection.exec_driver_sql(prefix + statement, parameters).fetchall()
    if sqlite:
        return [str(row[-1]) for row in rows]
    return [str(row[0]).rstrip() for row in rows]


def profile(fn: Callable[[], object], calls: int, top: int = 25) -> str:
    """cProfile of ``calls`` calls of ``fn``: the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
