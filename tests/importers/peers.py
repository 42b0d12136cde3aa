"""Real databases of the other libraries, with users signed up by the libraries themselves.

Each ``seed_*`` builds the library's own app or models on a database URL,
signs users up through the library's own code (its register endpoint or
user manager, its own hashing), and returns what authgate must find after
an import: one :class:`Expected` per user. Django runs in a subprocess (its
settings are global to a process, and this one is authgate's Django project).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
#: Flask-Security's HMAC key (``SECURITY_PASSWORD_SALT``); authgate needs it as ``legacy_hmac_salt``.
FS_SALT = "146585145368132386173505678016728509634"


@dataclass
class Expected:
    """A user as the source had them, and how authgate must see them."""

    email: str
    password: str
    username: str | None = None
    roles: list[str] = field(default_factory=list)
    active: bool = True
    confirmed: bool = True
    extra_emails: list[str] = field(default_factory=list)


# -- Flask-Security-Too ------------------------------------------------------------------


def seed_flask_security(url: str) -> list[Expected]:
    """Flask-Security-Too's own app (fsqla_v3 models, its HMAC-then-argon2 hashing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from flask import Flask
        from flask_security import Security, SQLAlchemyUserDatastore, hash_password
        from flask_security.models import fsqla_v3 as fsqla
        from flask_sqlalchemy import SQLAlchemy

        app = Flask(f"fs_{uuid.uuid4().hex}")
        app.config.update(
            SECRET_KEY="fs-secret-" + "x" * 32, SECURITY_PASSWORD_SALT=FS_SALT,
            SQLALCHEMY_DATABASE_URI=url, SECURITY_REGISTERABLE=True,
            SECURITY_SEND_REGISTER_EMAIL=False, SECURITY_USERNAME_ENABLE=True,
            SECURITY_CONFIRMABLE=True, SECURITY_LOGIN_WITHOUT_CONFIRMATION=True,
            WTF_CSRF_ENABLED=False, SECURITY_EMAIL_VALIDATOR_ARGS={"check_deliverability": False},
        )  # fmt: skip
        db = SQLAlchemy(app)
        fsqla.FsModels.set_db_info(db)

        class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
            pass

        class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
            pass

        class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):  # type: ignore[name-defined,misc]
            pass

        datastore = SQLAlchemyUserDatastore(db, User, Role)
        Security(app, datastore)
        with app.app_context():
            db.create_all()
            editor = datastore.create_role(name="editor", description="Writes posts",
                                           permissions={"post.edit", "post.publish"})  # fmt: skip
            datastore.create_role(name="admin")
            datastore.create_user(
                email="ada@fsapp.io", username="ada", password=hash_password("ada's password 1"),
                roles=[editor, "admin"], confirmed_at=sa.func.now(),
            )  # fmt: skip
            gone = datastore.create_user(email="gone@fsapp.io", password=hash_password("gone pw 12"))
            datastore.deactivate_user(gone)
            db.session.commit()
        client = app.test_client()
        signed = client.post("/register", json={
            "email": "Bob@FSApp.io", "password": "bob's password 1",
            "password_confirm": "bob's password 1", "username": "bobby",
        })  # fmt: skip
        assert signed.status_code == 200, signed.get_data(as_text=True)
        with app.app_context():
            db.engine.dispose()
    return [
        Expected("ada@fsapp.io", "ada's password 1", "ada", ["admin", "editor"]),
        Expected("Bob@fsapp.io", "bob's password 1", "bobby", confirmed=False),
        Expected("gone@fsapp.io", "gone pw 12", active=False, confirmed=False),
    ]


# -- Flask-User ----------------------------------------------------------------------------


