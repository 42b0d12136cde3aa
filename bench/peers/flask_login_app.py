"""Flask-Login, after its documentation (flask-login.readthedocs.io, "Configuring your
Application", "How it Works", "Custom Login using Request Loader").

* ``LoginManager().init_app(app)``; the users live in a Flask-SQLAlchemy model
  ``User(UserMixin, db.Model)`` (the docs leave storage to the app; this is the
  usual Flask-SQLAlchemy 3 way), loaded by
  ``@login_manager.user_loader`` → ``db.session.get(User, int(user_id))``.
* The session cookie: ``login_user(user)`` in a ``POST /login`` view that
  checks the password with Werkzeug's ``check_password_hash``, as the docs'
  ``login`` view does. Flask's own signed-cookie session carries the id.
* The bearer token: the docs' ``@login_manager.request_loader``, reading an
  API key from the ``Authorization`` header and looking the user up by it
  (``User.query.filter_by(api_key=...)``; the column is unique, so indexed).
  The docs' example uses ``Basic <base64 key>``; here it is ``Bearer <key>``.
* ``/protected`` is ``@login_required`` returning ``current_user.email``.

Flask-Login has no roles, so the 100,000-user table has users only.
Passwords: Werkzeug's ``generate_password_hash`` (scrypt by default).
"""

from __future__ import annotations

import secrets
from typing import Any

from peers.common import (
    KNOWN_EMAIL,
    PASSWORD,
    SECRET,
    Built,
    Http,
    batches,
    database_from_env,
    other_email,
    post_json,
)

KNOWN_API_KEY = "flask-login-bench-api-key-0123456789"


def build(database: str) -> Built:
    import flask
    import flask_login
    from flask_sqlalchemy import SQLAlchemy
    from werkzeug.security import check_password_hash

    app = flask.Flask(__name__)
    app.secret_key = SECRET
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    db = SQLAlchemy(app)

    class User(flask_login.UserMixin, db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        email = db.Column(db.String(255), unique=True, nullable=False)
        password = db.Column(db.String(255), nullable=False)
        api_key = db.Column(db.String(64), unique=True, nullable=True)

    login_manager = flask_login.LoginManager()
    login_manager.init_app(app)

    @login_manager.user_loader
    def user_loader(user_id: str) -> Any:
        return db.session.get(User, int(user_id))

    @login_manager.request_loader
    def request_loader(request: Any) -> Any:
        api_key = request.headers.get("Authorization")
        if api_key:
            api_key = api_key.replace("Bearer ", "", 1)
            return User.query.filter_by(api_key=api_key).first()
        return None

    @app.post("/login")
    def login_view() -> Any:
        data = flask.request.get_json()
        user = User.query.filter_by(email=data["email"]).first()
        if user is None or not check_password_hash(user.password, data["password"]):
            return {"error": "bad credentials"}, 401
        flask_login.login_user(user)
        return {"api_key": user.api_key}

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"email": None}

    @app.get("/protected")
    @flask_login.login_required
    def protected() -> dict[str, Any]:
        return {"email": flask_login.current_user.email}

    with app.app_context():
        db.create_all()
        engine = db.engine

    def close() -> None:
        with app.app_context():
            db.engine.dispose()

    return Built(app, engine, close=close, extra={"db": db, "User": User})


def password_hash(built: Built) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD)


def seed(built: Built, users: int, hashed: str) -> None:
    from sqlalchemy import insert

    table = built.extra["User"].__table__
    with built.engine.begin() as connection:
        connection.execute(
            insert(table), [{"email": KNOWN_EMAIL, "password": hashed, "api_key": KNOWN_API_KEY}]
        )
        for numbers in batches(users - 1):
            connection.execute(
                insert(table),
                [
                    {
                        "email": other_email(n),
                        "password": hashed,
                        "api_key": secrets.token_urlsafe(24),
                    }
                    for n in numbers
                ],
            )


def login(http: Http) -> dict[str, dict[str, str]]:
    reply = post_json(http, "/login", {"email": KNOWN_EMAIL, "password": PASSWORD})
    if reply.status != 200:
        raise RuntimeError(f"/login answered {reply.status}: {reply.body[:300]!r}")
    return {
        "bearer": {"Authorization": f"Bearer {reply.json()['api_key']}"},
        "cookie": {"Cookie": f"session={reply.cookie('session')}"},
    }


def wsgi() -> Any:
    return build(database_from_env()).app
