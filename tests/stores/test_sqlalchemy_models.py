"""The SQLAlchemy store with app-owned models, Flask-SQLAlchemy, and the shipped migrations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from authgate import models
from authgate.errors import UserExists
from authgate.models import (
    Notice,
    RoleMixin,
    SecurityEvent,
    SessionRecord,
    UserMixin,
    new_id,
    utcnow,
)
from authgate.stores import MemoryStore, make_store
from authgate.stores.sqlalchemy import SQLAlchemyStore, make_engine, migrate
from tests.conftest import (
    SQL_BACKENDS,
    WITH_REDIS_SESSIONS,
    backend_params,
    empty_tables,
    redis_sessions,
)

# -- an app that owns its models ---------------------------------------------------


class AppBase(DeclarativeBase):
    pass


class Role(AppBase, RoleMixin):
    __tablename__ = "role"


class User(AppBase, UserMixin):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(80), default=None)


AUTHGATE_TABLES = {
    "authgate_user_roles",
    "authgate_sessions",
    "authgate_used_tokens",
    "authgate_user_emails",
    "authgate_security_events",
    "authgate_outbox",
}


@pytest.fixture(params=backend_params(WITH_REDIS_SESSIONS))
def app_store(
    request: pytest.FixtureRequest, database_url: Callable[[str, str], str]
) -> Iterator[Any]:
    """A store over the app's models, on each backend (own database: same table names).

    ``redis``: SQLite, with the sessions in Redis (integer user ids as keys).
    """
    backend: str = request.param
    if backend == "memory":
        yield MemoryStore(user_model=User, role_model=Role)
        return
    sql_backend = "sqlite" if backend == "redis" else backend
    store = SQLAlchemyStore(database_url(sql_backend, "_app"), user_model=User, role_model=Role)
    store.ensure_schema()
    if backend == "redis":
        with redis_sessions(store) as split:
            yield split
    else:
        yield store
    empty_tables(store.engine, AppBase.metadata)
    store.close()


def test_app_models_end_to_end(app_store: Any) -> None:
    user = app_store.create_user(
        {"email": "Alice@Example.com", "first_name": "Alice", "password_hash": "secret-hash"},
        roles=["admin"],
    )

    assert isinstance(user, User)
    assert isinstance(user.id, int)
    assert user.security_stamp and user.is_active is True
    data = user.to_dict()
    assert data["first_name"] == "Alice"
    assert data["id"] == str(user.id)
    assert data["roles"] == ["admin"]
    assert "password_hash" not in data and "security_stamp" not in data
    found = app_store.get_user(str(user.id))
    assert found is not None and found.id == user.id and found.role_names == ["admin"]
    assert app_store.get_user("abc") is None
    assert [u.id for u in app_store.find_users({"first_name": "Alice"})] == [user.id]
    assert [u.id for u in app_store.find_users({"id": str(user.id)})] == [user.id]
    with pytest.raises(UserExists):
        app_store.create_user({"email": "alice@example.COM"})

    updated = app_store.update_user(
        str(user.id), {"first_name": "Ally"}, expect={"security_stamp": user.security_stamp}
    )
    assert updated is not None and updated.to_dict()["first_name"] == "Ally"

    now = utcnow()
    record = SessionRecord(
        id="s-1",
        token_hash="h" * 64,
        user_id=str(user.id),
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(days=1),
        authenticated_at=now,
        security_stamp=user.security_stamp,
    )
    app_store.create_session(record)
    session = app_store.get_session("h" * 64)
    assert session is not None
    assert session[0].user_id == str(user.id)
    assert session[1] is not None and session[1].id == user.id
    assert [s.id for s in app_store.list_sessions(user.id)] == ["s-1"]

    app_store.add_event(SecurityEvent(kind="sign_in", at=now, user_id=str(user.id)))
    assert app_store.delete_user(str(user.id)) is True
    assert app_store.get_session("h" * 64) is None
    assert app_store.get_role("admin") is not None
    assert [e.user_id for e in app_store.list_events(user_id=str(user.id))] == [str(user.id)]


@pytest.mark.parametrize("backend", backend_params(SQL_BACKENDS))
def test_app_schema_has_the_app_and_authgate_tables(
    backend: str, database_url: Callable[[str, str], str]
) -> None:
    store = SQLAlchemyStore(database_url(backend, "_app"), user_model=User, role_model=Role)
    try:
        store.ensure_schema()
        tables = set(sa.inspect(store.engine).get_table_names())
        assert {"user", "role"} | AUTHGATE_TABLES <= tables
        assert "authgate_users" not in tables
        assert migrate.VERSION_TABLE not in tables
    finally:
        store.close()


def test_mismatched_models_are_refused() -> None:
    with pytest.raises(TypeError, match="same base"):
        SQLAlchemyStore("sqlite://", user_model=models.User, role_model=Role)


# -- Flask-SQLAlchemy --------------------------------------------------------------

db = SQLAlchemy()


class FlaskRole(db.Model, RoleMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "flask_role"


class FlaskUser(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "flask_user"

    first_name = db.Column(db.String(80))


@pytest.fixture
def flask_app(tmp_path: Path) -> Iterator[Flask]:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'flask.db'}"
    db.init_app(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_flask_sqlalchemy_db(flask_app: Flask) -> None:
    with flask_app.app_context():
        store = SQLAlchemyStore(db, user_model=FlaskUser, role_model=FlaskRole)
        store.ensure_schema()
        user = store.create_user(
            {"email": "Alice@Example.com", "first_name": "Alice"}, roles=["admin"]
        )
        user_id = user.id
        with pytest.raises(UserExists):
            store.create_user({"email": "alice@example.com"})
        # The failed INSERT was rolled back; db.session goes on working.
        assert store.count_users() == 1
        assert store.add_role_to_user(user_id, "editor") is True
        found = store.get_user_by_email("alice@example.com")
        assert found is user  # one identity map: db.session's
        assert found.to_dict()["first_name"] == "Alice"
        assert found.role_names == ["admin", "editor"]
        stamp = found.security_stamp
        assert store.update_user(user_id, {"first_name": "Al"}, expect={"security_stamp": stamp})
        stale = store.update_user(user_id, {"first_name": "X"}, expect={"security_stamp": "old"})
        assert stale is None
        assert user.first_name == "Al"

    with flask_app.app_context():
        found = store.get_user(str(user_id))
        assert found is not None and found.first_name == "Al"
        assert db.session.get(FlaskUser, user_id) is found
        assert store.delete_user(user_id) is True
        assert db.session.execute(sa.select(sa.func.count()).select_from(FlaskUser)).scalar() == 0


@pytest.mark.redis
def test_flask_sqlalchemy_db_with_sessions_in_redis(flask_app: Flask) -> None:
    """A session's user still belongs to ``db.session`` when the session comes from Redis."""
    with flask_app.app_context():
        store = SQLAlchemyStore(db, user_model=FlaskUser, role_model=FlaskRole)
        store.ensure_schema()
        user = store.create_user({"email": "alice@example.com"}, roles=["admin"])
        with redis_sessions(store) as split:
            now = utcnow()
            record = SessionRecord(id="s-1", token_hash="f" * 64, user_id=str(user.id),
                                   created_at=now, last_seen_at=now,
                                   expires_at=now + dt.timedelta(hours=1), authenticated_at=now,
                                   security_stamp=user.security_stamp)  # fmt: skip
            split.create_session(record)
            found = split.get_session("f" * 64)
            assert found is not None and found[1] is user  # db.session's own object
            assert split.delete_user(user.id) is True
            assert split.get_session("f" * 64) is None


