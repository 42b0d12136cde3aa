"""The parts every importer shares: what a source yields, how it is read, how it is written.

A source (one module per library in :mod:`authgate.importers.sources`) reads
the other system's tables with SQLAlchemy Core, a page of users at a time in
primary-key order, and turns each row into a :class:`SourceUser`. The writer
(:func:`import_users`) creates the roles first, then each user through
``auth.users.create_user`` (validated, the old hash kept as it is and
checked for its scheme and cost), then the user's extra addresses through
the store. Nothing is written to authgate's tables in SQL.

Running it again imports nothing twice: a user whose email already has an
authgate account is left alone, except that an account this importer made
and nobody has used since (the same salted hash) gets the roles and
addresses a stopped run did not give it yet. So a run that stopped half-way
is finished by running it again. An account that has no password, or
another one, is never given the source's roles: it may be someone else's.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from authgate.errors import AuthError, UserExists, ValidationError
from authgate.models import canonical_email

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = [
    "ImportReport",
    "Source",
    "SourceDB",
    "SourceError",
    "SourceRole",
    "SourceUser",
    "as_utc",
    "import_users",
]

#: The actor of the audit trail's ``user_create`` events an import records.
ACTOR = "import"
#: Source users read per page.
DEFAULT_BATCH = 1000
#: At most this many failures are listed one by one in a report.
MAX_LISTED = 50


class SourceError(Exception):
    """The source cannot be read: no such database, no such table, a driver missing."""


def as_utc(value: Any) -> dt.datetime | None:
    """A database datetime as aware UTC (naive values are UTC); ``None`` stays ``None``."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class SourceRole:
    """A role (a group, in Django) of the other system."""

    name: str
    description: str | None = None
    permissions: tuple[str, ...] = ()


