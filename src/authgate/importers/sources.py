"""The five sources: Flask-Security(-Too), Flask-User, Django's auth, fastapi-users, auth101.

Each reads the tables its library creates with its default names (the names
are keyword arguments for projects that renamed them) and says what it
cannot carry. Hashes are kept as they are: authgate verifies each library's
formats and rehashes at the next sign-in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from authgate.importers.base import SourceDB, SourceError, SourceRole, SourceUser, as_utc

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = ["SOURCES", "Auth101", "Django", "FastAPIUsers", "FlaskSecurity", "FlaskUser"]

Row = Mapping[str, Any]

#: The roles other systems' flags become (the names ``authgate.django`` maps to
#: Django's ``is_superuser``/``is_staff``).
SUPERUSER_ROLE = "superuser"
STAFF_ROLE = "staff"


def _require(db: SourceDB, *tables: str) -> None:
    missing = [t for t in tables if not db.has(t)]
    if missing:
        raise SourceError(
            f"the source database has no {', '.join(repr(t) for t in missing)} table "
            f"(is it the right database, and are the tables named so?)"
        )


def _links(
    db: SourceDB, table: str, user_column: str, other_column: str, user_ids: Sequence[Any]
) -> dict[Any, list[Any]]:
    """``{user id: [other ids]}`` from a link table, for one page of users."""
    found: dict[Any, list[Any]] = defaultdict(list)
    if not user_ids or not db.has(table):
        return found
    links = db.table(table)
    query = sa.select(links.c[user_column], links.c[other_column]).where(
        links.c[user_column].in_(list(user_ids))
    )
    for row in db.rows(query):
        found[row[user_column]].append(row[other_column])
    return found


def _set(row: Row, column: str) -> bool:
    """Whether ``row`` has ``column`` with a value worth carrying."""
    value = row.get(column)
    return value not in (None, "", b"", [], {})


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class _Tables:
    """A source read from tables named in ``tables``, the user table first."""

    tables: tuple[str, ...]

    def check(self, db: SourceDB) -> None:
        """The user table must be there."""
        _require(db, self.tables[0])

    def count(self, db: SourceDB) -> int:
        """Users in the user table."""
        return db.count(self.tables[0])


class FlaskSecurity(_Tables):
    """Flask-Security(-Too) with its SQLAlchemy models (``fsqla_v3``: ``user``, ``role``,
    ``roles_users``).

    Carried: email, username, the password hash (Flask-Security's HMAC mode
    needs ``legacy_hmac_salt``), active, ``confirmed_at``, roles with their
    permissions, creation time and sign-in tracking. Not carried: two-factor
    and unified-sign-in secrets, WebAuthn credentials, recovery codes (users
    set them up again).
    """

    name = "flask-security"
    _DROPPED = {
        "tf_totp_secret": "two-factor secret (set up again)",
        "tf_phone_number": "two-factor phone number",
        "us_totp_secrets": "unified sign-in secrets",
        "us_phone_number": "unified sign-in phone number",
        "mf_recovery_codes": "recovery codes",
        "fs_webauthn_user_handle": "WebAuthn (passkey) credentials",
    }
    _TRACKING = {
        "create_datetime": "created_at",
        "last_login_at": "last_sign_in_at",
        "current_login_at": "current_sign_in_at",
        "last_login_ip": "last_sign_in_ip",
        "current_login_ip": "current_sign_in_ip",
        "login_count": "sign_in_count",
    }

    def __init__(
        self, users: str = "user", roles: str = "role", links: str = "roles_users"
    ) -> None:
        self.tables = (users, roles, links)

    def roles(self, db: SourceDB) -> list[SourceRole]:
        """Every role with its description and comma-separated permissions."""
        if not db.has(self.tables[1]):
            return []
        return [
            SourceRole(
                str(row["name"]),
                _text(row.get("description")),
                tuple(p.strip() for p in str(row.get("permissions") or "").split(",") if p.strip()),
            )
            for row in db.rows(sa.select(db.table(self.tables[1])))
        ]

    def _role_names(self, db: SourceDB) -> dict[Any, str]:
        if not db.has(self.tables[1]):
            return {}
        table = db.table(self.tables[1])
        return {row["id"]: str(row["name"]) for row in db.rows(sa.select(table.c.id, table.c.name))}

    def users(self, db: SourceDB, batch: int) -> Iterator[list[SourceUser]]:
        """The users, a page at a time."""
        role_names = self._role_names(db)
        users, _, links = self.tables
        for page in db.pages(users, batch):
            roles = _links(db, links, "user_id", "role_id", [row["id"] for row in page])
            yield [
                self._user(
                    row, [role_names[r] for r in roles.get(row["id"], ()) if r in role_names]
                )
                for row in page
            ]

    def _user(self, row: Row, roles: list[str]) -> SourceUser:
        confirmed_at = as_utc(row.get("confirmed_at"))
        has_confirmation = "confirmed_at" in row
        return SourceUser(
            key=row["id"],
            email=_text(row.get("email")),
            username=_text(row.get("username")),
            password_hash=_text(row.get("password")),
            active=bool(row.get("active", True)),
            confirmed=confirmed_at is not None or not has_confirmation,
            confirmed_at=confirmed_at,
            roles=roles,
            dropped=[what for column, what in self._DROPPED.items() if _set(row, column)],
            columns={
                ours: (
                    as_utc(row[theirs]) if "_at" in theirs or "datetime" in theirs else row[theirs]
                )
                for theirs, ours in self._TRACKING.items()
                if _set(row, theirs)
            },
        )

    def notes(self, auth: Auth) -> list[str]:
        """Flask-Security's HMAC mode needs its salt to verify the hashes."""
        if auth.settings.legacy_hmac_salt:
            return []
        return [
            "Flask-Security hashes an HMAC of each password keyed with SECURITY_PASSWORD_SALT "
            "(unless SECURITY_PASSWORD_SINGLE_HASH covers the scheme): set legacy_hmac_salt "
            "(AUTHGATE_LEGACY_HMAC_SALT) to that salt, or these passwords will not verify"
        ]