# -- other ways in -----------------------------------------------------------------


def test_engine_and_sessionmaker_forms(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'forms.db'}")
    try:
        by_engine = SQLAlchemyStore(engine)
        by_engine.ensure_schema()
        user = by_engine.create_user({"email": "alice@example.com"}, roles=["admin"])
        by_factory = SQLAlchemyStore(sessionmaker(engine))  # expire_on_commit=True by default
        found = by_factory.get_user(user.id)
        updated = by_factory.update_user(user.id, {"username": "al"})
        # Objects stay loaded after their session closed.
        assert found is not None and found.role_names == ["admin"]
        assert updated is not None and updated.username == "al" and updated.role_names == ["admin"]
        with pytest.raises(TypeError, match="bound"):
            SQLAlchemyStore(sessionmaker())
        with pytest.raises(TypeError, match="URL"):
            SQLAlchemyStore(42)
    finally:
        engine.dispose()


def test_in_memory_sqlite_url() -> None:
    store = SQLAlchemyStore("sqlite://")
    try:
        store.ensure_schema()
        user = store.create_user({"email": "alice@example.com"}, roles=["admin"])
        found = store.get_user(user.id)
        assert found is not None and found.role_names == ["admin"]
        assert store.claim_token("j", "reset", user.id, utcnow(), utcnow()) is True
    finally:
        store.close()


