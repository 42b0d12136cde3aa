"""A plain FastAPI app with no authentication library: the floor every FastAPI row is compared to.

Only ``GET /open`` (``async def``), answering ``{"email": null}`` like every app's
unprotected route.
"""

from typing import Any

from peers.common import Built, Http


def build(database: str) -> Built:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, Any]:
        return {"email": None}

    return Built(app, None)


def password_hash(built: Built) -> str:
    return ""


def seed(built: Built, users: int, hashed: str) -> None:
    """No database."""


def login(http: Http) -> dict[str, dict[str, str]]:
    return {"none": {}}


def asgi() -> Any:
    return build("").app