class FlaskUser(_Tables):
    """Flask-User 1.0 with the models of its documentation (``users``, ``roles``,
    ``user_roles``, and ``user_emails`` when users have several addresses).

    Carried: email (or the primary ``user_emails`` address), username, the
    password hash (passlib bcrypt), ``active``, ``email_confirmed_at``, roles,
    further addresses with their confirmation. Not carried: first and last
    names (authgate's user model has no such columns unless the app adds them).
    """

    name = "flask-user"

    def __init__(
        self,
        users: str = "users",
        roles: str = "roles",
        links: str = "user_roles",
        emails: str = "user_emails",
    ) -> None:
        self.tables = (users, roles, links, emails)

    def roles(self, db: SourceDB) -> list[SourceRole]:
        """Every role (Flask-User roles have a name only, or a label too)."""
        if not db.has(self.tables[1]):
            return []
        return [
            SourceRole(str(row["name"]), _text(row.get("label")))
            for row in db.rows(sa.select(db.table(self.tables[1])))
        ]

    def users(self, db: SourceDB, batch: int) -> Iterator[list[SourceUser]]:
        """The users, a page at a time, with roles and addresses."""
        users, roles_table, links, emails_table = self.tables
        role_names: dict[Any, str] = {}
        if db.has(roles_table):
            table = db.table(roles_table)
            role_names = {r["id"]: str(r["name"]) for r in db.rows(sa.select(table))}
        for page in db.pages(users, batch):
            ids = [row["id"] for row in page]
            roles = _links(db, links, "user_id", "role_id", ids)
            emails: dict[Any, list[Row]] = defaultdict(list)
            if db.has(emails_table):
                table = db.table(emails_table)
                for row in db.rows(
                    sa.select(table).where(table.c.user_id.in_(ids)).order_by(table.c.id)
                ):
                    emails[row["user_id"]].append(row)
            yield [
                self._user(
                    row,
                    [role_names[r] for r in roles.get(row["id"], ()) if r in role_names],
                    emails.get(row["id"], []),
                )
                for row in page
            ]

    def _user(self, row: Row, roles: list[str], emails: list[Row]) -> SourceUser:
        email, confirmed_at = (
            _text(row.get("email")),
            as_utc(row.get("email_confirmed_at", row.get("confirmed_at"))),
        )
        primary = next((e for e in emails if e.get("is_primary")), None)
        if email is None and primary is not None:  # UserEmailClass: the address lives there
            email, confirmed_at = _text(primary["email"]), as_utc(primary.get("email_confirmed_at"))
        extra = [
            (str(e["email"]), as_utc(e.get("email_confirmed_at")))
            for e in emails
            if e is not primary and e.get("email")
        ]
        active = row.get("active", row.get("is_active", True))
        return SourceUser(
            key=row["id"],
            email=email,
            username=_text(row.get("username")),
            password_hash=_text(row.get("password")),
            active=bool(active),
            confirmed=confirmed_at is not None,
            confirmed_at=confirmed_at,
            roles=roles,
            extra_emails=extra,
            dropped=[c for c in ("first_name", "last_name") if _set(row, c)],
        )

    def notes(self, auth: Auth) -> list[str]:
        """Nothing to add."""
        return []


