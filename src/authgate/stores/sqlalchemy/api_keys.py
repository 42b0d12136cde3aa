"""Personal API keys in SQL (``authgate_api_keys``), looked up by the digest of the key."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from authgate.errors import ValidationError
from authgate.models import ApiKeyRecord
from authgate.stores._common import INVALID_KEY, coerce_key
from authgate.stores.sqlalchemy.core import StoreCore, changed_one

__all__ = ["ApiKeyQueries"]


class ApiKeyQueries(StoreCore):
    """Personal API keys; they go with their user (a cascading foreign key)."""

    def create_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key."""
        key = coerce_key(self.user_model, record.user_id)
        if key is INVALID_KEY:
            raise ValidationError(fields={"user_id": "invalid"})
        row = {
            "id": record.id,
            "key_hash": record.key_hash,
            "user_id": key,
            "name": record.name,
            "prefix": record.prefix,
            "scopes": json.dumps(list(record.scopes)),
            "allowed_ips": json.dumps(list(record.allowed_ips)),
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "last_used_at": record.last_used_at,
            "last_used_ip": record.last_used_ip,
        }
        statement = insert(self._api_keys).values(row)
        self._write(lambda s: s.execute(statement))

    def get_api_key(self, key_hash: str) -> tuple[ApiKeyRecord, Any | None] | None:
        """The key with this digest (a unique index) and its user."""
        query = select(self._api_keys).where(self._api_keys.c.key_hash == key_hash)
        rows = self._run(lambda s: [dict(row) for row in s.execute(query).mappings()])
        if not rows:
            return None
        record = _record(rows[0])
        return record, self.get_session_user(record.user_id)  # type: ignore[attr-defined]

    def list_api_keys(self, user_id: Any) -> list[ApiKeyRecord]:
        """The user's keys, newest first."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return []
        keys = self._api_keys
        query = (
            select(keys)
            .where(keys.c.user_id == key)
            .order_by(keys.c.created_at.desc(), keys.c.id.desc())
        )
        return self._run(lambda s: [_record(dict(row)) for row in s.execute(query).mappings()])

    def delete_api_key(self, key_id: str, user_id: Any | None = None) -> bool:
        """Delete one key; with ``user_id``, only if it is that user's."""
        keys = self._api_keys
        conditions = [keys.c.id == key_id]
        if user_id is not None:
            key = coerce_key(self.user_model, user_id)
            if key is INVALID_KEY:
                return False
            conditions.append(keys.c.user_id == key)
        statement = delete(keys).where(*conditions)
        return self._write(lambda s: bool(s.execute(statement).rowcount))  # type: ignore[attr-defined]

    def touch_api_key(
        self, key_id: str, used_at: dt.datetime, ip: str | None, not_since: dt.datetime
    ) -> bool:
        """Record a use, unless one was recorded at or after ``not_since`` (conditional UPDATE)."""
        keys = self._api_keys
        statement = (
            update(keys)
            .where(keys.c.id == key_id)
            .where(or_(keys.c.last_used_at.is_(None), keys.c.last_used_at < not_since))
            .values(last_used_at=used_at, last_used_ip=None if ip is None else ip[:64])
        )
        return self._write(lambda s: changed_one(s.execute(statement)))


def _record(row: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        key_hash=row["key_hash"],
        user_id=str(row["user_id"]),
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        scopes=tuple(json.loads(row["scopes"] or "[]")),
        allowed_ips=tuple(json.loads(row["allowed_ips"] or "[]")),
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        last_used_ip=row["last_used_ip"],
    )
