"""Second factors in SQL: ``authgate_two_factor`` (one row per user) and
``authgate_recovery_codes`` (by digest). Every single-use check is one conditional
``UPDATE``: the row count says who won."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from authgate.errors import ValidationError
from authgate.models import TwoFactorRecord, new_id
from authgate.stores._common import INVALID_KEY, coerce_key
from authgate.stores.sqlalchemy.core import StoreCore, changed_one

__all__ = ["TwoFactorQueries"]

_COLUMNS = frozenset(f.name for f in dataclasses.fields(TwoFactorRecord)) - {"user_id"}


class TwoFactorQueries(StoreCore):
    """The second-factor row and recovery codes of each user (they go with the user)."""

    def _key(self, user_id: Any) -> Any:
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            raise ValidationError(fields={"user_id": "invalid"})
        return key

    def get_two_factor(self, user_id: Any) -> TwoFactorRecord | None:
        """The user's row, or ``None``."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        table = self._two_factor
        query = select(table).where(table.c.user_id == key)
        rows = self._run(lambda s: [dict(row) for row in s.execute(query).mappings()])
        if not rows:
            return None
        row = rows[0]
        row["user_id"] = str(row["user_id"])
        return TwoFactorRecord(**row)

    def ensure_two_factor(
        self, user_id: Any, trust_epoch: str, grace_started_at: dt.datetime | None = None
    ) -> TwoFactorRecord:
        """The user's row, inserted with these values when missing."""
        found = self.get_two_factor(user_id)
        if found is not None:
            return found
        statement = insert(self._two_factor).values(
            user_id=self._key(user_id), trust_epoch=trust_epoch, totp_last_step=0,
            grace_started_at=grace_started_at,
        )  # fmt: skip
        with contextlib.suppress(IntegrityError):  # made meanwhile (or no such user)
            self._write(lambda s: s.execute(statement), expect_conflict=True)
        found = self.get_two_factor(user_id)
        if found is None:
            raise ValidationError(fields={"user_id": "invalid"})
        return found

    def update_two_factor(
        self, user_id: Any, changes: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        """One conditional ``UPDATE``: only while every ``expect`` column holds its value."""
        unknown = (set(changes) | set(expect or {})) - _COLUMNS
        if unknown:
            raise ValueError(f"not second-factor columns: {sorted(unknown)}")
        table = self._two_factor
        conditions = [table.c.user_id == self._key(user_id)]
        for name, value in (expect or {}).items():
            column = table.c[name]
            conditions.append(column.is_(None) if value is None else column == value)
        statement = update(table).where(and_(*conditions)).values(**changes)
        return self._write(lambda s: changed_one(s.execute(statement)))

    def advance_totp_step(self, user_id: Any, step: int) -> bool:
        """``UPDATE ... SET totp_last_step = :step WHERE totp_last_step < :step`` (TOTP on)."""
        table = self._two_factor
        statement = (
            update(table)
            .where(table.c.user_id == self._key(user_id))
            .where(table.c.totp_enabled_at.is_not(None))
            .where(table.c.totp_last_step < step)
            .values(totp_last_step=step)
        )
        return self._write(lambda s: changed_one(s.execute(statement)))

    def replace_recovery_codes(
        self, user_id: Any, code_hashes: Sequence[str], now: dt.datetime
    ) -> None:
        """Delete the user's codes and insert these, in one transaction."""
        key = self._key(user_id)
        codes = self._recovery_codes
        rows = [
            {"id": new_id(), "user_id": key, "code_hash": h, "created_at": now} for h in code_hashes
        ]

        def work(session: Any) -> None:
            session.execute(delete(codes).where(codes.c.user_id == key))
            if rows:
                session.execute(insert(codes), rows)

        self._write(work)

    def use_recovery_code(self, user_id: Any, code_hash: str, now: dt.datetime) -> bool:
        """``UPDATE ... SET used_at = :now WHERE used_at IS NULL``: one caller wins."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False
        codes = self._recovery_codes
        statement = (
            update(codes)
            .where(codes.c.user_id == key, codes.c.code_hash == code_hash)
            .where(codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        return self._write(lambda s: changed_one(s.execute(statement)))

    def count_recovery_codes(self, user_id: Any) -> int:
        """How many unused codes the user has."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return 0
        codes = self._recovery_codes
        query = (
            select(func.count())
            .select_from(codes)
            .where(codes.c.user_id == key, codes.c.used_at.is_(None))
        )
        return self._run(lambda s: int(s.scalar(query) or 0))