def seed_flask_user(url: str, *, several_emails: bool = False) -> list[Expected]:
    """Flask-User 1.0's app with the models of its documentation; bcrypt through passlib.

    With ``several_emails`` the addresses live in ``user_emails`` (Flask-User's
    ``UserEmailClass``), the primary one flagged.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from flask import Flask
        from flask_sqlalchemy import SQLAlchemy
        from flask_user import UserManager, UserMixin

        app = Flask(f"fu_{uuid.uuid4().hex}")
        app.config.update(
            SECRET_KEY="fu-secret-" + "x" * 32, SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=False,
            USER_APP_NAME="Flask-User app", USER_ENABLE_USERNAME=True, USER_ENABLE_EMAIL=True,
            USER_ENABLE_CONFIRM_EMAIL=False, USER_SEND_REGISTERED_EMAIL=False,
            USER_EMAIL_SENDER_EMAIL="noreply@fuapp.io", USER_ENABLE_MULTIPLE_EMAILS=several_emails,
            USER_PASSLIB_CRYPTCONTEXT_KEYWORDS={"bcrypt__rounds": 6},
        )  # fmt: skip
        db = SQLAlchemy(app)

        class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
            __tablename__ = "users"
            id = db.Column(db.Integer, primary_key=True)
            active = db.Column("is_active", db.Boolean(), nullable=False, server_default="1")
            username = db.Column(db.String(100), nullable=False, unique=True)
            if not several_emails:
                email = db.Column(db.String(255), nullable=False, unique=True)
                email_confirmed_at = db.Column(db.DateTime())
            password = db.Column(db.String(255), nullable=False, server_default="")
            first_name = db.Column(db.String(100), nullable=False, server_default="")
            last_name = db.Column(db.String(100), nullable=False, server_default="")
            roles = db.relationship("Role", secondary="user_roles")

        class Role(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "roles"
            id = db.Column(db.Integer(), primary_key=True)
            name = db.Column(db.String(50), unique=True)

        class UserRoles(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "user_roles"
            id = db.Column(db.Integer(), primary_key=True)
            user_id = db.Column(db.Integer(), db.ForeignKey("users.id", ondelete="CASCADE"))
            role_id = db.Column(db.Integer(), db.ForeignKey("roles.id", ondelete="CASCADE"))

        class UserEmail(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "user_emails"
            id = db.Column(db.Integer, primary_key=True)
            user_id = db.Column(db.Integer, db.ForeignKey("users.id"))
            email = db.Column(db.String(255), nullable=False, unique=True)
            email_confirmed_at = db.Column(db.DateTime())
            is_primary = db.Column(db.Boolean(), nullable=False, server_default="0")
            user = db.relationship("User", uselist=False)

        manager = UserManager(app, db, User, UserEmailClass=UserEmail if several_emails else None)
        with app.app_context():
            db.create_all()
            ada = User(username="ada", password=manager.hash_password("ada's password 1"),
                       first_name="Ada", last_name="Lovelace")  # fmt: skip
            ada.roles.append(Role(name="Admin"))
            if several_emails:
                db.session.add(UserEmail(user=ada, email="ada@fuapp.io", is_primary=True,
                                         email_confirmed_at=sa.func.now()))  # fmt: skip
                db.session.add(UserEmail(user=ada, email="ada.work@fuapp.io",
                                         email_confirmed_at=sa.func.now()))  # fmt: skip
                db.session.add(UserEmail(user=ada, email="ada.old@fuapp.io"))
            else:
                ada.email, ada.email_confirmed_at = "ada@fuapp.io", sa.func.now()
            db.session.add(ada)
            db.session.commit()
        client = app.test_client()
        signed = client.post("/user/register", data={
            "username": "bobby", "email": "bob@fuapp.io", "password": "Bob's password 1",
            "retype_password": "Bob's password 1",
        })  # fmt: skip
        assert signed.status_code == 302, signed.get_data(as_text=True)[:500]
        with app.app_context():
            db.engine.dispose()
    ada_extra = ["ada.work@fuapp.io", "ada.old@fuapp.io"] if several_emails else []
    return [
        Expected("ada@fuapp.io", "ada's password 1", "ada", ["Admin"], extra_emails=ada_extra),
        Expected("bob@fuapp.io", "Bob's password 1", "bobby", confirmed=False),
    ]


# -- Django's auth -----------------------------------------------------------------------

DJANGO_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import django
from django.conf import settings

database = json.loads(sys.argv[1])
settings.configure(
    SECRET_KEY="django-source-secret-0123456789-abcdefghijklmnop", USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": database},
    PASSWORD_HASHERS=["seed.FastPBKDF2", "django.contrib.auth.hashers.Argon2PasswordHasher",
                      "django.contrib.auth.hashers.MD5PasswordHasher"],
)
import types
from django.contrib.auth.hashers import PBKDF2PasswordHasher

class FastPBKDF2(PBKDF2PasswordHasher):  # Django's own PBKDF2, fewer rounds (a faster test)
    iterations = 20_000

sys.modules["seed"] = types.SimpleNamespace(FastPBKDF2=FastPBKDF2)
django.setup()
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import connection

call_command("migrate", verbosity=0)
editors = Group.objects.create(name="editors")
editors.permissions.add(*Permission.objects.filter(codename__in=["add_group", "change_group"]))
User.objects.create_superuser("root", "root@djapp.io", "root's password 1")
ada = User.objects.create_user("ada", "ada@djapp.io", "ada's password 1", first_name="Ada")
ada.groups.add(editors)
ada.user_permissions.add(Permission.objects.get(codename="view_user"))
argon = User.objects.create_user("argon", "argon@djapp.io")
argon.password = make_password("argon's password 1", hasher="argon2")
argon.save()
User.objects.create_user("gone", "gone@djapp.io", "gone's password 1", is_active=False)
User.objects.create_user("noemail", "", "no email password 1")
User.objects.create_user("unusable", "unusable@djapp.io")  # set_unusable_password()
old = User.objects.create_user("old", "old@djapp.io")
old.password = make_password("old password 12", hasher="md5")
old.save()
User.objects.create_user("we.b@ck", "web@djapp.io", "web's password 1")  # '@' in the username
if len(sys.argv) > 2:  # django-allauth's addresses (allauth itself is not installed)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE account_emailaddress (id integer PRIMARY KEY, email varchar(254), "
                       "verified boolean, \"primary\" boolean, user_id integer)")
        cursor.execute("INSERT INTO account_emailaddress VALUES (1, 'ada@djapp.io', %s, %s, %s), "
                       "(2, 'ada.home@djapp.io', %s, %s, %s), (3, 'root@djapp.io', %s, %s, %s)",
                       [True, True, ada.pk, True, False, ada.pk, False, True, 1])
print(json.dumps({"users": User.objects.count()}))
"""


