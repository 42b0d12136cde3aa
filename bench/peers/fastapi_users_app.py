"""fastapi-users, after its "Full example" (SQLAlchemy) (fastapi-users.github.io,
``configuration/full-example``), in one module.

As there: ``sqlite+aiosqlite``, ``User(SQLAlchemyBaseUserTableUUID, Base)``,
``get_async_session``/``get_user_db``/``get_user_manager`` dependencies, a
``UserManager(UUIDIDMixin, BaseUserManager)``, ``BearerTransport`` with
``JWTStrategy(secret, lifetime_seconds=3600)``, ``get_auth_router`` at
``/auth/jwt`` and ``/protected`` = the example's ``/authenticated-route``:
``async def`` with ``Depends(current_active_user)``. Added: a second backend,
``CookieTransport`` + the same JWT strategy (the documented "cookie"
transport), so the same dependency accepts either credential. Not copied: the
register, reset, verify and users routers (unused here).

The bearer token is the ``access_token`` of ``POST /auth/jwt/login``; the
cookie is the one ``POST /auth/cookie/login`` sets. Passwords: fastapi-users'
default ``PasswordHelper`` (pwdlib argon2, its production parameters).
fastapi-users has no roles, so the 100,000-user table has users only.
"""

import uuid
from typing import Any
from urllib.parse import urlencode

from peers.common import (
    KNOWN_EMAIL,
    PASSWORD,
    SECRET,
    USER_AGENT,
    Built,
    Http,
    database_from_env,
    other_email,
)


def build(database: str) -> Built:
    from collections.abc import AsyncGenerator

    from fastapi import Depends, FastAPI
    from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
    from fastapi_users.authentication import (
        AuthenticationBackend,
        BearerTransport,
        CookieTransport,
        JWTStrategy,
    )
    from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        pass

    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    async_session_maker = async_sessionmaker(engine, expire_on_commit=False)

    async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
        async with async_session_maker() as session:
            yield session

    async def get_user_db(session: AsyncSession = Depends(get_async_session)) -> Any:  # noqa: B008
        yield SQLAlchemyUserDatabase(session, User)

    class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
        reset_password_token_secret = SECRET
        verification_token_secret = SECRET

    async def get_user_manager(user_db: Any = Depends(get_user_db)) -> Any:  # noqa: B008
        yield UserManager(user_db)

    def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=SECRET, lifetime_seconds=3600)

    auth_backend = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/jwt/login"),
        get_strategy=get_jwt_strategy,
    )
    cookie_backend = AuthenticationBackend(
        name="cookie",
        transport=CookieTransport(cookie_max_age=3600),
        get_strategy=get_jwt_strategy,
    )
    fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend, cookie_backend])
    current_active_user = fastapi_users.current_user(active=True)

    app = FastAPI()
    app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt")
    app.include_router(fastapi_users.get_auth_router(cookie_backend), prefix="/auth/cookie")

    @app.get("/open")
    async def open_route() -> dict[str, Any]:
        return {"email": None}

    @app.get("/protected")
    async def protected(user: User = Depends(current_active_user)) -> dict[str, Any]:  # noqa: B008
        return {"email": user.email}

    # The example creates the tables in its lifespan; the bench's clients do not
    # all run lifespans, so the tables are made here, through a synchronous engine.
    sync_engine = create_engine(f"sqlite:///{database}")
    Base.metadata.create_all(sync_engine)
    sync_engine.dispose()

    return Built(app, engine.sync_engine, aclose=engine.dispose, extra={"User": User})


def password_hash(built: Built) -> str:
    from fastapi_users.password import PasswordHelper

    return PasswordHelper().hash(PASSWORD)


def seed(built: Built, users: int, hashed: str) -> None:
    from sqlalchemy import create_engine, insert

    table = built.extra["User"].__table__
    path = built.engine.url.database
    engine = create_engine(f"sqlite:///{path}")
    rows = [(KNOWN_EMAIL,)] + [(other_email(n),) for n in range(1, users)]
    try:
        with engine.begin() as connection:
            for start in range(0, len(rows), 5_000):
                connection.execute(
                    insert(table),
                    [
                        {
                            "id": uuid.uuid4(),
                            "email": email,
                            "hashed_password": hashed,
                            "is_active": True,
                            "is_superuser": False,
                            "is_verified": True,
                        }
                        for (email,) in rows[start : start + 5_000]
                    ],
                )
    finally:
        engine.dispose()


def _form_login(http: Http, path: str) -> Any:
    body = urlencode({"username": KNOWN_EMAIL, "password": PASSWORD}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}
    return http.request("POST", path, headers, body)


def sign_in(http: Http) -> Any:
    return _form_login(http, "/auth/jwt/login")


def login(http: Http) -> dict[str, dict[str, str]]:
    reply = sign_in(http)
    if reply.status != 200:
        raise RuntimeError(f"/auth/jwt/login answered {reply.status}: {reply.body[:300]!r}")
    token = reply.json()["access_token"]
    cookie = _form_login(http, "/auth/cookie/login")
    if cookie.status != 204:
        raise RuntimeError(f"/auth/cookie/login answered {cookie.status}: {cookie.body[:300]!r}")
    return {
        "bearer": {"Authorization": f"Bearer {token}"},
        "cookie": {"Cookie": f"fastapiusersauth={cookie.cookie('fastapiusersauth')}"},
    }


def asgi() -> Any:
    return build(database_from_env()).app