class Django(_Tables):
    """Django's ``django.contrib.auth`` (``auth_user``, groups, permissions), and
    django-allauth's addresses (``account_emailaddress``) when the table is there.

    Carried: email, username, the password hash (Django's formats), active,
    groups as roles with their permissions (``app_label.codename``),
    ``is_superuser``/``is_staff`` as the ``superuser``/``staff`` roles (the
    names ``authgate.django`` maps back), ``date_joined``, ``last_login``,
    allauth's addresses and their verification. Django has no confirmation
    of its own: without allauth, users count as confirmed. Hashes: PBKDF2
    and Argon2 (Django's other schemes are reported, and those users are
    imported without a password: they reset it). Not carried: first and last
    names, permissions given to a user directly (give them a role).
    """

    name = "django"

    def __init__(self, users: str = "auth_user", emails: str = "account_emailaddress") -> None:
        self.tables = (users, emails)

    def _group_permissions(self, db: SourceDB) -> dict[Any, list[str]]:
        needed = ("auth_group_permissions", "auth_permission", "django_content_type")
        found: dict[Any, list[str]] = defaultdict(list)
        if not all(db.has(t) for t in needed):
            return found
        links, permission, kind = (db.table(t) for t in needed)
        query = (
            sa.select(links.c.group_id, kind.c.app_label, permission.c.codename)
            .join(permission, permission.c.id == links.c.permission_id)
            .join(kind, kind.c.id == permission.c.content_type_id)
        )
        for row in db.rows(query):
            found[row["group_id"]].append(f"{row['app_label']}.{row['codename']}")
        return found

    def roles(self, db: SourceDB) -> list[SourceRole]:
        """The groups with their permissions, and ``superuser``/``staff`` when used."""
        found: list[SourceRole] = []
        if db.has("auth_group"):
            permissions = self._group_permissions(db)
            found += [
                SourceRole(str(row["name"]), None, tuple(sorted(permissions[row["id"]])))
                for row in db.rows(sa.select(db.table("auth_group")))
            ]
        users = db.table(self.tables[0])
        for flag, role, description in (
            ("is_superuser", SUPERUSER_ROLE, "Django superusers (every permission)"),
            ("is_staff", STAFF_ROLE, "Django staff (the admin site)"),
        ):
            if flag in users.c and db.rows(sa.select(users.c.id).where(users.c[flag]).limit(1)):
                found.append(SourceRole(role, description))
        return found

    def users(self, db: SourceDB, batch: int) -> Iterator[list[SourceUser]]:
        """The users, a page at a time, with groups and allauth's addresses."""
        groups: dict[Any, str] = {}
        if db.has("auth_group"):
            groups = {r["id"]: str(r["name"]) for r in db.rows(sa.select(db.table("auth_group")))}
        users, emails_table = self.tables
        for page in db.pages(users, batch):
            ids = [row["id"] for row in page]
            memberships = _links(db, "auth_user_groups", "user_id", "group_id", ids)
            direct = _links(db, "auth_user_user_permissions", "user_id", "permission_id", ids)
            addresses: dict[Any, list[Row]] = defaultdict(list)
            if db.has(emails_table):
                table = db.table(emails_table)
                for row in db.rows(
                    sa.select(table).where(table.c.user_id.in_(ids)).order_by(table.c.id)
                ):
                    addresses[row["user_id"]].append(row)
            yield [
                self._user(
                    row,
                    [groups[g] for g in memberships.get(row["id"], ()) if g in groups],
                    bool(direct.get(row["id"])),
                    addresses.get(row["id"]),
                    allauth=db.has(emails_table),
                )
                for row in page
            ]

    def _user(
        self,
        row: Row,
        roles: list[str],
        direct: bool,
        addresses: list[Row] | None,
        *,
        allauth: bool,
    ) -> SourceUser:
        if row.get("is_superuser"):
            roles.append(SUPERUSER_ROLE)
        if row.get("is_staff"):
            roles.append(STAFF_ROLE)
        email = _text(row.get("email")) or None
        confirmed = True  # Django confirms nothing itself
        extra: list[tuple[str, Any]] = []
        if allauth:
            primary = next((a for a in addresses or () if a.get("primary")), None)
            if primary is not None:
                email = str(primary["email"])
            confirmed = bool(primary is not None and primary.get("verified"))
            now = dt.datetime.now(dt.timezone.utc)
            extra = [
                (str(a["email"]), now if a.get("verified") else None)
                for a in addresses or ()
                if a is not primary
            ]
        dropped = [c for c in ("first_name", "last_name") if _set(row, c)]
        if direct:
            dropped.append("permissions given to the user directly (give them a role)")
        return SourceUser(
            key=row["id"],
            email=email,
            username=_text(row.get("username")) or None,
            password_hash=_django_hash(_text(row.get("password")) or None),
            active=bool(row.get("is_active", True)),
            confirmed=confirmed,
            roles=roles,
            extra_emails=extra,
            dropped=dropped,
            columns={
                "created_at": as_utc(row.get("date_joined")),
                "current_sign_in_at": as_utc(row.get("last_login")),
            },
        )

    def notes(self, auth: Auth) -> list[str]:
        """Nothing to add."""
        return []


