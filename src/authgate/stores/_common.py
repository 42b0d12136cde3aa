"""Helpers shared by the built-in stores: key conversion and attribute checks."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Hashable, Iterable
from typing import Any

from sqlalchemy import Column, inspect

from authgate.errors import ServiceUnavailable, ValidationError
from authgate.models import Notice

log = logging.getLogger("authgate.store")

#: Returned by :func:`coerce_key` for an id that cannot be a key of the model.
INVALID_KEY: Any = object()

#: User columns that follow other columns and are never set directly.
DERIVED_USER_COLUMNS = frozenset({"email_canonical", "username_canonical"})


#: The port a server listens on when a URL names none.
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521}
#: Backend names that reach the same kind of server (SQLAlchemy's and Django's spellings).
_FAMILIES = {"mariadb": "mysql", "postgres": "postgresql", "sqlite3": "sqlite"}
#: Names of the loopback interface: one server, however it is spelt.
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", ""})


def database_identity(
    backend: str, host: str | None, port: int | str | None, database: str | None
) -> Hashable | None:
    """What identifies the data a connection reaches, whatever the spelling of its settings.

    Two configurations with equal identities reach the same tables: the same
    SQLite file (by its real absolute path, so a relative path, a symlink or
    URL options such as ``?timeout=30`` do not matter), or the same server
    (backend family, host with every loopback name as one, port with the
    backend's default filled in) and database. Drivers, users, passwords and
    connection options are left out: they change how, not what.

    ``None`` for an in-memory SQLite database, which only its own connection
    sees (the caller identifies it by that connection's owner instead).

    Examples:
        >>> database_identity("sqlite", None, None, "/tmp/../tmp/a.db")
        ('sqlite', '/tmp/a.db')
        >>> database_identity("mariadb", "LOCALHOST", None, "app")
        ('mysql', 'localhost', 3306, 'app')
    """
    family = _FAMILIES.get(backend, backend)
    if family == "sqlite":
        path = database or ""
        if path.startswith("file:"):  # an SQLite URI filename: file:name?mode=...
            path, _, options = path[len("file:") :].partition("?")
            if "mode=memory" in options:
                return None
        if path in ("", ":memory:"):
            return None
        return ("sqlite", os.path.realpath(path))
    name = (host or "").strip().lower()
    if name in _LOOPBACK:
        name = "localhost"
    number = int(port) if port not in (None, "") else _DEFAULT_PORTS.get(family)
    return (family, name, number, database)


def primary_key(model: type[Any]) -> Column[Any]:
    """The single primary-key column of a mapped model."""
    columns: list[Column[Any]] = list(model.__table__.primary_key.columns)
    if len(columns) != 1:
        raise TypeError(f"{model.__name__} must have a single-column primary key")
    return columns[0]


def key_type(model: type[Any]) -> type[Any] | None:
    """The Python type of the model's primary key (``str``, ``int``...), if known."""
    try:
        python_type: type[Any] = primary_key(model).type.python_type
    except NotImplementedError:
        return None
    return python_type


def coerce_key(model: type[Any], value: Any) -> Any:
    """Convert ``value`` (often a string from a URL or token) to the model's key type.

    Returns :data:`INVALID_KEY` when that is impossible (``"abc"`` for an
    ``Integer`` key), so callers answer "not found" instead of failing.
    """
    python_type = key_type(model)
    if value is None or isinstance(value, bool):
        return INVALID_KEY
    if python_type is None:
        return value
    if isinstance(value, python_type):
        return value
    try:
        return python_type(value)
    except (TypeError, ValueError):
        return INVALID_KEY


def column_attributes(model: type[Any]) -> dict[str, Column[Any]]:
    """The model's column attributes by attribute name."""
    mapper = inspect(model)
    return {attr.key: attr.columns[0] for attr in mapper.column_attrs}


def check_attributes(model: type[Any], names: Iterable[str], *, writable: bool = False) -> None:
    """Raise ``ValidationError(unknown_field)`` for names that are not columns of ``model``.

    With ``writable``, the primary key and derived columns (canonical email
    and username, which follow ``email`` and ``username``) are refused too.
    """
    known = column_attributes(model)
    if writable:
        known = {
            name: column
            for name, column in known.items()
            if not column.primary_key and name not in DERIVED_USER_COLUMNS
        }
    unknown = {name: "unknown_field" for name in names if name not in known}
    if unknown:
        raise ValidationError(fields=unknown)


def permissions_text(permissions: Iterable[str] | str | None) -> str | None:
    """Permissions as stored: a sorted comma-separated list, or ``None`` for none."""
    if permissions is None:
        return None
    items = [permissions] if isinstance(permissions, str) else list(permissions)
    names = sorted({p.strip() for item in items for p in item.split(",") if p.strip()})
    return ",".join(names) or None


def constraint_name(driver_error: BaseException | None) -> str:
    """The name of the constraint or key a driver's integrity error names (lower case)."""
    name = getattr(getattr(driver_error, "diag", None), "constraint_name", None)  # psycopg
    if name:
        return str(name).lower()
    text = str(driver_error)
    # MariaDB/MySQL: "Duplicate entry '<value>' for key '<name>'". The value comes
    # first and may contain anything, so the key is after the *last* marker.
    if "for key '" in text:
        return text.rsplit("for key '", 1)[1].split("'", 1)[0].lower()
    # SQLite: "UNIQUE constraint failed: <table>.<column>"
    if "constraint failed: " in text:
        return text.rsplit("constraint failed: ", 1)[1].split(",", 1)[0].strip().lower()
    return ""


def unavailable(exc: BaseException) -> ServiceUnavailable:
    """Log ``exc`` once under a short reference and return the error the caller sees.

    The message carries the reference only: never the URL, the SQL or the driver's text.
    """
    ref = uuid.uuid4().hex[:12]
    log.error("storage backend failure (ref %s)", ref, exc_info=exc)
    return ServiceUnavailable(f"{ServiceUnavailable.default_message} (ref {ref})")


def event_row(event: Any) -> dict[str, Any]:
    """The columns of a :class:`~authgate.models.SecurityEvent` row (details as compact JSON)."""
    return {
        "kind": event.kind,
        "at": event.at,
        "outcome": event.outcome,
        "user_id": event.user_id,
        "actor": event.actor,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": json.dumps(event.details, separators=(",", ":")) if event.details else None,
    }


def notice_row(notice: Notice, user_id: str | None = None) -> dict[str, Any]:
    """The columns of a :class:`~authgate.models.Notice` row (headers as compact JSON).

    ``user_id`` is used when the notice has none (the user being created).
    """
    return {
        "id": notice.id,
        "kind": notice.kind,
        "user_id": notice.user_id if notice.user_id is not None else user_id,
        "recipient": notice.to,
        "sender": notice.sender,
        "subject": notice.subject,
        "body_text": notice.text,
        "body_html": notice.html,
        "headers": json.dumps(notice.headers, separators=(",", ":")) if notice.headers else None,
        "created_at": notice.created_at,
        "next_attempt_at": notice.next_attempt_at,
        "attempts": notice.attempts,
    }


def notice_of(row: Any) -> Notice:
    """The :class:`~authgate.models.Notice` of a row (a mapping of :func:`notice_row`'s columns)."""
    headers = row["headers"]
    return Notice(
        id=row["id"],
        kind=row["kind"],
        to=row["recipient"],
        subject=row["subject"],
        text=row["body_text"],
        html=row["body_html"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        user_id=row["user_id"],
        sender=row["sender"],
        headers=json.loads(headers) if headers else {},
        attempts=int(row["attempts"]),
    )