def test_make_store(tmp_path: Path) -> None:
    assert isinstance(make_store(), MemoryStore)
    app_memory = make_store(user_model=User, role_model=Role)
    assert isinstance(app_memory, MemoryStore) and app_memory.user_model is User
    sql = make_store(f"sqlite:///{tmp_path / 'factory.db'}")
    try:
        assert isinstance(sql, SQLAlchemyStore) and sql.user_model is models.User
    finally:
        sql.close()
    with pytest.raises(TypeError):
        make_store("sqlite://", db=object())


_PG = {"connect_timeout": "5", "options": "-c statement_timeout=30000"}
_MY = {"connect_timeout": "5", "read_timeout": "30", "write_timeout": "30"}


@pytest.mark.parametrize(
    ("url", "driver", "query"),
    [
        ("postgresql://u@db.example/app", "postgresql+psycopg", _PG),
        ("postgresql+psycopg://u@db.example/app", "postgresql+psycopg", _PG),
        ("postgresql://u@db.example/app?connect_timeout=1", "postgresql+psycopg",
         {**_PG, "connect_timeout": "1"}),
        ("mysql://u@db.example/app", "mysql+pymysql", {"charset": "utf8mb4", **_MY}),
        ("mariadb://u@db.example/app", "mariadb+pymysql", {"charset": "utf8mb4", **_MY}),
        ("mysql+pymysql://u@db.example/app?charset=utf8&read_timeout=2", "mysql+pymysql",
         {"charset": "utf8", **_MY, "read_timeout": "2"}),
    ],
)  # fmt: skip
def test_make_engine_picks_drivers(url: str, driver: str, query: dict[str, str]) -> None:
    """Drivers, utf8mb4, and time bounds so a silent server is a 503, not a hung worker."""
    engine = make_engine(url)
    try:
        assert engine.url.drivername == driver
        assert dict(engine.url.query) == query
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
    finally:
        engine.dispose()


# -- migrations --------------------------------------------------------------------


@pytest.fixture(params=backend_params(SQL_BACKENDS))
def empty_database(
    request: pytest.FixtureRequest, database_url: Callable[[str, str], str]
) -> Iterator[str]:
    """The URL of an empty database on each SQL backend."""
    url = database_url(request.param, "_migrations")
    engine = make_engine(url)
    try:
        existing = sa.MetaData()
        existing.reflect(engine)
        existing.drop_all(engine)
    finally:
        engine.dispose()
    yield url


def test_migrations_create_exactly_the_default_models(empty_database: str) -> None:
    migrate.upgrade(empty_database)

    engine = make_engine(empty_database)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": migrate.VERSION_TABLE}
            )
            assert compare_metadata(context, models.Base.metadata) == []
        if engine.dialect.name == "mysql":
            # compare_metadata does not look at collations or fractional seconds.
            columns = {c["name"]: c for c in sa.inspect(engine).get_columns("authgate_users")}
            for name in ("email_canonical", "username_canonical"):
                assert columns[name]["type"].collation == "utf8mb4_bin"
            assert columns["created_at"]["type"].fsp == 6
        names = set(sa.inspect(engine).get_table_names())
        assert names == set(models.Base.metadata.tables) | {migrate.VERSION_TABLE}
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_the_data_and_adds_the_audit_trail(empty_database: str) -> None:
    migrate.upgrade(empty_database, revision="0001")
    store = SQLAlchemyStore(empty_database)
    try:
        assert migrate.current_revision(store.engine) == "0001"
        alice = store.create_user({"email": "alice@example.com"}, roles=["admin"])
        assert "authgate_security_events" not in sa.inspect(store.engine).get_table_names()
        store.ensure_schema()  # what Auth() does at start
        assert migrate.current_revision(store.engine) == migrate.head_revision() == "0007"
        assert store.get_user_by_email("alice@example.com").role_names == ["admin"]
        store.add_event(SecurityEvent(kind="sign_in", at=utcnow(), user_id=str(alice.id)))
        assert [e.kind for e in store.list_events(user_id=str(alice.id))] == ["sign_in"]
    finally:
        store.close()