def seed_django(url: str, *, allauth: bool = False) -> list[Expected]:
    """Django's auth in its own process: ``create_user``/``create_superuser``, groups, hashes."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database}
    else:
        database = {"ENGINE": "django.db.backends.postgresql", "NAME": parsed.database,
                    "USER": parsed.username, "HOST": parsed.host, "PORT": str(parsed.port)}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "DJANGO_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_SCRIPT, json.dumps(database), *(["allauth"] if allauth else [])],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [
        Expected("root@djapp.io", "root's password 1", "root", ["staff", "superuser"],
                 confirmed=not allauth),
        Expected("ada@djapp.io", "ada's password 1", "ada", ["editors"],
                 extra_emails=["ada.home@djapp.io"] if allauth else []),
        Expected("argon@djapp.io", "argon's password 1", "argon", confirmed=not allauth),
        Expected("gone@djapp.io", "gone's password 1", "gone", active=False,
                 confirmed=not allauth),
        Expected("web@djapp.io", "web's password 1", None, confirmed=not allauth),
    ]


# -- fastapi-users -----------------------------------------------------------------------


def seed_fastapi_users(url: str) -> list[Expected]:
    """fastapi-users' user manager over its SQLAlchemy adapter (async), pwdlib hashing."""
    from fastapi_users import BaseUserManager, UUIDIDMixin, schemas
    from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        pass

    class UserCreate(schemas.BaseUserCreate):
        pass

    class Manager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):  # type: ignore[misc]
        reset_password_token_secret = verification_token_secret = "fau-secret-" + "x" * 32

    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")

    async def seed() -> None:
        engine = create_async_engine(parsed)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            manager = Manager(SQLAlchemyUserDatabase(session, User))
            await manager.create(UserCreate(email="root@fauapp.io", password="root's password 1",
                                            is_superuser=True, is_verified=True))  # fmt: skip
            await manager.create(UserCreate(email="pat@fauapp.io", password="pat's password 1"))
            await manager.create(UserCreate(email="gone@fauapp.io", password="gone's password 1",
                                            is_active=False, is_verified=True))  # fmt: skip
        await engine.dispose()

    asyncio.run(seed())
    return [
        Expected("root@fauapp.io", "root's password 1", roles=["superuser"]),
        Expected("pat@fauapp.io", "pat's password 1", confirmed=False),
        Expected("gone@fauapp.io", "gone's password 1", active=False),
    ]


# -- auth101 -------------------------------------------------------------------------------


def seed_auth101(url: str) -> list[Expected]:
    """auth101's own sign-up over its SQLAlchemy adapter (passlib argon2)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from auth101 import Auth101
        from auth101.adapters import SQLAlchemyAdapter

        engine = sa.create_engine(url)
        auth101 = Auth101(secret="auth101-secret-" + "x" * 32, database=SQLAlchemyAdapter(engine))
        for email, password in (("Ann@A101app.io", "ann's password 1"),
                                ("ben@a101app.io", "ben's password 1")):  # fmt: skip
            signed = auth101.sign_up(email, password)
            assert "access_token" in signed, signed
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE users SET email_verified = :yes, name = :name "
                                       "WHERE email = :email"),
                               {"yes": True, "name": "Ben", "email": "ben@a101app.io"})  # fmt: skip
        engine.dispose()
    return [
        Expected("ann@a101app.io", "ann's password 1", confirmed=False),
        Expected("ben@a101app.io", "ben's password 1"),
    ]
