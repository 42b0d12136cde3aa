"""authgate on Flask, after the README's "Flask" quick start.

``Auth(secret, database_url="sqlite:///…")`` + ``setup_for_flask(auth, app)``,
and ``/protected`` is ``@login_required`` returning ``current_user``'s email,
as ``/me`` does in the README. Settings are the defaults except
``throttle_sign_in=False``, so that the bench's repeated sign-ins of one user
are not rate limited (the same settings as ``bench/backends.py``).

Credentials come from authgate's own ``POST /auth/sign-in/email``, with
``jwt_access_tokens`` on: the JWT access token of its JSON body is sent as
``Authorization: Bearer …`` ("jwt"), the session token of the cookie it sets
both as ``Authorization: Bearer …`` ("bearer") and as ``Cookie: …``.
"""

from __future__ import annotations

from typing import Any

from peers.common import (
    KNOWN_EMAIL,
    PASSWORD,
    SECRET,
    Built,
    Http,
    database_from_env,
    post_json,
)


def _bench_key() -> str:
    """A fixed Ed25519 key (from a constant seed), the same in every bench process."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from authgate.keys import private_pem

    seed = hashlib.sha256(b"authgate web bench, never a real key").digest()
    return private_pem(Ed25519PrivateKey.from_private_bytes(seed))


SETTINGS: dict[str, Any] = {
    "throttle_sign_in": False,
    # Sign-ins answer a JWT access token too: the bench measures it beside the
    # session token (as bearer) and the session cookie, in the same app and run.
    "jwt_access_tokens": True,
    "jwt_keys": [_bench_key()],
    # No emails are sent here; a real deployment sets both (authgate warns otherwise).
    "base_url": "http://127.0.0.1:8000",
    "send_email": lambda message: None,
}


def build(database: str) -> Built:
    from flask import Flask

    from authgate import Auth
    from authgate.flask import current_user, login_required, setup_for_flask

    app = Flask(__name__)
    auth = Auth(SECRET, database_url=f"sqlite:///{database}", **SETTINGS)
    setup_for_flask(auth, app)

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"email": None}

    @app.get("/protected")
    @login_required
    def protected() -> dict[str, Any]:
        return {"email": current_user.email}

    return Built(app, auth.store.engine, close=auth.store.close, extra={"auth": auth})


def password_hash(built: Built) -> str:
    """A hash with authgate's production (default) parameters."""
    return str(built.extra["auth"].users.hash_password(PASSWORD))


def seed(built: Built, users: int, hashed: str) -> None:
    """The known user with the role ``member``, then ``users - 1`` more, each with the role
    and a live session (``bench/backends.py``'s bulk loader)."""
    from backends import ROLE, bulk_insert_users

    auth = built.extra["auth"]
    auth.users.create_user(email=KNOWN_EMAIL, password_hash=hashed, roles=[ROLE])
    bulk_insert_users(auth, users - 1, hashed)


def sign_in(http: Http) -> Any:
    return post_json(http, "/auth/sign-in/email", {"email": KNOWN_EMAIL, "password": PASSWORD})


def login(http: Http) -> dict[str, dict[str, str]]:
    """Headers carrying each credential, from one sign-in."""
    return credentials(sign_in(http))


def credentials(reply: Any) -> dict[str, dict[str, str]]:
    if reply.status != 200:
        raise RuntimeError(f"sign-in answered {reply.status}: {reply.body[:300]!r}")
    access_token = reply.json()["token"]
    # "__Host-authgate_session" (Secure cookies by default), next to the CSRF cookie.
    cookie_name = next(
        value.split("=", 1)[0]
        for key, value in reply.headers
        if key.lower() == "set-cookie" and value.split("=", 1)[0].endswith("_session")
    )
    session_token = reply.cookie(cookie_name)
    return {
        # The session token as a bearer token (what the body carries without JWTs).
        "bearer": {"Authorization": f"Bearer {session_token}"},
        "cookie": {"Cookie": f"{cookie_name}={session_token}"},
        "jwt": {"Authorization": f"Bearer {access_token}"},
    }


def wsgi() -> Any:
    """The app for gunicorn (``peers.authgate_flask:wsgi()``)."""
    return build(database_from_env()).app