def test_upgrade_from_0002_keeps_the_data_and_adds_the_outbox(empty_database: str) -> None:
    migrate.upgrade(empty_database, revision="0002")
    store = SQLAlchemyStore(empty_database)
    try:
        alice = store.create_user({"email": "alice@example.com"})
        store.add_event(SecurityEvent(kind="sign_in", at=utcnow(), user_id=str(alice.id)))
        assert "authgate_outbox" not in sa.inspect(store.engine).get_table_names()
        store.ensure_schema()
        assert migrate.current_revision(store.engine) == migrate.head_revision() == "0007"
        now = utcnow()
        notice = Notice(
            id=new_id(), kind="password_changed", to="alice@example.com", subject="Changed",
            text="t" * 70_000, html="<p>changed</p>", created_at=now, next_attempt_at=now,
        )  # fmt: skip
        assert store.update_user(alice.id, {"username": "alice"}, outbox=[notice]) is not None
        [stored] = store.list_notices()
        assert stored.user_id == str(alice.id) and stored.text == notice.text  # > 64 KiB
        assert [e.kind for e in store.list_events(user_id=str(alice.id))] == ["sign_in"]
    finally:
        store.close()


def test_ensure_schema_is_one_query_when_up_to_date(empty_database: str) -> None:
    store = SQLAlchemyStore(empty_database)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    try:
        store.ensure_schema()
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        sa.event.listen(store.engine, "before_cursor_execute", record)
        store.ensure_schema()
        sa.event.remove(store.engine, "before_cursor_execute", record)
        migrate.upgrade(store.engine)  # a no-op at head
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert store.count_users() == 0
    finally:
        store.close()
    assert len(statements) == 1
    assert "version_num" in statements[0] and migrate.VERSION_TABLE in statements[0]


# -- sign-up over an app model with a database-generated key (findings S3, S4) -----


def _app_auth(store: Any, **settings: Any) -> Any:
    from authgate import Auth
    from tests.core.conftest import FAST_HASHING, SECRET

    return Auth(SECRET, store=store, send_email=lambda message: None,
                **{**FAST_HASHING, **settings})  # fmt: skip


def _sign_up(auth: Any, email: str, **fields: Any) -> dict[str, Any]:
    from tests.core.conftest import PASSWORD

    result: dict[str, Any] = auth.sign_up(email, PASSWORD, **fields).to_dict()
    return result


def test_look_alike_sign_up_has_an_id_from_the_key_generator(app_store: Any) -> None:
    """S3: a taken address answered ``"id": "None"`` with an integer key: one request told."""
    reused = getattr(app_store, "reuses_reserved_ids", False)
    if reused:  # SQLite rowid table: say so loudly at set-up
        with pytest.warns(models_warning(), match="sqlite_autoincrement"):
            auth = _app_auth(app_store, confirmable=True)
    else:
        auth = _app_auth(app_store, confirmable=True)
    first = _sign_up(auth, "victim@example.com")
    taken = _sign_up(auth, "victim@example.com")
    fresh = _sign_up(auth, "nobody@example.com")
    for answer in (first, taken, fresh):
        assert answer["token"] is None
        assert answer["user"]["id"].isdigit(), answer  # never "None"
        assert set(answer["user"]) == set(first["user"])
    assert int(first["user"]["id"]) < int(taken["user"]["id"])
    if not reused:  # the look-alike's id was spent: the next real user gets a later one
        assert int(taken["user"]["id"]) < int(fresh["user"]["id"])
    assert app_store.count_users() == 2  # the look-alike was never stored


def models_warning() -> type[Warning]:
    from authgate.settings import InsecureSettingWarning

    return InsecureSettingWarning


def test_sign_up_sets_only_the_allowed_app_fields(app_store: Any) -> None:
    """S4: sign-up wrote every extra column of the model (``is_admin``...): now an allow-list."""
    from authgate.errors import ValidationError

    auth = _app_auth(app_store)
    with pytest.raises(ValidationError) as caught:
        _sign_up(auth, "mallory@example.com", first_name="Mallory")
    assert caught.value.fields == {"first_name": "unknown_field"}
    assert app_store.count_users() == 0

    allowed = _app_auth(app_store, signup_fields=["first_name"])
    assert _sign_up(allowed, "ada@example.com", first_name="Ada")["user"]["first_name"] == "Ada"
    for forbidden in ({"is_active": False}, {"id": 7}, {"security_stamp": "x"}, {"roles": []}):
        with pytest.raises(ValidationError) as caught:
            _sign_up(allowed, "eve@example.com", **forbidden)
        assert set(caught.value.fields.values()) == {"unknown_field"}
    assert app_store.count_users() == 1


@pytest.mark.parametrize(
    "names", [["email"], ["is_active"], ["password_hash"], ["nope"], "first_name"]
)
def test_signup_fields_must_name_app_columns(names: Any) -> None:
    with pytest.raises(ValueError, match="signup_fields"):
        _app_auth(MemoryStore(user_model=User, role_model=Role), signup_fields=names)
