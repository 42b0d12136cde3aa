"""auth101 on FastAPI, after its README's "FastAPI" quick start (the PyPI project page).

As there: ``Auth101(secret, database=SQLAlchemyAdapter("sqlite:///…"))``,
``app.include_router(auth.fastapi_router(), prefix="/auth")`` and
``CurrentUser = auth.fastapi_current_user()``; ``/protected`` is
``async def`` with ``Depends(CurrentUser)``, as ``/me`` is there.

auth101 authenticates with a bearer JWT only (no cookie transport): the
``access_token`` of its own ``POST /auth/sign-in/email``. Its dependency
decodes the JWT and loads the user by email. auth101 has no roles, so the
100,000-user table has users (and their ``account`` rows, which hold the
password hashes) only. Passwords: auth101's passlib ``argon2`` default.
"""

import datetime as dt
import uuid
from typing import Any

from peers.common import (
    KNOWN_EMAIL,
    PASSWORD,
    SECRET,
    Built,
    Http,
    database_from_env,
    other_email,
    post_json,
)


def build(database: str) -> Built:
    from auth101 import Auth101
    from auth101.adapters import SQLAlchemyAdapter
    from fastapi import Depends, FastAPI

    adapter = SQLAlchemyAdapter(f"sqlite:///{database}")
    auth = Auth101(secret=SECRET, database=adapter)

    app = FastAPI()
    app.include_router(auth.fastapi_router(), prefix="/auth", tags=["auth"])
    current_user = auth.fastapi_current_user()

    @app.get("/open")
    async def open_route() -> dict[str, Any]:
        return {"email": None}

    @app.get("/protected")
    async def protected(user: Any = Depends(current_user)) -> dict[str, Any]:  # noqa: B008
        return {"email": user.email}

    engine = adapter._engine  # the adapter's own engine: its statements are auth101's
    return Built(app, engine, close=engine.dispose, extra={"auth": auth})


def password_hash(built: Built) -> str:
    from auth101.security.hashing import DEFAULT_PWD_CTX, hash_password

    return hash_password(PASSWORD, DEFAULT_PWD_CTX)


def seed(built: Built, users: int, hashed: str) -> None:
    from sqlalchemy import MetaData, insert

    metadata = MetaData()
    metadata.reflect(built.engine, only=["users", "account"])
    users_table, accounts = metadata.tables["users"], metadata.tables["account"]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    emails = [KNOWN_EMAIL] + [other_email(n) for n in range(1, users)]
    with built.engine.begin() as connection:
        for start in range(0, len(emails), 5_000):
            chunk = [(str(uuid.uuid4()), email) for email in emails[start : start + 5_000]]
            connection.execute(
                insert(users_table),
                [
                    {
                        "id": user_id, "name": "", "email": email, "email_verified": True,
                        "image": "", "is_active": True, "created_at": now, "updated_at": now,
                    }
                    for user_id, email in chunk
                ],
            )  # fmt: skip
            connection.execute(
                insert(accounts),
                [
                    {
                        "id": str(uuid.uuid4()), "account_id": email, "provider_id": "credential",
                        "user_id": user_id, "password": hashed, "created_at": now,
                        "updated_at": now,
                    }
                    for user_id, email in chunk
                ],
            )  # fmt: skip


def sign_in(http: Http) -> Any:
    return post_json(http, "/auth/sign-in/email", {"email": KNOWN_EMAIL, "password": PASSWORD})


def login(http: Http) -> dict[str, dict[str, str]]:
    reply = sign_in(http)
    if reply.status != 200:
        raise RuntimeError(f"sign-in answered {reply.status}: {reply.body[:300]!r}")
    return {"bearer": {"Authorization": f"Bearer {reply.json()['access_token']}"}}


def asgi() -> Any:
    return build(database_from_env()).app
