"""Assertions the fault scenarios share: a clean 503, and what a body must never contain."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ..web.clients import Response

#: Text that must never reach a client: driver, SQL, DSN, host, table names, traces.
LEAKS = (
    "traceback", "select ", "insert ", "update ", "delete ", "commit", "postgres", "psycopg",
    "mysql", "mariadb", "pymysql", "sqlite", "127.0.0.1", "localhost", "authgate_users",
    "operationalerror", "injected", "redis", "connection", "$argon2", "password_hash",
)  # fmt: skip

_REF = re.compile(r"\(ref ([0-9a-f]{12})\)")


def assert_no_leak(text: str, *extra: str) -> None:
    """``text`` names no backend, host, SQL or secret (nor any of ``extra``)."""
    lowered = text.lower()
    for leak in (*LEAKS, *extra):
        assert leak.lower() not in lowered, (leak, text)


def assert_unavailable(r: Response, caplog: pytest.LogCaptureFixture, *extra_leaks: str) -> str:
    """A clean ``503 SERVICE_UNAVAILABLE``: Retry-After, no leak, ONE error log line.

    Returns the reference the body and the log line share. Clears ``caplog``.
    """
    assert r.status == 503, (r.status, r.body)
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == "SERVICE_UNAVAILABLE", body
    retry_after = r.header("Retry-After")
    assert retry_after is not None and int(retry_after) >= 1
    assert_no_leak(r.body.decode(), *extra_leaks)
    return assert_logged_once(body["error"]["message"], caplog)


def assert_logged_once(message: str, caplog: pytest.LogCaptureFixture) -> str:
    """The error ``message`` carries a reference found in exactly one authgate ERROR line."""
    found = _REF.search(message)
    assert found, message
    ref = found.group(1)
    lines = [
        record for record in caplog.records
        if record.name.startswith("authgate") and record.levelname == "ERROR"
    ]  # fmt: skip
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert ref in lines[0].getMessage()
    caplog.clear()
    return ref


def body_of(r: Response) -> Any:
    return r.json()
