"""authgate on FastAPI, after the README's "FastAPI" quick start.

``Auth(secret, database_url="sqlite:///…")`` + ``setup_for_fastapi(auth, app)``,
and ``/protected`` takes ``user: CurrentUser`` as ``/me`` does in the README.
One deliberate difference: the routes are ``async def`` (the README's ``/me``
is a plain ``def``), the shape every other FastAPI app here has, so that the
unprotected route is the same for all. A ``def`` route would add a thread-pool
hop to both routes alike; the ``CurrentUser`` dependency, a plain ``def``,
runs in the thread pool either way, and that hop is part of authgate's cost.
Settings: the defaults except ``throttle_sign_in=False`` (repeated sign-ins of
one user in the bench).

Credentials come from authgate's own ``POST /auth/sign-in/email``.
"""

from typing import Any

from peers import authgate_flask
from peers.common import PASSWORD, SECRET, Built, database_from_env

SETTINGS = authgate_flask.SETTINGS


def build(database: str) -> Built:
    from fastapi import FastAPI

    from authgate import Auth
    from authgate.fastapi import CurrentUser, setup_for_fastapi

    app = FastAPI()
    auth = Auth(SECRET, database_url=f"sqlite:///{database}", **SETTINGS)
    setup_for_fastapi(auth, app)

    @app.get("/open")
    async def open_route() -> dict[str, Any]:
        return {"email": None}

    @app.get("/protected")
    async def protected(user: CurrentUser) -> dict[str, Any]:
        return {"email": user.email}

    return Built(app, auth.store.engine, close=auth.store.close, extra={"auth": auth})


def password_hash(built: Built) -> str:
    return str(built.extra["auth"].users.hash_password(PASSWORD))


seed = authgate_flask.seed
sign_in = authgate_flask.sign_in
login = authgate_flask.login


def asgi() -> Any:
    """The app for uvicorn (``--factory peers.authgate_fastapi:asgi``)."""
    return build(database_from_env()).app
