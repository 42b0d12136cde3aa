"""Single-use claims of emailed tokens in SQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from authgate.stores.sqlalchemy.core import StoreCore

__all__ = ["TokenQueries"]


class TokenQueries(StoreCore):
    """Single-use claims of emailed tokens."""

    def claim_token(
        self, jti: str, purpose: str, user_id: Any, expires_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """Claim a token by inserting its id; the primary key lets exactly one caller win."""
        statement = insert(self._used_tokens).values(
            jti=jti,
            purpose=purpose,
            user_id=None if user_id is None else str(user_id),
            used_at=now,
            expires_at=expires_at,
        )
        try:
            self._write(lambda s: s.execute(statement), expect_conflict=True)
        except IntegrityError:
            return False
        return True

    def is_claimed(self, jti: str) -> bool:
        """Whether ``jti`` was claimed (one primary-key lookup)."""
        query = select(self._used_tokens.c.jti).where(self._used_tokens.c.jti == jti)
        return self._run(lambda s: s.scalar(query) is not None)

    def purge_used_tokens(self, now: dt.datetime) -> int:
        """Forget claims whose token has expired anyway; returns how many."""
        statement = delete(self._used_tokens).where(self._used_tokens.c.expires_at <= now)
        return self._write(lambda s: int(s.execute(statement).rowcount))  # type: ignore[attr-defined]
