"""Passkeys in SQL (``authgate_passkeys``), looked up by the digest of the credential id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from authgate.models import PasskeyRecord
from authgate.stores._common import INVALID_KEY, coerce_key
from authgate.stores.sqlalchemy.core import StoreCore, changed_one

__all__ = ["PasskeyQueries"]


class PasskeyQueries(StoreCore):
    """WebAuthn credentials; they go with their user (a cascading foreign key)."""

    def create_passkey(self, record: PasskeyRecord) -> bool:
        """Store a new passkey; ``False`` if its credential id is taken (or the user is gone)."""
        key = coerce_key(self.user_model, record.user_id)
        if key is INVALID_KEY:
            return False
        row = {
            "id": record.id,
            "user_id": key,
            "credential_hash": record.credential_hash,
            "credential_id": record.credential_id,
            "public_key": record.public_key,
            "sign_count": record.sign_count,
            "transports": ",".join(record.transports) or None,
            "aaguid": record.aaguid or None,
            "name": record.name,
            "backup_eligible": record.backup_eligible,
            "backed_up": record.backed_up,
            "created_at": record.created_at,
            "last_used_at": record.last_used_at,
        }
        statement = insert(self._passkeys).values(row)
        try:
            self._write(lambda s: s.execute(statement), expect_conflict=True)
        except IntegrityError:
            return False
        return True

    def get_passkey_by_credential(
        self, credential_hash: str
    ) -> tuple[PasskeyRecord, Any | None] | None:
        """The passkey with this credential digest (a unique index) and its user."""
        query = select(self._passkeys).where(self._passkeys.c.credential_hash == credential_hash)
        rows = self._run(lambda s: [dict(row) for row in s.execute(query).mappings()])
        if not rows:
            return None
        record = _record(rows[0])
        return record, self.get_session_user(record.user_id)  # type: ignore[attr-defined]

    def list_passkeys(self, user_id: Any) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return []
        table = self._passkeys
        query = select(table).where(table.c.user_id == key).order_by(table.c.created_at, table.c.id)
        return self._run(lambda s: [_record(dict(row)) for row in s.execute(query).mappings()])

    def rename_passkey(self, passkey_id: str, user_id: Any, name: str) -> PasskeyRecord | None:
        """Rename one of the user's passkeys (an UPDATE limited to theirs, then a read).

        The read, not the row count, says whether it is theirs: MySQL counts a
        row set to the name it already had as unchanged.
        """
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        table = self._passkeys
        mine = (table.c.id == passkey_id, table.c.user_id == key)
        statement = update(table).where(*mine).values(name=name)
        query = select(table).where(*mine)

        def work(session: Any) -> PasskeyRecord | None:
            session.execute(statement)
            row = session.execute(query).mappings().first()
            return None if row is None else _record(dict(row))

        return self._write(work)

    def delete_passkey(self, passkey_id: str, user_id: Any) -> bool:
        """Delete one of the user's passkeys."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False
        table = self._passkeys
        statement = delete(table).where(table.c.id == passkey_id, table.c.user_id == key)
        return self._write(lambda s: changed_one(s.execute(statement)))

    def use_passkey(
        self,
        passkey_id: str,
        expect_sign_count: int,
        new_sign_count: int,
        used_at: dt.datetime,
        backed_up: bool,
    ) -> bool:
        """Record a use if the sign count is still ``expect_sign_count`` (conditional UPDATE)."""
        table = self._passkeys
        statement = (
            update(table)
            .where(table.c.id == passkey_id, table.c.sign_count == expect_sign_count)
            .values(sign_count=new_sign_count, last_used_at=used_at, backed_up=backed_up)
        )
        return self._write(lambda s: changed_one(s.execute(statement)))


def _record(row: dict[str, Any]) -> PasskeyRecord:
    transports = row["transports"] or ""
    return PasskeyRecord(
        id=row["id"],
        user_id=str(row["user_id"]),
        credential_id=bytes(row["credential_id"]),
        public_key=bytes(row["public_key"]),
        sign_count=int(row["sign_count"]),
        name=row["name"],
        created_at=row["created_at"],
        transports=tuple(t for t in transports.split(",") if t),
        aaguid=row["aaguid"] or "",
        backup_eligible=bool(row["backup_eligible"]),
        backed_up=bool(row["backed_up"]),
        last_used_at=row["last_used_at"],
    )
