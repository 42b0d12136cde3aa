"""A plain Flask app with no authentication library: the floor every Flask row is compared to.

Only ``GET /open``, answering ``{"email": null}`` like every app's unprotected route.
"""

from __future__ import annotations

from typing import Any

from peers.common import Built, Http


def build(database: str) -> Built:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"email": None}

    return Built(app, None)


def password_hash(built: Built) -> str:
    return ""


def seed(built: Built, users: int, hashed: str) -> None:
    """No database."""


def login(http: Http) -> dict[str, dict[str, str]]:
    return {"none": {}}


def wsgi() -> Any:
    return build("").app
