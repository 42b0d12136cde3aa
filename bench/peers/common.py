"""What every peer app shares: the known user, the HTTP seam, bulk loading helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "DATABASE_ENV",
    "INSERT_BATCH",
    "KNOWN_EMAIL",
    "PASSWORD",
    "SECRET",
    "USER_AGENT",
    "Built",
    "Http",
    "Reply",
    "batches",
    "database_from_env",
    "other_email",
    "post_json",
]

#: The same values as ``bench/backends.py`` (not imported: a peer must not
#: depend on authgate importing cleanly).
SECRET = "authgate-bench-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
KNOWN_EMAIL = "known.user@example.com"
#: Every client of the bench sends this, so session protections bound to the
#: user agent (Flask-Login's ``session_protection``) see one browser.
USER_AGENT = "authgate-web-bench"
#: Rows per executemany batch when bulk-loading users.
INSERT_BATCH = 5_000
#: The server processes read the SQLite file's path from this variable.
DATABASE_ENV = "WEB_BENCH_DB"


def other_email(number: int) -> str:
    return f"user{number:06d}@example.com"


def batches(count: int) -> Iterator[range]:
    """User numbers ``1..count`` in chunks of :data:`INSERT_BATCH`."""
    for start in range(1, count + 1, INSERT_BATCH):
        yield range(start, min(count + 1, start + INSERT_BATCH))


def database_from_env() -> str:
    path = os.environ.get(DATABASE_ENV)
    if not path:
        raise RuntimeError(f"set {DATABASE_ENV} to the SQLite file the app serves")
    return path


@dataclass
class Reply:
    """An HTTP response, whichever client produced it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def cookie(self, name: str) -> str:
        """The value of cookie ``name`` set by this response."""
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                cookie, _, content = pair.partition("=")
                if cookie.strip() == name:
                    return content.strip()
        raise LookupError(f"no Set-Cookie {name!r} in the response ({self.status})")


class Http(Protocol):
    """The one thing a peer needs from a client: send a request, get a :class:`Reply`."""

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply: ...


def post_json(http: Http, path: str, data: dict[str, Any]) -> Reply:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    return http.request("POST", path, headers, json.dumps(data).encode())


@dataclass
class Built:
    """A ready app over one SQLite file."""

    #: The WSGI (Flask) or ASGI (FastAPI) application.
    app: Any
    #: A synchronous SQLAlchemy ``Engine`` whose statements are the app's (for
    #: counting); ``None`` for an app without a database.
    engine: Any
    #: Releases the app's connections.
    close: Callable[[], None] = lambda: None
    #: Releases connections that belong to an event loop (run on the app's loop).
    aclose: Callable[[], Awaitable[None]] | None = None
    #: Anything the module wants to keep (models, the library's main object).
    extra: dict[str, Any] = field(default_factory=dict)
