"""Users' extra email addresses in SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authgate.errors import UserExists
from authgate.models import EmailRecord, Notice, canonical_email, new_id
from authgate.stores._common import INVALID_KEY, coerce_key
from authgate.stores.sqlalchemy.core import StoreCore, changed_one

__all__ = ["EmailQueries"]


class EmailQueries(StoreCore):
    """Extra email addresses (``multiple_emails``)."""

    def add_email(
        self, user_id: Any, email: str, confirmed_at: dt.datetime | None = None
    ) -> EmailRecord:
        """Add an extra address; ``UserExists`` if it is already an extra address."""
        key = coerce_key(self.user_model, user_id)
        record = EmailRecord(
            id=new_id(), user_id=str(user_id), email=email, email_canonical=canonical_email(email),
            confirmed_at=confirmed_at, created_at=dt.datetime.now(dt.timezone.utc),
        )  # fmt: skip
        row = {**dataclasses.asdict(record), "user_id": key}

        def work(session: Session) -> EmailRecord:
            session.execute(insert(self._emails).values(row))
            return record

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise UserExists(field="email") from None

    def list_emails(self, user_id: Any) -> list[EmailRecord]:
        """The user's extra addresses, oldest first."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return []
        emails = self._emails
        query = select(emails).where(emails.c.user_id == key).order_by(emails.c.created_at)
        return self._run(lambda s: [self._email(r) for r in s.execute(query).mappings()])

    def get_email(self, email_id: str) -> EmailRecord | None:
        """One extra address by id."""
        return self._one_email(self._emails.c.id == email_id)

    def find_email(self, email_canonical: str) -> EmailRecord | None:
        """The extra address with this canonical form."""
        return self._one_email(self._emails.c.email_canonical == email_canonical)

    def confirm_email_address(self, email_id: str, confirmed_at: dt.datetime) -> bool:
        """Mark confirmed once (``UPDATE ... WHERE confirmed_at IS NULL``)."""
        emails = self._emails
        statement = (
            update(emails)
            .where(emails.c.id == email_id, emails.c.confirmed_at.is_(None))
            .values(confirmed_at=confirmed_at)
        )
        return self._write(lambda s: changed_one(s.execute(statement)))

    def delete_email(self, email_id: str, user_id: Any) -> bool:
        """Remove one of the user's extra addresses."""
        key = coerce_key(self.user_model, user_id)
        emails = self._emails
        statement = delete(emails).where(emails.c.id == email_id, emails.c.user_id == key)
        return self._write(lambda s: changed_one(s.execute(statement)))

    def swap_primary_email(
        self,
        user_id: Any,
        email_id: str,
        expect_stamp: str,
        new_stamp: str,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        """Exchange the primary address with a confirmed extra one in one transaction
        (with the ``outbox`` notices, if it happened)."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        emails, columns = self._emails, self._user_columns

        def work(session: Session) -> Any | None:
            found = session.execute(
                select(emails).where(
                    emails.c.id == email_id, emails.c.user_id == key,
                    emails.c.confirmed_at.is_not(None),
                )
            ).mappings().first()  # fmt: skip
            user = session.get(self.user_model, key)
            if found is None or user is None or user.security_stamp != expect_stamp:
                return None
            old_email, old_confirmed = user.email, user.email_confirmed_at
            result = session.execute(
                update(self._users)
                .where(self._user_pk == key, columns["security_stamp"] == expect_stamp)
                .values({
                    columns["email"]: found["email"],
                    columns["email_canonical"]: found["email_canonical"],
                    columns["email_confirmed_at"]: found["confirmed_at"],
                    columns["security_stamp"]: new_stamp,
                })
            )  # fmt: skip
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            session.execute(
                update(emails).where(emails.c.id == email_id).values(
                    email=old_email, email_canonical=canonical_email(old_email),
                    confirmed_at=old_confirmed or found["confirmed_at"],
                )
            )  # fmt: skip
            self._store_notices(session, outbox, key)
            return session.get(self.user_model, key, populate_existing=True)

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise UserExists(field="email") from None

    def _one_email(self, condition: ColumnElement[bool]) -> EmailRecord | None:
        query = select(self._emails).where(condition)

        def work(session: Session) -> EmailRecord | None:
            row = session.execute(query).mappings().first()
            return None if row is None else self._email(row)

        return self._run(work)

    @staticmethod
    def _email(row: Any) -> EmailRecord:
        return EmailRecord(**{**dict(row), "user_id": str(row["user_id"])})
