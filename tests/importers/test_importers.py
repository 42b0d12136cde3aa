"""Importers: users signed up with each real library sign in to authgate with the same password.

For Flask-Security-Too, Flask-User, Django's auth, fastapi-users and auth101,
on SQLite and PostgreSQL: the library builds its own tables and signs users
up with its own hashing (``tests/importers/peers.py``); ``authgate import``
reads them; each user then signs in through authgate with their old
password (and is rehashed), keeps their username, roles, flags and extra
addresses; a second run imports nothing twice; what cannot be carried is
reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from authgate import AccountDisabled, Auth, InvalidCredentials
from authgate.importers import SourceError, import_from
from tests.conftest import _fresh_database, backend_params
from tests.importers import peers
from tests.importers.peers import Expected

SECRET = "importers-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}

Seed = Callable[[str], list[Expected]]


@pytest.fixture(params=backend_params(["sqlite", "postgres"]))
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``source_url(library)``: an empty database for that library's tables."""

    def make(library: str) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / (library + '.db')}"
        suffix = "_src_" + library.replace("-", "_")
        return _fresh_database("postgres", suffix).render_as_string(hide_password=False)

    return make


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[Auth]:
    """authgate on its own SQLite database, able to verify Flask-Security's HMAC hashes."""
    target = Auth(SECRET, database_url=f"sqlite:///{tmp_path / 'authgate.db'}",
                  legacy_hmac_salt=peers.FS_SALT, **FAST)  # fmt: skip
    yield target
    target.close()


def check_users(auth: Auth, expected: list[Expected]) -> None:
    """Every expected user signs in with their old password, as they were."""
    for user in expected:
        stored = auth.users.get_user(user.email)
        assert stored is not None, user.email
        assert stored.username == user.username, user.email
        assert sorted(stored.role_names) == sorted(user.roles), user.email
        assert stored.email_confirmed is user.confirmed, user.email
        extra = sorted(e.email for e in auth.ctx.emails.list_emails(stored.id))
        assert extra == sorted(user.extra_emails), user.email
        with pytest.raises(InvalidCredentials):
            auth.sign_in(user.email, user.password + "x")
        if not user.active:
            with pytest.raises(AccountDisabled):  # the password was right
                auth.sign_in(user.email, user.password)
            continue
        old_hash = stored.password_hash
        result = auth.sign_in(user.email, user.password)
        assert result.token and auth.verify_token(result.token).email == stored.email
        new_hash = auth.users.get_user(user.email).password_hash
        assert new_hash != old_hash and new_hash.startswith("$argon2id$v=19$m=1024,t=1")


def run_twice(auth: Auth, library: str, url: str, expected: list[Expected]) -> Any:
    report = import_from(auth, library, url)
    importable = len(expected)
    assert report.imported >= importable and report.existing == 0, report.lines()
    check_users(auth, expected)
    again = import_from(auth, library, url)
    assert (again.imported, again.existing, again.seen) == (0, report.seen - report.failed,
                                                             report.seen), again.lines()  # fmt: skip
    assert auth.users.count_users() == report.imported
    return report


@pytest.mark.slow
def test_flask_security(auth: Auth, source_url: Callable[[str], str]) -> None:
    url = source_url("flask-security")
    expected = peers.seed_flask_security(url)
    report = run_twice(auth, "flask-security", url, expected)
    assert (report.seen, report.imported, report.failed, report.roles_created) == (3, 3, 0, 2)
    assert auth.users.find_role("editor").get_permissions() == {"post.edit", "post.publish"}
    assert not any("legacy_hmac_salt" in note for note in report.notes)  # it is set


def test_flask_security_without_the_salt_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fs.db'}"
    expected = peers.seed_flask_security(url)
    target = Auth(SECRET, **FAST)
    report = import_from(target, "flask-security", url)
    assert any("legacy_hmac_salt" in note for note in report.notes)
    with pytest.raises(InvalidCredentials):  # without the salt the HMAC'd hash cannot match
        target.sign_in(expected[0].email, expected[0].password)