def _django_hash(stored: str | None) -> str | None:
    """Django's ``argon2$argon2id$...`` is argon2-cffi's own hash behind ``argon2``."""
    if stored and stored.startswith("argon2$argon2"):
        return stored.removeprefix("argon2")
    return stored


class FastAPIUsers(_Tables):
    """fastapi-users with its SQLAlchemy adapter (table ``user``; ``oauth_account``).

    Carried: email, the password hash (pwdlib: argon2 or bcrypt), active,
    ``is_verified`` (confirmed), ``is_superuser`` as the ``superuser`` role.
    Not carried: OAuth account links (users link them again).
    """

    name = "fastapi-users"

    def __init__(self, users: str = "user", oauth: str = "oauth_account") -> None:
        self.tables = (users, oauth)

    def roles(self, db: SourceDB) -> list[SourceRole]:
        """``superuser`` when someone is one."""
        users = db.table(self.tables[0])
        if "is_superuser" in users.c and db.rows(
            sa.select(users.c.id).where(users.c.is_superuser).limit(1)
        ):
            return [SourceRole(SUPERUSER_ROLE, "fastapi-users superusers")]
        return []

    def users(self, db: SourceDB, batch: int) -> Iterator[list[SourceUser]]:
        """The users, a page at a time."""
        users, oauth = self.tables
        for page in db.pages(users, batch):
            linked = _links(db, oauth, "user_id", "id", [row["id"] for row in page])
            yield [
                SourceUser(
                    key=row["id"],
                    email=_text(row.get("email")),
                    password_hash=_text(row.get("hashed_password")),
                    active=bool(row.get("is_active", True)),
                    confirmed=bool(row.get("is_verified", False)),
                    roles=[SUPERUSER_ROLE] if row.get("is_superuser") else [],
                    dropped=["OAuth account links"] if linked.get(row["id"]) else [],
                )
                for row in page
            ]

    def notes(self, auth: Auth) -> list[str]:
        """Nothing to add."""
        return []


class Auth101(_Tables):
    """auth101 with its SQLAlchemy adapter (``users``; passwords in ``account``).

    Carried: email, ``email_verified``, ``is_active``, the password hash of
    the ``credential`` account (passlib argon2/bcrypt), creation time. Not
    carried: the name and image (no such columns in authgate's user model),
    accounts of other providers, auth101's refresh-token sessions (users
    sign in again).
    """

    name = "auth101"

    def __init__(self, users: str = "users", accounts: str = "account") -> None:
        self.tables = (users, accounts)

    def check(self, db: SourceDB) -> None:
        """Both tables must be there."""
        _require(db, *self.tables)

    def roles(self, db: SourceDB) -> list[SourceRole]:
        """None: auth101 has no roles."""
        return []

    def users(self, db: SourceDB, batch: int) -> Iterator[list[SourceUser]]:
        """The users, a page at a time, with their credential account's hash."""
        users, accounts = self.tables
        table = db.table(accounts)
        for page in db.pages(users, batch):
            ids = [row["id"] for row in page]
            hashes: dict[Any, str | None] = {}
            others: set[Any] = set()
            for account in db.rows(sa.select(table).where(table.c.user_id.in_(ids))):
                if account["provider_id"] == "credential":
                    hashes[account["user_id"]] = _text(account.get("password"))
                else:
                    others.add(account["user_id"])
            yield [
                SourceUser(
                    key=row["id"],
                    email=_text(row.get("email")),
                    password_hash=hashes.get(row["id"]),
                    active=bool(row.get("is_active", True)),
                    confirmed=bool(row.get("email_verified", False)),
                    dropped=[
                        *(c for c in ("name", "image") if _set(row, c)),
                        *(["accounts of other providers"] if row["id"] in others else []),
                    ],
                    columns={"created_at": as_utc(row.get("created_at"))},
                )
                for row in page
            ]

    def notes(self, auth: Auth) -> list[str]:
        """Nothing to add."""
        return []


#: Every source by its command-line name.
SOURCES: dict[str, type[Any]] = {
    cls.name: cls for cls in (FlaskSecurity, FlaskUser, Django, FastAPIUsers, Auth101)
}
