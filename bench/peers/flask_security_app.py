"""Flask-Security-Too, after its quick start "Basic Flask-SQLAlchemy Application"
(flask-security-too.readthedocs.io, ``quickstart.html``).

As there: Flask-SQLAlchemy, ``fsqla_v3`` models (``User(db.Model,
fsqla.FsUserMixin)``, ``Role(db.Model, fsqla.FsRoleMixin)``),
``SQLAlchemyUserDatastore``, ``app.security = Security(app, user_datastore)``,
``SECRET_KEY``/``SECURITY_PASSWORD_SALT``, ``SQLALCHEMY_ENGINE_OPTIONS =
{"pool_pre_ping": True}`` and ``/protected`` behind ``@auth_required()``
(default mechanisms: session and token). Not copied: ``DEBUG = True``.

Credentials come from Flask-Security's own JSON ``/login``: a ``GET`` for the
CSRF token, then ``POST /login?include_auth_token`` with it. The session
cookie it sets is the "cookie" credential; the ``authentication_token`` it
returns is sent in Flask-Security's ``Authentication-Token`` header (its token
mechanism; it does not read ``Authorization: Bearer``).

Every user holds the role ``member`` (a row in ``roles_users``).
Passwords: Flask-Security's default ``argon2``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from peers.common import (
    KNOWN_EMAIL,
    PASSWORD,
    SECRET,
    USER_AGENT,
    Built,
    Http,
    batches,
    database_from_env,
    other_email,
)

ROLE = "member"


def build(database: str) -> Built:
    from flask import Flask
    from flask_security import Security, SQLAlchemyUserDatastore, auth_required, current_user
    from flask_security.models import fsqla_v3 as fsqla
    from flask_sqlalchemy import SQLAlchemy

    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    app.config["SECURITY_PASSWORD_SALT"] = "146585145368132386173505678016728509634"
    app.config["REMEMBER_COOKIE_SAMESITE"] = "strict"
    app.config["SESSION_COOKIE_SAMESITE"] = "strict"
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}

    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
        pass

    class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
        pass

    user_datastore = SQLAlchemyUserDatastore(db, User, Role)
    app.security = Security(app, user_datastore)  # type: ignore[attr-defined]

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"email": None}

    @app.get("/protected")
    @auth_required()
    def protected() -> dict[str, Any]:
        return {"email": current_user.email}

    with app.app_context():
        db.create_all()
        engine = db.engine

    def close() -> None:
        with app.app_context():
            db.engine.dispose()

    return Built(app, engine, close=close, extra={"db": db, "User": User, "Role": Role})


def password_hash(built: Built) -> str:
    from flask_security import hash_password

    with built.app.app_context():
        return str(hash_password(PASSWORD))


def seed(built: Built, users: int, hashed: str) -> None:
    """The known user through the datastore; the others with Core, with their role."""
    from sqlalchemy import insert, select

    app, db = built.app, built.extra["db"]
    with app.app_context():
        datastore = app.security.datastore
        role = datastore.find_or_create_role(ROLE)
        datastore.create_user(email=KNOWN_EMAIL, password=hashed, roles=[role])
        db.session.commit()
        role_id = role.id
    users_table = built.extra["User"].__table__
    links = db.metadata.tables["roles_users"]
    with built.engine.begin() as connection:
        for numbers in batches(users - 1):
            connection.execute(
                insert(users_table),
                [
                    {
                        "email": other_email(n),
                        "password": hashed,
                        "active": True,
                        "fs_uniquifier": uuid.uuid4().hex,
                    }
                    for n in numbers
                ],
            )
        ids = connection.execute(
            select(users_table.c.id).where(users_table.c.email != KNOWN_EMAIL)
        ).scalars()
        rows = [{"user_id": user_id, "role_id": role_id} for user_id in ids]
        for start in range(0, len(rows), 5_000):
            connection.execute(insert(links), rows[start : start + 5_000])


def login(http: Http) -> dict[str, dict[str, str]]:
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    json_headers["User-Agent"] = USER_AGENT
    form = http.request("GET", "/login", json_headers)
    if form.status != 200:
        raise RuntimeError(f"GET /login answered {form.status}: {form.body[:300]!r}")
    csrf = form.json()["response"]["csrf_token"]
    reply = http.request(
        "POST",
        "/login?include_auth_token",
        {**json_headers, "Cookie": f"session={form.cookie('session')}"},
        json.dumps({"email": KNOWN_EMAIL, "password": PASSWORD, "csrf_token": csrf}).encode(),
    )
    if reply.status != 200:
        raise RuntimeError(f"POST /login answered {reply.status}: {reply.body[:300]!r}")
    token = reply.json()["response"]["user"]["authentication_token"]
    return {
        "token": {"Authentication-Token": token},
        "cookie": {"Cookie": f"session={reply.cookie('session')}"},
    }


def wsgi() -> Any:
    return build(database_from_env()).app