@dataclass
class SourceUser:
    """One user of the other system, in authgate's terms."""

    #: The user's primary key there (reported, never stored).
    key: Any
    email: str | None
    username: str | None = None
    password_hash: str | None = None
    active: bool = True
    #: Whether the address was confirmed there (``confirmed_at`` when it says when).
    confirmed: bool = True
    confirmed_at: dt.datetime | None = None
    roles: list[str] = field(default_factory=list)
    #: Further addresses: ``(email, confirmed_at)``.
    extra_emails: list[tuple[str, dt.datetime | None]] = field(default_factory=list)
    #: Data authgate has no place for (``"first_name"``, ``"two-factor secret"``...).
    dropped: list[str] = field(default_factory=list)
    #: Columns of authgate's user model to set too (``created_at``, sign-in tracking).
    columns: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    """What an import did, and what it could not carry."""

    source: str
    #: Source users read.
    seen: int = 0
    #: Accounts created.
    imported: int = 0
    #: Users whose email already had an account (left alone, or completed).
    existing: int = 0
    #: Accounts of an earlier, stopped run that got their missing roles or addresses.
    completed: int = 0
    #: Roles created.
    roles_created: int = 0
    #: Users not imported: ``(source key, email, reason)``, the first :data:`MAX_LISTED`.
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    failed: int = 0
    #: What was not carried over, and for how many users (``{"first_name": 120}``).
    not_carried: Counter[str] = field(default_factory=Counter)
    #: Advice about the import as a whole (a setting to turn on...).
    notes: list[str] = field(default_factory=list)

    def merge(self, other: ImportReport) -> None:
        """Add the counts of ``other`` (one user's, from a worker thread) to these."""
        for name in ("seen", "imported", "existing", "completed", "roles_created", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        room = MAX_LISTED - len(self.failures)
        self.failures.extend(other.failures[: max(room, 0)])
        self.not_carried.update(other.not_carried)

    def fail(self, user: SourceUser, reason: str) -> None:
        """Count a user not imported."""
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append((str(user.key), user.email or "", reason))

    def lines(self) -> list[str]:
        """The report as short lines of text (what the command line prints)."""
        out = [
            f"{self.source}: {self.seen} users read, {self.imported} imported, "
            f"{self.existing} already in authgate ({self.completed} completed), "
            f"{self.failed} not imported, {self.roles_created} roles created"
        ]
        out += [
            f"not carried: {what} ({count} users)"
            for what, count in sorted(self.not_carried.items())
        ]
        out += [
            f"not imported: {key} {email or '-'}: {reason}" for key, email, reason in self.failures
        ]
        if self.failed > len(self.failures):
            out.append(f"... and {self.failed - len(self.failures)} more not imported")
        out += [f"note: {note}" for note in self.notes]
        return out


class SourceDB:
    """The other system's database, read with SQLAlchemy Core.

    Args:
        url: a SQLAlchemy URL; async drivers (``+aiosqlite``, ``+asyncpg``...)
            are read with their sync counterpart.

    Raises:
        SourceError: the URL is malformed or its driver is missing.
    """

    _SYNC = {
        "aiosqlite": "pysqlite",
        "asyncpg": "psycopg",
        "psycopg_async": "psycopg",
        "aiomysql": "pymysql",
        "asyncmy": "pymysql",
    }

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise SourceError("--from is not a database URL (e.g. sqlite:///old.db)") from None
        backend, _, driver = parsed.drivername.partition("+")
        if driver in self._SYNC:
            parsed = parsed.set(drivername=f"{backend}+{self._SYNC[driver]}")
        from authgate.stores.sqlalchemy.engine import make_engine

        if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            import os

            if not os.path.exists(parsed.database):
                raise SourceError(f"no such SQLite database: {parsed.database}")
        try:
            self.engine = make_engine(parsed)
            self._names = set(sa.inspect(self.engine).get_table_names())
        except ImportError as exc:
            raise SourceError(str(exc)) from None
        except sa.exc.SQLAlchemyError as exc:
            reason = type(getattr(exc, "orig", None) or exc).__name__
            shown = parsed.render_as_string(hide_password=True)
            raise SourceError(f"cannot read {shown}: {reason}") from None
        self._tables: dict[str, sa.Table] = {}

    def has(self, name: str) -> bool:
        """Whether the database has this table."""
        return name in self._names

    def table(self, name: str) -> sa.Table:
        """The table, reflected once.

        Raises:
            SourceError: no such table.
        """
        found = self._tables.get(name)
        if found is None:
            if name not in self._names:
                raise SourceError(f"no table {name!r} in the source database")
            found = sa.Table(name, sa.MetaData(), autoload_with=self.engine)
            self._tables[name] = found
        return found

    def rows(self, query: Any) -> list[Mapping[str, Any]]:
        """Every row of ``query`` (a short read: the connection is returned at once)."""
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def count(self, name: str) -> int:
        """How many rows the table has."""
        with self.engine.connect() as connection:
            total = connection.scalar(sa.select(sa.func.count()).select_from(self.table(name)))
            return int(total or 0)

    def pages(self, name: str, size: int) -> Iterator[list[Mapping[str, Any]]]:
        """The table's rows in primary-key order, ``size`` at a time (keyset pagination).

        Each page is one short query, so the source may be the very database
        authgate writes to (a SQLite file included).
        """
        table = self.table(name)
        (key,) = table.primary_key.columns
        last: Any = None
        while True:
            query = sa.select(table).order_by(key).limit(size)
            if last is not None:
                query = query.where(key > last)
            page = self.rows(query)
            if not page:
                return
            yield page
            last = page[-1][key.name]

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


class Source(Protocol):
    """One library's tables, read as :class:`SourceUser` and :class:`SourceRole` objects."""

    #: The name on the command line (``flask-security``...).
    name: str

    def check(self, db: SourceDB) -> None:
        """Raise :class:`SourceError` unless the tables this source reads are there."""

    def count(self, db: SourceDB) -> int:
        """How many users there are (for the progress bar)."""

    def roles(self, db: SourceDB) -> list[SourceRole]:
        """Every role (created in authgate before the users)."""

    def users(self, db: SourceDB, batch: int) -> Iterator[list[SourceUser]]:
        """The users, a page at a time, with their roles and extra addresses."""

    def notes(self, auth: Auth) -> list[str]:
        """Advice for this ``auth`` (a setting the imported hashes need...)."""


def import_users(
    auth: Auth,
    source: Source,
    db: SourceDB,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> ImportReport:
    """Import ``source``'s users from ``db`` into ``auth``'s store (see the module docstring).

    Args:
        auth: where the users go.
        source: the library they come from.
        db: its database.
        batch: users read per page.
        progress: called with the number of users handled after each page.
        workers: threads writing users at once (each user is one transaction of
            its own; a database server commits several at a time; SQLite does not).

    Raises:
        SourceError: the source's tables are not there or cannot be read.
    """
    source.check(db)
    report = ImportReport(source.name)
    admin = auth.users.acting_as(ACTOR)
    for role in source.roles(db):
        _ensure_role(auth, role, report)
    usernames = extra_emails = False

    def one(user: SourceUser) -> ImportReport:
        partial = ImportReport(source.name, seen=1)
        for what in user.dropped:
            partial.not_carried[what] += 1
        try:
            _write(auth, admin, user, partial)
        except AuthError as error:  # a storage failure: reported, the run goes on
            partial.fail(user, error.message)
        return partial

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="authgate-import") as pool:
        for page in source.users(db, batch):
            for partial in pool.map(one, page) if workers > 1 else map(one, page):
                report.merge(partial)
            usernames = usernames or any(user.username for user in page)
            extra_emails = extra_emails or any(user.extra_emails for user in page)
            if progress is not None:
                progress(len(page))
    if usernames and not auth.settings.usernames:
        report.notes.append(
            "usernames were imported; users sign in with them once usernames=True "
            "(AUTHGATE_USERNAMES=1); until then with their email"
        )
    if extra_emails and not auth.settings.multiple_emails:
        report.notes.append(
            "extra addresses were imported; users see and use them once multiple_emails=True"
        )
    report.notes.extend(source.notes(auth))
    return report


def _ensure_role(auth: Auth, role: SourceRole, report: ImportReport) -> None:
    name = role.name.strip()
    if not name:
        return
    existing = auth.users.find_role(name)
    admin = auth.users.acting_as(ACTOR)
    if existing is None:
        try:
            admin.create_role(name, role.description, list(role.permissions))
        except ValidationError:  # too long a name, or created meanwhile
            if auth.users.find_role(name) is None:
                report.notes.append(f"role {name!r} could not be created")
            return
        report.roles_created += 1
        return
    missing = set(role.permissions) - existing.get_permissions()
    if missing:
        admin.add_permissions_to_role(name, sorted(missing))


def _carried_hash(auth: Auth, stored: str | None) -> tuple[str | None, str | None]:
    """``(hash, None)`` when authgate can verify ``stored``; else ``(None, why not)``."""
    if not stored:
        return None, None
    if stored.startswith("!"):  # Django's unusable password: there was none
        return None, "an unusable password (none to carry)"
    hasher = auth.ctx.hasher
    scheme = hasher.identify(stored)
    if scheme is None:
        return None, f"password hash of an unknown scheme ({_scheme(stored)})"
    if not hasher.acceptable(stored) or len(stored) > 255:
        return None, f"password hash costlier than authgate verifies ({scheme})"
    return stored, None


def _usable_hash(auth: Auth, user: SourceUser, report: ImportReport) -> str | None:
    """The source hash if authgate can verify it; else ``None`` and the reason counted."""
    carried, reason = _carried_hash(auth, user.password_hash)
    if reason is not None:
        report.not_carried[reason] += 1
    return carried


def _scheme(stored: str) -> str:
    head = stored.split("$", 2)[1] if stored.startswith("$") else stored.split("$", 1)[0]
    return head[:20] or "?"


def _write(auth: Auth, admin: Any, user: SourceUser, report: ImportReport) -> None:
    if not user.email or not user.email.strip():
        report.fail(user, "no email address")
        return
    canonical = canonical_email(user.email)
    existing = auth.ctx.users.get_user_by_email(canonical)
    if existing is not None:
        report.existing += 1
        # Only an account this importer made from this very user (the same salted hash)
        # is completed: never hand a source's roles to someone else's account.
        carried = _carried_hash(auth, user.password_hash)[0]
        if (
            carried is not None
            and existing.password_hash == carried
            and _complete(auth, existing, user)
        ):
            report.completed += 1
        return
    model_columns = auth.User.__table__.columns
    fields: dict[str, Any] = {
        **{k: v for k, v in user.columns.items() if v is not None and k in model_columns},
        "email": user.email.strip(),
        "password_hash": _usable_hash(auth, user, report),
        "is_active": user.active,
        "email_confirmed_at": user.confirmed_at if user.confirmed else None,
        "confirmed": user.confirmed,
        "roles": sorted(set(user.roles)),
    }
    if user.username:
        fields["username"] = user.username
    created = _create(admin, fields, user, report)
    if created is None:
        return
    report.imported += 1
    _add_emails(auth, created, user, report)


def _create(admin: Any, fields: dict[str, Any], user: SourceUser, report: ImportReport) -> Any:
    """``create_user``; a username authgate refuses (invalid, taken) is left out and counted."""
    for _ in range(2):
        try:
            return admin.create_user(**fields)
        except ValidationError as error:
            reasons = error.fields or {}
            if "username" in reasons and "username" in fields:
                del fields["username"]
                report.not_carried[f"a username authgate refuses ({reasons['username']})"] += 1
                continue
            report.fail(user, "invalid " + ", ".join(sorted(reasons)) if reasons else error.message)
            return None
        except UserExists as error:
            if error.field == "username" and "username" in fields:
                del fields["username"]
                report.not_carried["a username another account has"] += 1
                continue
            report.existing += 1  # the email was taken meanwhile
            return None
    report.fail(user, "could not be created")
    return None


def _add_emails(auth: Auth, account: Any, user: SourceUser, report: ImportReport) -> None:
    primary = canonical_email(account.email)
    seen = {primary}
    for email, confirmed_at in user.extra_emails:
        canonical = canonical_email(email)
        if canonical in seen:
            continue
        seen.add(canonical)
        try:
            auth.ctx.emails.add_email(account.id, email.strip(), confirmed_at)
        except (UserExists, ValidationError):
            report.not_carried["an extra address another account has"] += 1


def _complete(auth: Auth, account: Any, user: SourceUser) -> bool:
    """Give an account a stopped run made the roles and addresses it lacks; ``True`` if any."""
    changed = False
    have = {role.name for role in account.roles}
    for name in sorted(set(user.roles) - have):
        changed = auth.users.acting_as(ACTOR).add_role_to_user(account, name) or changed
    known = {canonical_email(account.email)} | {
        record.email_canonical for record in auth.ctx.emails.list_emails(account.id)
    }
    missing = [(e, c) for e, c in user.extra_emails if canonical_email(e) not in known]
    if missing:
        _add_emails(
            auth, account, SourceUser(user.key, user.email, extra_emails=missing), ImportReport("")
        )
        changed = True
    return changed