@pytest.mark.slow
def test_flask_user(auth: Auth, source_url: Callable[[str], str]) -> None:
    url = source_url("flask-user")
    expected = peers.seed_flask_user(url)
    report = run_twice(auth, "flask-user", url, expected)
    assert (report.seen, report.imported, report.failed) == (2, 2, 0)
    assert report.not_carried == {"first_name": 1, "last_name": 1}
    assert any("usernames=True" in note for note in report.notes)


@pytest.mark.slow
def test_flask_user_with_several_addresses(auth: Auth, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fu.db'}"
    expected = peers.seed_flask_user(url, several_emails=True)
    report = run_twice(auth, "flask-user", url, expected)
    ada = auth.users.get_user("ada@fuapp.io")
    assert ada.email_confirmed
    confirmed = {e.email: e.confirmed_at is not None for e in auth.ctx.emails.list_emails(ada.id)}
    assert confirmed == {"ada.work@fuapp.io": True, "ada.old@fuapp.io": False}
    assert any("multiple_emails=True" in note for note in report.notes)


@pytest.mark.slow
def test_django(auth: Auth, source_url: Callable[[str], str]) -> None:
    url = source_url("django")
    expected = peers.seed_django(url)
    report = run_twice(auth, "django", url, expected)
    assert (report.seen, report.imported, report.failed) == (8, 7, 1)
    assert report.failures[0][1:] == ("", "no email address")
    assert auth.users.find_role("editors").get_permissions() == {
        "auth.add_group", "auth.change_group",
    }  # fmt: skip
    assert report.not_carried["first_name"] == 1
    assert report.not_carried["permissions given to the user directly (give them a role)"] == 1
    assert report.not_carried["a username authgate refuses (invalid)"] == 1
    assert report.not_carried["an unusable password (none to carry)"] == 1
    assert report.not_carried["password hash of an unknown scheme (md5)"] == 1
    for email in ("unusable@djapp.io", "old@djapp.io"):  # imported; they reset the password
        assert auth.users.get_user(email).password_hash is None
    root = auth.users.get_user("root@djapp.io")
    assert root.created_at.year >= 2026 and root.role_names == ["staff", "superuser"]


@pytest.mark.slow
def test_django_with_allauth_addresses(auth: Auth, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dj.db'}"
    expected = peers.seed_django(url, allauth=True)
    run_twice(auth, "django", url, expected)
    ada = auth.users.get_user("ada@djapp.io")
    assert ada.email_confirmed
    extra = {e.email: e.confirmed_at is not None for e in auth.ctx.emails.list_emails(ada.id)}
    assert extra == {"ada.home@djapp.io": True}  # verified there


@pytest.mark.slow
def test_fastapi_users(auth: Auth, source_url: Callable[[str], str]) -> None:
    url = source_url("fastapi-users")
    expected = peers.seed_fastapi_users(url)
    report = run_twice(auth, "fastapi-users", url, expected)
    assert (report.seen, report.imported, report.failed, report.roles_created) == (3, 3, 0, 1)


@pytest.mark.slow
def test_auth101(auth: Auth, source_url: Callable[[str], str]) -> None:
    url = source_url("auth101")
    expected = peers.seed_auth101(url)
    report = run_twice(auth, "auth101", url, expected)
    assert (report.seen, report.imported, report.failed) == (2, 2, 0)
    assert report.not_carried == {"name": 1}


def test_a_stopped_run_is_finished_by_the_next(auth: Auth, tmp_path: Path) -> None:
    """An account made by a run that stopped before its roles/addresses gets them next time."""
    url = f"sqlite:///{tmp_path / 'fu.db'}"
    peers.seed_flask_user(url, several_emails=True)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT password FROM users WHERE username = 'ada'")).one()
    engine.dispose()
    # What a run stopped right after create_user leaves: the account, nothing else.
    auth.users.acting_as("import").create_user(email="ada@fuapp.io", password_hash=row[0],
                                               username="ada")  # fmt: skip
    report = import_from(auth, "flask-user", url)
    assert (report.imported, report.existing, report.completed) == (1, 1, 1)
    ada = auth.users.get_user("ada@fuapp.io")
    assert ada.role_names == ["Admin"] and len(auth.ctx.emails.list_emails(ada.id)) == 2
    # An account someone has used since (another hash) is left alone.
    auth.users.set_password(ada, "changed since 1")
    assert import_from(auth, "flask-user", url).completed == 0


def test_an_absurd_hash_is_not_carried(auth: Auth, tmp_path: Path) -> None:
    """Finding S11: a bcrypt cost-31 row would pin a hashing slot for days."""
    url = f"sqlite:///{tmp_path / 'fau.db'}"
    peers.seed_fastapi_users(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE user SET hashed_password = :h WHERE email = :e"),
                           {"h": "$2b$31$" + "a" * 53, "e": "pat@fauapp.io"})  # fmt: skip
    engine.dispose()
    report = import_from(auth, "fastapi-users", url)
    assert report.not_carried == {"password hash costlier than authgate verifies (bcrypt)": 1}
    assert auth.users.get_user("pat@fauapp.io").password_hash is None


def test_bad_sources_are_one_clear_error(auth: Auth, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown source"):
        import_from(auth, "flask-login", "sqlite://")
    with pytest.raises(SourceError, match="no such SQLite database"):
        import_from(auth, "django", f"sqlite:///{tmp_path / 'missing.db'}")
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    sa.create_engine(empty).connect().close()
    with pytest.raises(SourceError, match="no 'auth_user' table"):
        import_from(auth, "django", empty)
    with pytest.raises(SourceError, match="not a database URL"):
        import_from(auth, "django", "not a url://")


# -- the command line ----------------------------------------------------------------------


def test_authgate_import_command(tmp_path: Path) -> None:
    from authgate.cli import cli

    source = f"sqlite:///{tmp_path / 'a101.db'}"
    expected = peers.seed_auth101(source)
    target = f"sqlite:///{tmp_path / 'authgate.db'}"
    runner = CliRunner()
    env = {"AUTHGATE_SECRET": SECRET, "AUTHGATE_ARGON2_MEMORY_COST": "1024",
           "AUTHGATE_ARGON2_TIME_COST": "1"}  # fmt: skip
    done = runner.invoke(cli, ["--database-url", target, "import", "auth101", "--from", source],
                         env=env)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0] == (
        "auth101: 2 users read, 2 imported, 0 already in authgate (0 completed), "
        "0 not imported, 0 roles created"
    )
    assert "not carried: name (1 users)" in done.output
    again = runner.invoke(cli, ["--database-url", target, "import", "auth101", "--from", source],
                          env=env)  # fmt: skip
    assert "0 imported, 2 already in authgate" in again.output
    auth = Auth(SECRET, database_url=target, **FAST)
    try:
        assert auth.sign_in(expected[0].email, expected[0].password).token
    finally:
        auth.close()

    missing = runner.invoke(cli, ["--database-url", target, "import", "django", "--from", source],
                            env=env)  # fmt: skip
    assert missing.exit_code == 1
    assert missing.output.strip().splitlines() == [
        "error: the source database has no 'auth_user' table (is it the right database, "
        "and are the tables named so?)"
    ]
    renamed = runner.invoke(cli, ["--database-url", target, "import", "auth101", "--from", source,
                                  "--table", "users=nope"], env=env)  # fmt: skip
    assert renamed.exit_code == 1 and "no 'nope' table" in renamed.output
    wrong = runner.invoke(cli, ["--database-url", target, "import", "auth101", "--from", source,
                                "--table", "groups=x"], env=env)  # fmt: skip
    assert wrong.exit_code == 2 and "groups" in wrong.output


def test_an_existing_account_is_never_given_the_sources_roles(auth: Auth, tmp_path: Path) -> None:
    """Someone already holding the address in authgate (no password: a passwordless or
    invited account) is not the source's user: no role, no address comes from the import."""
    url = f"sqlite:///{tmp_path / 'fu.db'}"
    peers.seed_flask_user(url, several_emails=True)
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # a source user without a password either
        connection.execute(sa.text("UPDATE users SET password = '' WHERE username = 'ada'"))
    engine.dispose()
    auth.users.create_user(email="ada@fuapp.io")  # no password
    report = import_from(auth, "flask-user", url)
    assert (report.imported, report.existing, report.completed) == (1, 1, 0)
    ada = auth.users.get_user("ada@fuapp.io")
    assert ada.role_names == [] and auth.ctx.emails.list_emails(ada.id) == []
