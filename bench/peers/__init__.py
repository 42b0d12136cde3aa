"""The web apps measured by ``bench/web.py``: authgate and its peers, one module per app.

Each module is a minimal app written after that library's own quick start
(its docstring says which), with two routes of the same shape:

* ``GET /open``: unprotected, answers ``{"email": null}``;
* ``GET /protected``: the library's own way of requiring a signed-in user,
  answers ``{"email": <the user's email>}``.

Every module has the same functions, so the bench drives them all alike,
in-process and behind a real server:

* ``build(database) -> Built``: the app over that SQLite file, tables created;
* ``password_hash(built)``: one hash of the known password, the library's way;
* ``seed(built, users, hashed)``: the known user, then ``users - 1`` more in bulk;
* ``login(http) -> {mechanism: headers}``: credentials from the app's own sign-in;
* ``sign_in(http)`` (FastAPI apps): one sign-in, for the responsiveness test;
* ``wsgi()`` / ``asgi()``: the app for gunicorn / uvicorn, over ``$WEB_BENCH_DB``.

The modules import their library inside these functions: ``bench/web.py``
lists the peers, and reports one that fails to import, without importing them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["PEERS", "Peer", "load"]


@dataclass(frozen=True)
class Peer:
    """One app: which library, on which framework, with which credentials."""

    #: Short key, also the module name under ``peers``.
    key: str
    #: The library's name as people know it.
    library: str
    #: ``"flask"`` or ``"fastapi"``.
    framework: str
    #: The distribution to report the version of.
    distribution: str
    #: The credentials the library accepts on ``/protected`` ("bearer", "cookie", "token",
    #: "jwt": authgate's access token; "none" for the plain apps).
    mechanisms: tuple[str, ...]
    #: Whether the app has a sign-in endpoint for the responsiveness test (FastAPI only).
    signs_in: bool = False
    #: A plain app without authentication (only ``/open``, no database): the floor.
    baseline: bool = False

    @property
    def is_authgate(self) -> bool:
        return self.library == "authgate"

    @property
    def routes(self) -> tuple[str, ...]:
        return ("open",) if self.baseline else ("open", "protected")

    @property
    def label(self) -> str:
        return f"{self.library} ({self.framework_label})"

    @property
    def framework_label(self) -> str:
        return "Flask" if self.framework == "flask" else "FastAPI"


PEERS: tuple[Peer, ...] = (
    Peer("plain_flask", "no auth library", "flask", "Flask", ("none",), baseline=True),
    Peer("authgate_flask", "authgate", "flask", "authgate", ("bearer", "cookie", "jwt")),
    Peer("flask_login_app", "Flask-Login", "flask", "Flask-Login", ("bearer", "cookie")),
    Peer(
        "flask_security_app",
        "Flask-Security-Too",
        "flask",
        "Flask-Security-Too",
        ("token", "cookie"),
    ),
    Peer("plain_fastapi", "no auth library", "fastapi", "fastapi", ("none",), baseline=True),
    Peer(
        "authgate_fastapi", "authgate", "fastapi", "authgate", ("bearer", "cookie", "jwt"), True
    ),
    Peer(
        "fastapi_users_app",
        "fastapi-users",
        "fastapi",
        "fastapi-users",
        ("bearer", "cookie"),
        signs_in=True,
    ),
    Peer("auth101_fastapi", "auth101", "fastapi", "auth101", ("bearer",), True),
)


def load(peer: Peer) -> ModuleType:
    """Import the peer's module (which imports its library)."""
    return importlib.import_module(f"peers.{peer.key}")
