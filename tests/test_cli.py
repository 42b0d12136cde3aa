"""The ``authgate`` command line (SPEC §8): every command's effect and every error path."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from authgate import AccountDisabled, Auth, InvalidCredentials
from authgate.cli import cli, main, make_cli
from authgate.keys import load_key
from authgate.stores.sqlalchemy import migrate
from tests.conftest import service_unavailable
from tests.mail import smtp_server

smtp_servers = smtp_server.smtp_servers
tls_files = smtp_server.tls_files

#: Cheap hashing for the CLI, given the way an operator would: in the environment.
FAST_ENV = {"AUTHGATE_ARGON2_MEMORY_COST": "1024", "AUTHGATE_ARGON2_TIME_COST": "1"}
FAST_SETTINGS: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
SECRET = "cli-test-secret-" + "x" * 32
PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse"
UNREACHABLE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/x"
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_TEST_DB = "authgate_cli_test"

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AUTHGATE_* variable of the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("AUTHGATE_"):
            monkeypatch.delenv(key)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auth.db'}"


@pytest.fixture
def run(db_url: str) -> Run:
    """``run(*args, input=None, env=None, url=<the test's SQLite file>)``: invoke ``authgate``.

    Pass ``url=None`` to leave ``--database-url`` out.
    """
    runner = CliRunner()

    def invoke(
        *args: str,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
        url: str | None = db_url,
    ) -> Result:
        argv = ["--database-url", url, *args] if url is not None else list(args)
        return runner.invoke(cli, argv, input=input, env={**FAST_ENV, **(env or {})})

    return invoke


@pytest.fixture
def open_auth() -> Iterator[Callable[[str], Auth]]:
    """``open_auth(url)``: a separate ``Auth`` on the database, to check the CLI's effect."""
    opened: list[Auth] = []

    def make(url: str) -> Auth:
        auth = Auth(secret=SECRET, database_url=url, **FAST_SETTINGS)
        opened.append(auth)
        return auth

    yield make
    for auth in opened:
        auth.store.close()


def ok(result: Result) -> str:
    """Assert success and return stdout."""
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.stdout


def failed(result: Result, exit_code: int, *fragments: str) -> str:
    """Assert failure with exactly one line on stderr containing ``fragments``; return it."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def create(run: Run, email: str = "alice@example.com", *extra: str, **options: Any) -> str:
    return ok(run("users", "create", email, "--password", PASSWORD, *extra, **options))


# -- help and structure --------------------------------------------------------------


def test_help_needs_no_database(run: Run) -> None:
    out = ok(run("--help", url=None))
    for group in ("users", "roles", "db", "audit", "mail", "--database-url"):
        assert group in out
    assert "demo" in out
    users_help = ok(run("users", "--help", url=None))
    for command in (
        "create", "list", "show", "activate", "deactivate", "delete",
        "set-password", "add-role", "remove-role",
    ):  # fmt: skip
        assert command in users_help


def test_version(run: Run) -> None:
    import authgate

    assert authgate.__version__ in ok(run("--version", url=None))


def test_main_returns_the_exit_status(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    assert main(["--database-url", db_url, "db", "upgrade"]) == 0
    assert main(["--database-url", db_url, "users", "show", "nobody@example.com"]) == 1
    assert main(["users", "list"]) == 2
    captured = capsys.readouterr()
    assert "upgraded" in captured.out
    assert captured.err.splitlines() == [
        "error: no user with email nobody@example.com",
        "error: no database URL: pass --database-url URL (before the command) "
        "or set AUTHGATE_DATABASE_URL",
    ]


# -- db ------------------------------------------------------------------------------


def test_db_upgrade_and_current(run: Run, db_url: str) -> None:
    head = migrate.head_revision()
    assert ok(run("db", "current")).strip() == f"none (head is {head}; run: authgate db upgrade)"
    assert ok(run("db", "upgrade")).strip() == f"database upgraded to revision {head} (head)"
    assert ok(run("db", "upgrade")).strip() == f"database already at revision {head} (head)"
    assert ok(run("db", "current")).strip() == f"{head} (head)"
    engine = sa.create_engine(db_url)
    try:
        assert migrate.current_revision(engine) == head
        assert "authgate_users" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_database_url_from_environment(run: Run, db_url: str) -> None:
    ok(run("db", "upgrade", url=None, env={"AUTHGATE_DATABASE_URL": db_url}))
    create(run)
    out = ok(run("users", "list", url=None, env={"AUTHGATE_DATABASE_URL": db_url}))
    assert "alice@example.com" in out


# -- users create -----------------------------------------------------------------------


def test_users_create(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    ok(run("roles", "create", "admin"))
    ok(run("roles", "create", "editor"))
    out = create(run, "Alice@Example.com", "--username", "alice", "--role", "admin",
                 "--role", "editor")  # fmt: skip
    auth = open_auth(db_url)
    user = auth.users.get_user("alice@example.com")
    assert user is not None
    assert out == f"created user Alice@example.com (id {user.id})\n"
    assert user.is_active is True
    assert user.email_confirmed
    assert user.username == "alice"
    assert user.role_names == ["admin", "editor"]
    assert auth.sign_in("alice@example.com", PASSWORD).user.id == user.id


def test_users_create_inactive(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    create(run, "alice@example.com", "--inactive")
    user = open_auth(db_url).users.get_user("alice@example.com")
    assert user is not None
    assert user.is_active is False
    assert user.email_confirmed


def test_users_create_prompts_for_the_password(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    result = run("users", "create", "alice@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    out = ok(result)
    assert "Password: " in out
    assert "Repeat for confirmation: " in out
    assert PASSWORD not in result.output  # hidden input
    assert "created user alice@example.com" in out
    auth = open_auth(db_url)
    assert auth.sign_in("alice@example.com", PASSWORD).token


def test_users_create_password_confirmation_mismatch(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    result = run("users", "create", "alice@example.com", input=f"{PASSWORD}\nsomething else\n")
    assert failed(result, 1) == "aborted"
    assert "do not match" in result.stdout
    assert open_auth(db_url).users.get_user("alice@example.com") is None


# -- users list / show ------------------------------------------------------------------


def test_users_list(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    assert ok(run("users", "list")) == ""
    ok(run("roles", "create", "admin"))
    ok(run("roles", "create", "editor"))
    create(run, "alice@example.com", "--role", "editor", "--role", "admin")
    create(run, "bob@example.com", "--username", "bobby", "--inactive")
    auth = open_auth(db_url)
    alice = auth.users.get_user("alice@example.com")
    bob = auth.users.get_user("bob@example.com")
    assert alice is not None
    assert bob is not None
    lines = ok(run("users", "list")).splitlines()
    assert lines == [
        f"{alice.id}\talice@example.com\t-\tactive\tconfirmed\tadmin,editor",
        f"{bob.id}\tbob@example.com\tbobby\tinactive\tconfirmed\t-",
    ]
    data = json.loads(ok(run("users", "list", "--json")))
    assert data == [alice.to_dict(), bob.to_dict()]


def test_users_list_shows_unconfirmed_users(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    ok(run("db", "upgrade"))
    open_auth(db_url).users.create_user(email="carol@example.com", confirmed=False)
    assert "\tactive\tunconfirmed\t-" in ok(run("users", "list"))


def test_users_show(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    ok(run("roles", "create", "admin"))
    create(run, "alice@example.com", "--role", "admin")
    auth = open_auth(db_url)
    auth.sign_in("alice@example.com", PASSWORD, ip="192.0.2.7")
    user = auth.users.get_user("alice@example.com")
    assert user is not None

    lines = ok(run("users", "show", "ALICE@example.com")).splitlines()
    shown = dict(line.split(": ", 1) for line in lines)
    assert shown["id"] == user.id
    assert shown["email"] == "alice@example.com"
    assert shown["username"] == "-"
    assert shown["is_active"] == "yes"
    assert shown["email_confirmed"] == "yes"
    assert shown["roles"] == "admin"
    assert shown["created_at"] == user.created_at.isoformat()
    assert shown["current_sign_in_ip"] == "192.0.2.7"
    assert shown["sign_in_count"] == "1"
    assert "password_hash" not in shown
    assert "security_stamp" not in shown

    data = json.loads(ok(run("users", "show", "alice@example.com", "--json")))
    assert data.items() >= user.to_dict().items()
    assert data["created_at"] == user.created_at.isoformat()
    assert data["sign_in_count"] == 1
    # By id, too.
    assert json.loads(ok(run("users", "show", user.id, "--json")))["id"] == user.id


# -- activate / deactivate / delete -----------------------------------------------------


def test_users_deactivate_and_activate(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    create(run)
    token = open_auth(db_url).sign_in("alice@example.com", PASSWORD).token
    assert token is not None

    assert ok(run("users", "deactivate", "alice@example.com")) == (
        "deactivated user alice@example.com\n"
    )
    auth = open_auth(db_url)
    user = auth.users.get_user("alice@example.com")
    assert user is not None
    assert user.is_active is False
    assert auth.verify_token(token) is None  # sessions ended
    with pytest.raises(AccountDisabled):
        auth.sign_in("alice@example.com", PASSWORD)
    assert "already inactive" in ok(run("users", "deactivate", "alice@example.com"))

    assert ok(run("users", "activate", "alice@example.com")) == "activated user alice@example.com\n"
    user = open_auth(db_url).users.get_user("alice@example.com")
    assert user is not None
    assert user.is_active is True
    assert "already active" in ok(run("users", "activate", "alice@example.com"))


@pytest.mark.parametrize(
    "command",
    [["users", "deactivate"], ["users", "delete", "--yes"], ["users", "remove-role"]],
)
def test_commands_end_sessions_the_app_has_seen(
    run: Run, db_url: str, open_auth: Callable[[str], Auth], command: list[str]
) -> None:
    """The app's session cache hears of a command run in the same process at once."""
    create(run)
    app = open_auth(db_url)
    app.users.add_role_to_user("alice@example.com", "admin")
    token = app.sign_in("alice@example.com", PASSWORD).token
    assert token is not None
    assert app.get_session(token).user.role_names == ["admin"]  # cached from now on
    if command[-1] == "remove-role":
        ok(run(*command, "alice@example.com", "admin"))
        assert app.get_session(token).user.role_names == []
        return
    ok(run(*command[:2], "alice@example.com", *command[2:]))
    assert app.verify_token(token) is None


def test_users_delete_with_yes(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    create(run)
    assert ok(run("users", "delete", "alice@example.com", "--yes")) == (
        "deleted user alice@example.com\n"
    )
    assert open_auth(db_url).users.get_user("alice@example.com") is None


def test_users_delete_asks_for_confirmation(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    create(run)
    out = ok(run("users", "delete", "alice@example.com", input="y\n"))
    assert "Delete user alice@example.com" in out
    assert "deleted user alice@example.com" in out
    assert open_auth(db_url).users.get_user("alice@example.com") is None


@pytest.mark.parametrize("answer", ["n\n", "\n", ""], ids=["no", "default", "eof"])
def test_users_delete_declined(
    run: Run, db_url: str, open_auth: Callable[[str], Auth], answer: str
) -> None:
    create(run)
    result = run("users", "delete", "alice@example.com", input=answer)
    assert failed(result, 1) == "aborted"
    assert open_auth(db_url).users.get_user("alice@example.com") is not None


# -- set-password ------------------------------------------------------------------------


def test_users_set_password(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    create(run)
    token = open_auth(db_url).sign_in("alice@example.com", PASSWORD).token
    assert token is not None
    out = ok(run("users", "set-password", "alice@example.com", "--password", NEW_PASSWORD))
    assert out.startswith("password set for alice@example.com")
    auth = open_auth(db_url)
    assert auth.verify_token(token) is None  # every session ended
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", PASSWORD)


def test_users_set_password_prompts(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    create(run)
    result = run("users", "set-password", "alice@example.com",
                 input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")  # fmt: skip
    assert "New password: " in ok(result)
    assert NEW_PASSWORD not in result.output
    assert open_auth(db_url).sign_in("alice@example.com", NEW_PASSWORD).token


# -- roles ------------------------------------------------------------------------------


def test_users_add_and_remove_role(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    create(run)
    ok(run("roles", "create", "admin"))
    assert ok(run("users", "add-role", "alice@example.com", "admin")) == (
        "added role admin to alice@example.com\n"
    )
    assert "already has role admin" in ok(run("users", "add-role", "alice@example.com", "admin"))
    assert ok(run("users", "list")).rstrip("\n").endswith("\tadmin")
    user = open_auth(db_url).users.get_user("alice@example.com")
    assert user is not None
    assert user.has_role("admin")

    assert ok(run("users", "remove-role", "alice@example.com", "admin")) == (
        "removed role admin from alice@example.com\n"
    )
    assert "does not have role admin" in ok(
        run("users", "remove-role", "alice@example.com", "admin")
    )
    assert ok(run("users", "list")).rstrip("\n").endswith("\t-")
    user = open_auth(db_url).users.get_user("alice@example.com")
    assert user is not None
    assert not user.has_role("admin")


def test_roles_create_list_delete(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    assert ok(run("roles", "list")) == ""
    assert ok(run("roles", "create", "admin", "--description", "Full access")) == (
        "created role admin\n"
    )
    ok(run("roles", "create", "editor"))
    assert ok(run("roles", "list")).splitlines() == ["admin\tFull access\t-", "editor\t-\t-"]
    assert json.loads(ok(run("roles", "list", "--json"))) == [
        {"name": "admin", "description": "Full access", "permissions": []},
        {"name": "editor", "description": None, "permissions": []},
    ]
    create(run, "alice@example.com", "--role", "admin")

    assert ok(run("roles", "delete", "admin")) == "deleted role admin\n"
    auth = open_auth(db_url)
    assert auth.users.find_role("admin") is None
    user = auth.users.get_user("alice@example.com")
    assert user is not None
    assert user.role_names == []
    assert ok(run("roles", "list")).splitlines() == ["editor\t-\t-"]


# -- error paths: one line on stderr, never a traceback ---------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["users", "show", "ghost@example.com"],
        ["users", "activate", "ghost@example.com"],
        ["users", "deactivate", "ghost@example.com"],
        ["users", "delete", "ghost@example.com", "--yes"],
        ["users", "set-password", "ghost@example.com", "--password", NEW_PASSWORD],
        ["users", "add-role", "ghost@example.com", "admin"],
        ["users", "remove-role", "ghost@example.com", "admin"],
    ],
    ids=lambda args: args[1],
)
def test_unknown_user(run: Run, args: list[str]) -> None:
    ok(run("roles", "create", "admin"))
    line = failed(run(*args), 1)
    assert line == "error: no user with email ghost@example.com"


def test_unknown_user_id(run: Run) -> None:
    ok(run("db", "upgrade"))
    assert failed(run("users", "show", "12345"), 1) == "error: no user with id 12345"


def test_invalid_email(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    # Rejected before any password prompt.
    failed(run("users", "create", "not-an-email"), 1, "VALIDATION_ERROR", "email=invalid")
    assert open_auth(db_url).users.count_users() == 0


def test_short_password(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    result = run("users", "create", "alice@example.com", "--password", "short")
    failed(result, 1, "VALIDATION_ERROR", "password=too_short")
    assert open_auth(db_url).users.get_user("alice@example.com") is None


def test_short_password_on_set_password(run: Run) -> None:
    create(run)
    result = run("users", "set-password", "alice@example.com", "--password", "short")
    failed(result, 1, "VALIDATION_ERROR", "password=too_short")


def test_duplicate_email(run: Run) -> None:
    create(run)
    for email in ("alice@example.com", "ALICE@Example.COM"):
        # Reported before any password prompt, so no --password here.
        line = failed(run("users", "create", email), 1, "USER_EXISTS")
        assert line.startswith("error: USER_EXISTS: An account with this email")


def test_unknown_role(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    create(run)
    line = failed(run("users", "remove-role", "alice@example.com", "ghost"), 1)
    assert line.startswith("error: no role named 'ghost'")
    failed(run("users", "add-role", "alice@example.com", "ghost"), 1, "no role named 'ghost'")
    result = run("users", "create", "bob@example.com", "--password", PASSWORD, "--role", "ghost")
    failed(result, 1, "no role named 'ghost'", "authgate roles create ghost")
    auth = open_auth(db_url)
    assert auth.users.get_user("bob@example.com") is None
    assert auth.users.find_role("ghost") is None  # typos do not create roles


def test_role_errors(run: Run) -> None:
    ok(run("roles", "create", "admin"))
    assert failed(run("roles", "create", "admin"), 1) == "error: role 'admin' already exists"
    assert failed(run("roles", "delete", "ghost"), 1) == "error: no role named 'ghost'"


@pytest.mark.parametrize("args", [["users", "list"], ["db", "upgrade"], ["db", "current"]])
def test_no_database_url(run: Run, args: list[str]) -> None:
    line = failed(run(*args, url=None), 2)
    assert "--database-url" in line
    assert "AUTHGATE_DATABASE_URL" in line


@pytest.mark.parametrize(
    "args", [["users", "list"], ["users", "show", "a@example.com"], ["db", "upgrade"]]
)
def test_unreachable_database(run: Run, args: list[str]) -> None:
    failed(run(*args, url=UNREACHABLE_URL), 1, "error: SERVICE_UNAVAILABLE: ")


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://host/db"])
def test_invalid_database_url(run: Run, url: str) -> None:
    failed(run("users", "list", url=url), 2, "error: invalid database URL")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["users", "list", "--bogus"], "No such option"),
        (["--bogus", "users", "list"], "No such option"),
        (["users", "create"], "Missing argument"),
        (["users", "frobnicate"], "No such command"),
        (["demo", "--port", "x"], "Invalid value"),
    ],
)
def test_usage_errors(run: Run, args: list[str], fragment: str) -> None:
    line = failed(run(*args), 2, fragment)
    assert line.startswith("error: ")
    assert "--help" in line


def test_no_command_prints_help(run: Run) -> None:
    result = run(url=None)
    assert result.exit_code == 2
    assert "Commands:" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_setting_in_environment(run: Run) -> None:
    result = run("users", "list", env={"AUTHGATE_ARGON2_MEMORY_COSTS": "1024"})
    failed(result, 2, "AUTHGATE_ARGON2_MEMORY_COSTS", "did you mean AUTHGATE_ARGON2_MEMORY_COST")


def test_invalid_setting_value_in_environment(run: Run) -> None:
    failed(run("users", "list", env={"AUTHGATE_ARGON2_TIME_COST": "many"}), 2, "argon2_time_cost")


@pytest.mark.parametrize("secret", [SECRET, f"{SECRET}-new,{SECRET}"], ids=["one", "rotated"])
def test_secret_from_environment(run: Run, secret: str) -> None:
    # AUTHGATE_SECRET, when set, goes through the settings (a comma list is a rotation).
    create(run, "alice@example.com")
    assert "alice@example.com" in ok(run("users", "list", env={"AUTHGATE_SECRET": secret}))


def test_unexpected_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Auth:
        raise RuntimeError("boom with a secret in it")

    group = make_cli(broken)
    runner = CliRunner()
    result = runner.invoke(group, ["users", "list"])
    line = failed(result, 1, "error: unexpected RuntimeError", "AUTHGATE_DEBUG")
    assert "secret" not in line

    result = runner.invoke(group, ["users", "list"], env={"AUTHGATE_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == "error: unexpected RuntimeError"


# -- reuse by the framework integrations -------------------------------------------------


@pytest.fixture
def memory_auth() -> Auth:
    return Auth(secret=SECRET, **FAST_SETTINGS)


def test_make_cli_uses_the_given_auth(memory_auth: Auth) -> None:
    calls: list[int] = []

    def get_auth() -> Auth:
        calls.append(1)
        return memory_auth

    group = make_cli(get_auth)
    assert "--database-url" not in [p for param in group.params for p in param.opts]
    runner = CliRunner()
    assert runner.invoke(group, ["--help"]).exit_code == 0
    assert calls == []  # help builds nothing

    ok(runner.invoke(group, ["roles", "create", "admin"]))
    out = ok(runner.invoke(group, ["users", "create", "alice@example.com", "--password",
                                   PASSWORD, "--role", "admin"]))  # fmt: skip
    assert out.startswith("created user alice@example.com")
    assert calls == [1, 1]  # once per invocation
    user = memory_auth.users.get_user("alice@example.com")
    assert user is not None
    assert user.role_names == ["admin"]
    assert "alice@example.com" in ok(runner.invoke(group, ["users", "list"]))
    # The caller's Auth is theirs: nothing here closes it.
    assert memory_auth.sign_in("alice@example.com", PASSWORD).token


def test_make_cli_mounted_in_a_host_cli(memory_auth: Auth) -> None:
    """As ``flask authgate ...`` does: the group is a subcommand of the host's CLI."""
    host = click.Group("host")
    host.add_command(make_cli(lambda: memory_auth), "authgate")
    runner = CliRunner()
    args = ["authgate", "users", "create", "a@example.com", "--password", PASSWORD]
    ok(runner.invoke(host, args))
    # The host runs click's own standalone mode; an AuthError is still one clear line.
    result = runner.invoke(host, ["authgate", "users", "create", "a@example.com"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: USER_EXISTS: An account with this email or username already exists."
    ]
    result = runner.invoke(host, ["authgate", "users", "show", "b@example.com"])
    assert result.exit_code == 1
    assert result.stderr == "Error: no user with email b@example.com\n"


def test_make_cli_db_commands_need_an_sql_store(memory_auth: Auth) -> None:
    result = CliRunner().invoke(make_cli(lambda: memory_auth), ["db", "upgrade"])
    failed(result, 1, "db commands need the SQLAlchemy store", "MemoryStore")


def test_make_cli_db_upgrade_on_the_given_auth(
    db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    auth = open_auth(db_url)  # create_tables migrates on start
    out = ok(CliRunner().invoke(make_cli(lambda: auth), ["db", "current"]))
    assert out.strip() == f"{migrate.head_revision()} (head)"
    out = ok(CliRunner().invoke(make_cli(lambda: auth), ["db", "upgrade"]))
    assert out.startswith("database already at revision")


# -- the real console script ---------------------------------------------------------------


def _entry_points() -> list[Any]:
    script = Path(sys.executable).with_name("authgate")
    return [
        pytest.param([sys.executable, "-m", "authgate.cli"], id="python-m"),
        # `make test` installs the package, console script included: a missing
        # script is a packaging bug, so it fails rather than skips.
        pytest.param([str(script)], id="console-script"),
    ]


@pytest.mark.parametrize("command", _entry_points())
def test_console_script(command: list[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(FAST_ENV, AUTHGATE_DATABASE_URL=url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    result = run("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database upgraded to revision")
    result = run("users", "create", "alice@example.com", "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created user alice@example.com (id ")
    result = run("users", "list")
    assert result.returncode == 0, result.stderr
    assert "\talice@example.com\t-\tactive\tconfirmed\t-" in result.stdout
    # A password piped to a prompt is read from stdin, with no getpass warnings.
    result = subprocess.run(
        [*command, "users", "set-password", "alice@example.com"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "password set for alice@example.com" in result.stdout
    assert NEW_PASSWORD not in result.stdout

    result = run("users", "create", "alice@example.com", "--password", PASSWORD)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: USER_EXISTS: An account with this email or username already exists."
    ]
    result = subprocess.run(
        [*command, "users", "list"],
        env={**env, "AUTHGATE_DATABASE_URL": UNREACHABLE_URL},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: SERVICE_UNAVAILABLE")


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database ``authgate_cli_test`` on the PostgreSQL server, dropped after."""
    admin = sa.create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(
                    f'DROP DATABASE IF EXISTS "{POSTGRES_TEST_DB}" WITH (FORCE)'
                )
                connection.exec_driver_sql(f'CREATE DATABASE "{POSTGRES_TEST_DB}"')
        except sa.exc.OperationalError as exc:
            service_unavailable("PostgreSQL", exc)  # fails under CI=true
        yield (
            sa.make_url(POSTGRES_ADMIN_URL)
            .set(database=POSTGRES_TEST_DB)
            .render_as_string(hide_password=False)
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{POSTGRES_TEST_DB}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_db_upgrade_on_postgres(
    run: Run, postgres_url: str, open_auth: Callable[[str], Auth]
) -> None:
    head = migrate.head_revision()
    assert ok(run("db", "current", url=postgres_url)).startswith("none (head is")
    out = ok(run("db", "upgrade", url=postgres_url))
    assert out == f"database upgraded to revision {head} (head)\n"
    assert ok(run("db", "current", url=postgres_url)) == f"{head} (head)\n"
    engine = sa.create_engine(postgres_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        assert {"authgate_users", "authgate_roles", migrate.VERSION_TABLE} <= tables
    finally:
        engine.dispose()
    create(run, "alice@example.com", url=postgres_url)
    user = open_auth(postgres_url).users.get_user("alice@example.com")
    assert user is not None
    assert user.is_active


def test_users_confirm(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    ok(run("users", "create", "a@example.com", "--password", "correct horse battery"))
    auth = open_auth(db_url)
    auth.store.update_user(auth.users.get_user("a@example.com").id, {"email_confirmed_at": None})
    assert "confirmed a@example.com" in ok(run("users", "confirm", "a@example.com"))
    assert open_auth(db_url).users.get_user("a@example.com").email_confirmed
    assert "already confirmed" in ok(run("users", "confirm", "a@example.com"))
    failed(run("users", "confirm", "nobody@example.com"), 1, "no user")


def test_users_invite_prints_the_invitation(run: Run, db_url: str) -> None:
    ok(run("users", "create", "admin@example.com", "--password", "correct horse battery"))
    out = ok(run("users", "invite", "new@example.com", "--by", "admin@example.com"))
    assert "invited new@example.com" in out
    assert "/auth/sign-up?token=" in out  # the console mailer printed the email
    failed(run("users", "invite", "admin@example.com"), 1, "USER_EXISTS")
    failed(run("users", "invite", "not-an-email"), 1, "VALIDATION_ERROR")


# -- audit -----------------------------------------------------------------------------------


def test_cli_actions_are_audited_as_cli(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    ok(run("roles", "create", "editor"))
    create(run, "alice@example.com", "--role", "editor")
    ok(run("users", "deactivate", "alice@example.com"))
    ok(run("users", "set-password", "alice@example.com", "--password", NEW_PASSWORD))
    ok(run("users", "remove-role", "alice@example.com", "editor"))
    ok(run("users", "delete", "alice@example.com", "--yes"))
    events = open_auth(db_url).audit.events(limit=100)[::-1]
    assert [(e.kind, e.actor) for e in events] == [
        ("role_create", "cli"), ("user_create", "cli"), ("user_deactivate", "cli"),
        ("password_change", "cli"), ("role_remove", "cli"), ("account_delete", "cli"),
    ]  # fmt: skip


def _audited_alice(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> Auth:
    create(run, "alice@example.com")
    create(run, "bob@example.com")
    auth = open_auth(db_url)
    auth.sign_in("alice@example.com", PASSWORD, ip="203.0.113.5", user_agent="Phone/1.0")
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", "wrong password", ip="203.0.113.6")
    return auth


def test_audit_list(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    auth = _audited_alice(run, db_url, open_auth)
    alice_id = str(auth.users.get_user("alice@example.com").id)
    lines = ok(run("audit", "list", "--user", "alice@example.com")).splitlines()
    fields = [line.split("\t") for line in lines]
    assert [(f[1], f[2], f[4]) for f in fields] == [
        ("sign_in", "failure", "user"), ("sign_in", "success", "user"), ("user_create", "success", "cli"),
    ]  # fmt: skip
    assert (
        fields[0][3] == alice_id
        and fields[0][5] == "203.0.113.6"
        and fields[0][7] == "reason=password"
    )
    assert fields[1][6] == "Phone/1.0" and fields[1][7] == "factor=password"
    assert all(len(f) == 8 for f in fields)
    assert PASSWORD not in "\n".join(lines) and "wrong password" not in "\n".join(lines)

    data = json.loads(ok(run("audit", "list", "--user", alice_id, "--kind", "sign_in", "--json")))
    assert [(e["kind"], e["outcome"]) for e in data] == [
        ("sign_in", "failure"),
        ("sign_in", "success"),
    ]
    assert set(data[0]) == {
        "id",
        "kind",
        "at",
        "outcome",
        "user_id",
        "actor",
        "ip",
        "user_agent",
        "details",
    }
    assert len(ok(run("audit", "list", "--limit", "2")).splitlines()) == 2
    assert len(ok(run("audit", "list")).splitlines()) == 4  # bob's creation too
    assert (
        ok(run("audit", "list", "--since", "1d", "--kind", "user_create")).count("user_create") == 2
    )
    assert ok(run("audit", "list", "--before", "2000-01-01")) == ""
    assert ok(run("audit", "list", "--since", "2999-01-01T00:00:00+02:00")) == ""
    # The id of a deleted user still finds their events.
    ok(run("users", "delete", "alice@example.com", "--yes"))
    assert "account_delete" in ok(run("audit", "list", "--user", alice_id))


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--since", "yesterday"], 2, "neither an age"),
        (["--before", "7x"], 2, "neither an age"),
        (["--since", "99999999d"], 2, "neither an age"),
        (["--kind", "sign_inn"], 2, "Invalid value"),
        (["--limit", "0"], 2, "Invalid value"),
        (["--user", "nobody@example.com"], 1, "no user with email nobody@example.com"),
    ],
)
def test_audit_list_errors(run: Run, args: list[str], code: int, fragment: str) -> None:
    failed(run("audit", "list", *args), code, fragment)


def test_audit_purge(run: Run, db_url: str, open_auth: Callable[[str], Auth]) -> None:
    clock = [dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=100)]
    # No retention in this Auth: its own hourly purge would delete the old event first.
    old = Auth(secret=SECRET, database_url=db_url, clock=lambda: clock[0], audit_retention=None,
               **FAST_SETTINGS)  # fmt: skip
    old.sign_up("alice@example.com", PASSWORD)  # 100 days ago
    clock[0] += dt.timedelta(days=95)
    old.sign_in("alice@example.com", PASSWORD)  # 5 days ago
    old.store.close()
    assert ok(run("audit", "purge")) == "purged 1 security event\n"  # past the 90 days
    assert ok(run("audit", "purge")) == "purged 0 security events\n"
    assert ok(run("audit", "purge", "--older-than", "1d")) == "purged 1 security event\n"
    assert open_auth(db_url).audit.events() == []
    failed(run("audit", "purge", "--older-than", "soon"), 2, "not an age")
    failed(run("audit", "purge", env={"AUTHGATE_AUDIT_RETENTION": "none"}), 1,
           "audit_retention is off")  # fmt: skip
    assert "purged 0" in ok(run("audit", "purge", "--older-than", "12h",
                                env={"AUTHGATE_AUDIT_RETENTION": "none"}))  # fmt: skip


def test_audit_commands_on_a_mounted_group(memory_auth: Auth) -> None:
    memory_auth.sign_up("alice@example.com", PASSWORD)
    runner = CliRunner()
    out = ok(runner.invoke(make_cli(lambda: memory_auth), ["audit", "list"]))
    assert "\tsign_up\tsuccess\t" in out


# -- mail: the notice outbox ------------------------------------------------------------


def _waiting_notice(url: str, email: str = "alice@example.com") -> Auth:
    """A password change whose notice was never sent (its process stopped), two minutes ago."""
    past = Auth(secret=SECRET, database_url=url, send_email=lambda message: None,
                clock=lambda: dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2),
                **FAST_SETTINGS)  # fmt: skip
    user = past.sign_up(email, PASSWORD).user
    past.outbox.deliver = lambda *args, **kwargs: None  # type: ignore[method-assign]
    past.change_password(user, PASSWORD, NEW_PASSWORD)
    past.close()
    return past


def test_mail_outbox_lists_waiting_notices(run: Run, db_url: str) -> None:
    ok(run("db", "upgrade"))
    assert ok(run("mail", "outbox")) == ""
    _waiting_notice(db_url)
    [line] = ok(run("mail", "outbox")).splitlines()
    due, kind, user_id, attempts, notice_id = line.split("\t")
    assert (kind, attempts) == ("password_changed", "0") and len(notice_id) == 36
    assert dt.datetime.fromisoformat(due) < dt.datetime.now(dt.timezone.utc)  # due a minute ago
    [row] = json.loads(ok(run("mail", "outbox", "--json")))
    assert set(row) == {"id", "kind", "user_id", "attempts", "created_at", "next_attempt_at"}
    assert row["user_id"] == user_id and "text" not in row


def test_mail_flush_outbox_needs_a_real_mailer(run: Run, db_url: str) -> None:
    ok(run("db", "upgrade"))
    _waiting_notice(db_url)
    failed(run("mail", "flush-outbox"), 1, "no mailer here", "--smtp-url")
    failed(run("mail", "flush-outbox", "--smtp-url", "ftp://user:hunter2@host"), 2,
           "--smtp-url", "scheme")  # fmt: skip
    assert "hunter2" not in run("mail", "flush-outbox", "--smtp-url", "ftp://u:hunter2@h").output
    assert len(ok(run("mail", "outbox")).splitlines()) == 1  # nothing was dropped


def test_mail_flush_outbox_through_smtp(run: Run, db_url: str, smtp_servers: Any) -> None:
    server = smtp_servers.start()
    ok(run("db", "upgrade"))
    _waiting_notice(db_url)
    _waiting_notice(db_url, "bob@example.com")
    out = ok(run("mail", "flush-outbox", "--smtp-url",
                 f"smtp://{server.host}:{server.port}?sender=auth@app.example"))  # fmt: skip
    assert out.startswith("sent 2, failed 0")
    assert sorted(r.rcpt_tos[0] for r in server.received) == ["alice@example.com",
                                                              "bob@example.com"]  # fmt: skip
    assert ok(run("mail", "outbox")) == ""
    assert ok(run("mail", "flush-outbox", "--smtp-url",
                  f"smtp://{server.host}:{server.port}")).startswith("sent 0")  # fmt: skip
    assert len(server.received) == 2


def test_mail_flush_outbox_on_a_mounted_group(tmp_path: Path) -> None:
    from authgate.testing import OutboxMailer

    url = f"sqlite:///{tmp_path / 'app.db'}"
    mailer = OutboxMailer(fail=True)
    auth = Auth(secret=SECRET, database_url=url, send_email=mailer, **FAST_SETTINGS)
    _waiting_notice(url)  # after this Auth started: its dispatcher does not know of it
    try:
        group, runner = make_cli(lambda: auth), CliRunner()
        result = runner.invoke(group, ["mail", "flush-outbox"])
        assert result.exit_code == 1 and result.stdout.startswith("sent 0, failed 1")
        assert "some notices could not be sent" in result.stderr
        auth.outbox.close()  # the app's dispatcher would resend it later: not in this test
        mailer.fail = False
        assert ok(runner.invoke(group, ["mail", "flush-outbox"])).startswith("sent 0, failed 0")
        [waiting] = auth.outbox.pending()  # sent again one retry delay after the failure
        assert waiting.attempts == 1
    finally:
        auth.close()
# -- keys generate and api-keys (SPEC §10) ----------------------------------------------


def test_keys_generate_prints_a_usable_private_key(run: Run) -> None:
    pem = ok(run("keys", "generate", url=None))
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert load_key(pem, "EdDSA").private is not None
    es = ok(run("keys", "generate", "--algorithm", "ES256", "--format", "jwk", url=None))
    jwk = json.loads(es)
    assert jwk["crv"] == "P-256" and jwk["d"] and jwk["kid"] == load_key(es, "ES256").kid
    hs = json.loads(ok(run("keys", "generate", "-a", "HS256", url=None)))
    assert hs["kty"] == "oct" and len(hs["k"]) >= 43
    failed(run("keys", "generate", "-a", "HS256", "-f", "pem", url=None), 1, "use --format jwk")
    failed(run("keys", "generate", "-a", "RS256", url=None), 2, "RS256")


def test_keys_generate_writes_a_private_file(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "jwt.pem"
    result = run("keys", "generate", "--output", str(path), url=None)
    assert ok(result) == ""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    auth = Auth("s" * 32, jwt_access_tokens=True, jwt_keys=[str(path)])
    assert auth.jwks()["keys"][0]["kid"] == load_key(path.read_text(), "EdDSA").kid
    failed(run("keys", "generate", "--output", str(path), url=None), 1, "exists already")


def test_api_keys_create_list_revoke(
    run: Run, db_url: str, open_auth: Callable[[str], Auth]
) -> None:
    create(run)
    out = run("api-keys", "create", "alice@example.com", "deploy", "--scope", "read:reports",
              "--scope", "write:reports", "--expires-in", "30d", "--allow-ip", "10.0.0.0/8")  # fmt: skip
    key = ok(out).strip()
    assert key.startswith("ag_") and len(key) == 46
    assert "not shown again" in out.stderr
    auth = open_auth(db_url)
    assert auth.verify_api_key(key, ip="10.0.0.1").email == "alice@example.com"
    listed = json.loads(ok(run("api-keys", "list", "alice@example.com", "--json")))
    assert [k["name"] for k in listed] == ["deploy"]
    assert listed[0]["scopes"] == ["read:reports", "write:reports"]
    assert listed[0]["allowed_ips"] == ["10.0.0.0/8"] and listed[0]["expires_at"]
    text = ok(run("api-keys", "list", "alice@example.com"))
    assert listed[0]["id"] in text and key not in text
    assert ok(run("api-keys", "revoke", listed[0]["id"])).strip() == (
        f"revoked API key {listed[0]['id']}"
    )
    assert auth.verify_api_key(key, ip="10.0.0.1") is None
    events = auth.audit.events(kinds=["api_key_create", "api_key_revoke"])
    assert {e.actor for e in events} == {"cli"}


def test_api_keys_errors(run: Run) -> None:
    create(run)
    failed(run("api-keys", "create", "nobody@example.com", "x"), 1, "no user")
    failed(run("api-keys", "create", "alice@example.com", "x", "--expires-in", "soon"), 2,
           "duration")  # fmt: skip
    failed(run("api-keys", "create", "alice@example.com", "x", "--scope", "a b"), 1, "scope")
    failed(run("api-keys", "revoke", "nope"), 1, "no API key with id nope")
    failed(run("api-keys", "list", "nobody@example.com"), 1, "no user")


# -- reset-two-factor ----------------------------------------------------------------------


def test_users_reset_two_factor(run: Run, db_url: str) -> None:
    import pyotp

    from authgate import TwoFactorRequired

    create(run)
    auth = Auth(secret=SECRET, database_url=db_url, two_factor=True, **FAST_SETTINGS)
    try:
        user = auth.users.get_user("alice@example.com")
        setup = auth.totp_setup(user)
        auth.totp_enable(user, pyotp.TOTP(setup["secret"]).now())
        with pytest.raises(TwoFactorRequired):
            auth.sign_in("alice@example.com", PASSWORD)
        out = ok(run("users", "reset-two-factor", "alice@example.com",
                     env={"AUTHGATE_SECRET": SECRET}))  # fmt: skip
        assert out.splitlines()[-1] == "two-step verification reset for alice@example.com"
        assert auth.sign_in("alice@example.com", PASSWORD).token  # the password alone again
        events = auth.audit.events(user, kinds="two_factor_reset")
        assert events and events[0].actor == "cli"
    finally:
        auth.close()
    failed(run("users", "reset-two-factor", "nobody@example.com"), 1, "no user")


@pytest.mark.parametrize("keep", [False, True])
def test_users_reset_two_factor_removes_lost_passkeys(run: Run, db_url: str, keep: bool) -> None:
    """A passkey used as the second factor went with the lost phone: the rescue removes it too
    (unless ``--keep-passkeys``), so the password alone signs in again."""
    from authgate import TwoFactorRequired
    from tests.passkeys.authenticator import Authenticator

    create(run)
    origin = "https://app.example"
    auth = Auth(secret=SECRET, database_url=db_url, two_factor=True, passkeys=True,
                base_url=origin, **FAST_SETTINGS)  # fmt: skip
    try:
        user = auth.users.get_user("alice@example.com")
        token = auth.sign_in("alice@example.com", PASSWORD).token
        options = auth.passkey_registration_options(user, token=token)
        answer = Authenticator(origin).create(options.to_dict())
        auth.register_passkey(user, answer, options.state, name="Phone", token=token)
        with pytest.raises(TwoFactorRequired) as raised:  # the passkey is her second factor
            auth.sign_in("alice@example.com", PASSWORD)
        assert "passkey" in raised.value.methods
        args = ["users", "reset-two-factor", "alice@example.com"]
        out = ok(run(*args, *(["--keep-passkeys"] if keep else []),
                     env={"AUTHGATE_SECRET": SECRET}))  # fmt: skip
        names = [p.name for p in auth.list_passkeys(user)]
        if keep:
            assert names == ["Phone"]
            assert out.splitlines()[-1] == "two-step verification reset for alice@example.com"
            with pytest.raises(TwoFactorRequired):
                auth.sign_in("alice@example.com", PASSWORD)
        else:
            assert names == [] and out.splitlines()[-1] == "1 passkey removed"
            assert auth.sign_in("alice@example.com", PASSWORD).token
            events = auth.audit.events(user, kinds="passkey_delete")
            assert events and events[0].actor == "cli"
    finally:
        auth.close()
