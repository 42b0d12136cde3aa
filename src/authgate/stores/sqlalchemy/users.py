"""Users and roles in SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from authgate.errors import ValidationError
from authgate.models import Notice, canonical_email, canonical_username, new_stamp
from authgate.stores._common import (
    INVALID_KEY,
    check_attributes,
    coerce_key,
    key_type,
    permissions_text,
)
from authgate.stores.sqlalchemy.core import StoreCore

__all__ = ["UserQueries"]


class UserQueries(StoreCore):
    """Users and roles."""

    def create_user(
        self, fields: Mapping[str, Any], roles: Sequence[str] = (), *, outbox: Sequence[Notice] = ()
    ) -> Any:
        """Insert a user, their role links (missing roles are created) and the ``outbox``
        notices in one transaction.

        Raises:
            UserExists: the canonical email or username is taken (``field`` says which).
            ValidationError: ``email`` is missing.
        """
        if not fields.get("email"):
            raise ValidationError(fields={"email": "required"})
        names = sorted(set(roles))

        def work(session: Session) -> Any:
            user = self.user_model(**fields)
            user.roles = self._roles_or_create(session, names)
            session.add(user)
            session.flush()
            self._store_notices(session, outbox, getattr(user, self._user_pk.key))
            return user

        return self._write(work, retry=bool(names))

    def get_user(self, user_id: Any) -> Any | None:
        """The user with this id (a string is converted to the key type), or ``None``."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        return self._run(lambda s: s.get(self.user_model, key))

    def get_user_by_email(self, email_canonical: str) -> Any | None:
        """The user with this canonical email, or ``None`` (one indexed query)."""
        return self._first(self.user_model.email_canonical == email_canonical)

    def get_user_by_username(self, username_canonical: str) -> Any | None:
        """The user with this canonical username, or ``None`` (one indexed query)."""
        return self._first(self.user_model.username_canonical == username_canonical)

    def find_users(self, filters: Mapping[str, Any]) -> list[Any]:
        """Users whose attributes equal every filter (email/username canonically).

        Raises:
            ValidationError: a filter names no column of the user model (``unknown_field``).
        """
        check_attributes(self.user_model, filters)
        conditions: list[ColumnElement[bool]] = []
        for name, wanted in filters.items():
            column, value = self._user_columns[name], wanted
            if name == "email" and wanted is not None:
                column, value = self._user_columns["email_canonical"], canonical_email(wanted)
            elif name == "username":
                column = self._user_columns["username_canonical"]
                value = canonical_username(wanted) if wanted else None
            elif column is self._user_pk:
                value = coerce_key(self.user_model, wanted)
                if value is INVALID_KEY:
                    return []
            conditions.append(column.is_(None) if value is None else column == value)
        return self._run(lambda s: list(s.scalars(self._ordered_users().where(*conditions))))

    def list_users(self, offset: int = 0, limit: int | None = None) -> list[Any]:
        """Users ordered by creation time."""
        query = self._ordered_users().offset(offset).limit(limit)
        return self._run(lambda s: list(s.scalars(query)))

    def count_users(self) -> int:
        """How many users exist."""
        query = select(func.count()).select_from(self._users)
        return self._run(lambda s: int(s.scalar(query) or 0))

    def reserve_user_id(self) -> Any:
        """An id from the database's own key generator, spent (finding S3).

        A key with a Python default (authgate's UUIDs) is just drawn. A key the
        database generates is drawn by inserting a placeholder row outside any
        ORM session: PostgreSQL sequences and MySQL/MariaDB auto-increment
        counters are not rolled back, so the transaction is; SQLite takes
        ``max(rowid) + 1``, so the row is deleted and committed instead (which
        spends the key only for ``sqlite_autoincrement`` tables; authgate
        warns about the others at set-up).
        """
        default: Any = self._user_pk.default
        if default is not None and getattr(default, "is_callable", False):
            return default.arg(None)
        placeholder = new_stamp()
        values = {
            self._user_columns["email"]: f"{placeholder}@reserved.invalid",
            self._user_columns["email_canonical"]: f"{placeholder}@reserved.invalid",
        }
        sqlite = self.engine.dialect.name == "sqlite"
        try:
            with self._serial, self.engine.connect() as connection:
                transaction = connection.begin()
                result = connection.execute(insert(self._users).values(values))
                key = result.inserted_primary_key[0] if result.inserted_primary_key else None
                if sqlite:
                    connection.execute(delete(self._users).where(self._user_pk == key))
                    transaction.commit()
                else:
                    transaction.rollback()
                return key
        except (DBAPIError, PoolTimeoutError):
            # The app's model has required columns authgate cannot fill: the
            # best plausible id is the next one (a storage outage fails here too).
            top = self._run(lambda s: s.scalar(select(func.max(self._user_pk))))
            return (top or 0) + 1

    @property
    def reuses_reserved_ids(self) -> bool:
        """Whether :meth:`reserve_user_id` cannot spend ids: SQLite integer keys without
        ``sqlite_autoincrement`` hand the same ``max(rowid) + 1`` to the next user."""
        default = self._user_pk.default
        if default is not None or self._engine is None:
            return False
        if self._engine.dialect.name != "sqlite" or self._users.kwargs.get("sqlite_autoincrement"):
            return False
        return key_type(self.user_model) is int

    def sample_password_hashes(self, exclude_prefix: str, limit: int) -> tuple[int, int, list[str]]:
        """See :meth:`authgate.stores.base.UserStore.sample_password_hashes` (three queries)."""
        column = self._user_columns["password_hash"]
        others = column.is_not(None) & ~column.startswith(exclude_prefix, autoescape=True)
        total = select(func.count()).select_from(self._users)
        matching = select(func.count()).select_from(self._users).where(others)
        sample = select(column).where(others).limit(limit)

        def work(session: Session) -> tuple[int, int, list[str]]:
            return (
                int(session.scalar(total) or 0),
                int(session.scalar(matching) or 0),
                [str(h) for h in session.scalars(sample)],
            )

        return self._run(work)

    def update_user(
        self,
        user_id: Any,
        changes: Mapping[str, Any],
        expect: Mapping[str, Any] | None = None,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        """Apply ``changes`` in one ``UPDATE ... WHERE id=:id AND <expect>``, and store the
        ``outbox`` notices in the same transaction if it matched.

        Returns the reloaded user, or ``None`` when the user does not exist or
        an expected value no longer holds (then nothing changed, no notice is kept).

        Raises:
            UserExists: the new email or username is taken.
            ValidationError: a name is not a writable column (``unknown_field``).
        """
        check_attributes(self.user_model, changes, writable=True)
        check_attributes(self.user_model, expect or {})
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return None
        values = {self._user_columns[name]: value for name, value in changes.items()}
        if "email" in changes:
            values[self._user_columns["email_canonical"]] = canonical_email(changes["email"])
        if "username" in changes:
            name = changes["username"]
            values[self._user_columns["username_canonical"]] = (
                canonical_username(name) if name else None
            )
        conditions = [self._user_pk == key]
        for name, value in (expect or {}).items():
            column = self._user_columns[name]
            conditions.append(column.is_(None) if value is None else column == value)

        def work(session: Session) -> Any | None:
            if values:
                result = session.execute(update(self._users).where(*conditions).values(values))
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    return None
            elif session.scalar(select(self._user_pk).where(*conditions)) is None:
                return None
            self._store_notices(session, outbox, key)
            return session.get(self.user_model, key, populate_existing=True)

        return self._write(work)

    def delete_user(self, user_id: Any, *, outbox: Sequence[Notice] = ()) -> bool:
        """Delete the user with their sessions, role links and extra email addresses, and
        store the ``outbox`` notices in the same transaction if the user existed."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False

        def work(session: Session) -> bool:
            for table in (self._sessions, self._user_roles, self._emails):
                session.execute(delete(table).where(table.c.user_id == key))
            result = session.execute(delete(self._users).where(self._user_pk == key))
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            self._store_notices(session, outbox, key)
            return True

        return self._write(work)

    # -- roles ------------------------------------------------------------------

    def create_role(
        self, name: str, description: str | None = None, permissions: Sequence[str] = ()
    ) -> Any:
        """Create a role.

        Raises:
            ValidationError: the name is taken (``{"name": "taken"}``).
        """

        def work(session: Session) -> Any:
            role = self.role_model(
                name=name, description=description, permissions=permissions_text(permissions)
            )
            session.add(role)
            session.flush()
            return role

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise ValidationError(fields={"name": "taken"}) from None

    def get_role(self, name: str) -> Any | None:
        """The role with this name, or ``None``."""
        query = select(self.role_model).where(self.role_model.name == name)
        return self._run(lambda s: s.scalar(query))

    def list_roles(self) -> list[Any]:
        """Every role, ordered by name."""
        query = select(self.role_model).order_by(self.role_model.name)
        return self._run(lambda s: list(s.scalars(query)))

    def update_role(self, name: str, changes: Mapping[str, Any]) -> Any | None:
        """Change a role's fields (``permissions`` may be a list); ``None`` if it does not exist.

        Raises:
            ValidationError: an unknown field, or a new name that is taken.
        """
        check_attributes(self.role_model, changes, writable=True)

        def work(session: Session) -> Any | None:
            role = session.scalar(select(self.role_model).where(self.role_model.name == name))
            if role is None:
                return None
            for key, value in changes.items():
                setattr(role, key, permissions_text(value) if key == "permissions" else value)
            session.flush()
            return role

        try:
            return self._write(work, expect_conflict=True)
        except IntegrityError:
            raise ValidationError(fields={"name": "taken"}) from None

    def delete_role(self, name: str) -> bool:
        """Delete a role and its links to users."""
        role_id = select(self._role_pk).where(self.role_model.name == name).scalar_subquery()

        def work(session: Session) -> bool:
            links = self._user_roles
            session.execute(delete(links).where(links.c.role_id == role_id))
            result = session.execute(delete(self._roles).where(self._roles.c.name == name))
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self._write(work)

    def add_role_to_user(self, user_id: Any, role_name: str) -> bool:
        """Give a user a role (created if missing); ``False`` if they had it or do not exist."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False
        links = self._user_roles

        def work(session: Session) -> bool:
            if session.scalar(select(self._user_pk).where(self._user_pk == key)) is None:
                return False
            (role,) = self._roles_or_create(session, [role_name])
            role_id = getattr(role, self._role_pk.key)
            held = select(links.c.user_id).where(links.c.user_id == key, links.c.role_id == role_id)
            if session.scalar(held) is not None:
                return False
            session.execute(insert(links).values(user_id=key, role_id=role_id))
            return True

        # A lost race (the role or the link created meanwhile) is settled by a retry.
        return self._write(work, retry=True)

    def remove_role_from_user(self, user_id: Any, role_name: str) -> bool:
        """Take a role away; ``False`` if the user did not have it."""
        key = coerce_key(self.user_model, user_id)
        if key is INVALID_KEY:
            return False
        links = self._user_roles
        role_id = select(self._role_pk).where(self.role_model.name == role_name).scalar_subquery()

        def work(session: Session) -> bool:
            gone = delete(links).where(links.c.user_id == key, links.c.role_id == role_id)
            return bool(session.execute(gone).rowcount)  # type: ignore[attr-defined]

        return self._write(work)
