"""The ``authgate`` command line: users, roles and the database schema (SPEC §8).

Usage::

    export AUTHGATE_DATABASE_URL=sqlite:///auth.db
    authgate db upgrade
    authgate roles create admin --description "Full access"
    authgate users create admin@example.com --role admin     # prompts for the password
    authgate users list

The database comes from ``--database-url URL`` or ``AUTHGATE_DATABASE_URL``;
any other ``AUTHGATE_<NAME>`` environment variable is read as a setting (an
unknown one is an error naming the closest valid name). ``AUTHGATE_SECRET``
is optional: the command line signs nothing that outlives the process, so a
random secret is used when it is not set.

Every failure ends with exactly one line on stderr (``error: ...``) and a
non-zero exit status: 1 when the operation failed, 2 for a usage or
configuration error. Set ``AUTHGATE_DEBUG=1`` to also see the traceback of an
unexpected error.

Framework integrations mount the same commands with their own
:class:`~authgate.Auth` through :func:`make_cli`::

    app.cli.add_command(make_cli(lambda: current_app.extensions["authgate"]), "authgate")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy.exc

from authgate import __version__
from authgate.auth import Auth
from authgate.errors import AuthError, ServiceUnavailable, UserExists, ValidationError
from authgate.flows.validation import valid_email
from authgate.models import Role, User, serialize_user
from authgate.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["AuthGateGroup", "CommandError", "ConfigError", "cli", "main", "make_cli"]

logger = logging.getLogger(__name__)

#: Key of the per-invocation state in ``click.Context.meta`` (shared by nested
#: contexts, and namespaced so it cannot clash with a host CLI such as Flask's).
_RUNTIME_KEY = "authgate.runtime"

#: Users fetched per query by ``users list`` (keeps memory flat on big tables).
_PAGE_SIZE = 500

_CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

_TRUTHY = frozenset({"1", "true", "yes", "on"})


# -- errors ---------------------------------------------------------------------


class CommandError(click.ClickException):
    """The operation failed (exit status 1); the message is one line."""

    exit_code = 1


class ConfigError(click.ClickException):
    """The command line or the configuration is wrong (exit status 2)."""

    exit_code = 2


def _one_line(text: str) -> str:
    """Collapse whitespace so that a message can never span several lines."""
    return " ".join(str(text).split())


def _describe_auth_error(exc: AuthError) -> str:
    """``CODE: message`` plus, for validation errors, the failing fields and reasons."""
    text = f"{exc.code}: {exc.message}"
    if isinstance(exc, ValidationError) and exc.fields:
        reasons = ", ".join(f"{name}={reason}" for name, reason in exc.fields.items())
        text = f"{text} [{reasons}]"
    return _one_line(text)


def _translate(exc: Exception) -> click.ClickException | None:
    """The command-line error for a known failure, or ``None`` for an unexpected one."""
    if isinstance(exc, AuthError):
        return CommandError(_describe_auth_error(exc))
    if isinstance(exc, sqlalchemy.exc.NoSuchModuleError):
        # "Can't load plugin: sqlalchemy.dialects:foo" names no credentials.
        return ConfigError(f"invalid database URL: {_one_line(str(exc))}")
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        # Never echo the URL back: it may hold a password.
        return ConfigError(
            "invalid database URL (expected e.g. sqlite:///auth.db or "
            "postgresql+psycopg://user:password@host/dbname)"
        )
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        # Stores report an unreachable backend as ServiceUnavailable; this
        # catches the paths that talk to the database directly (migrations).
        return CommandError(_describe_auth_error(ServiceUnavailable()))
    return None


def _debug_enabled() -> bool:
    return os.environ.get("AUTHGATE_DEBUG", "").strip().lower() in _TRUTHY


# -- per-invocation state -----------------------------------------------------------


class _Runtime:
    """Builds the :class:`Auth` once per invocation, on first use, and releases it."""

    def __init__(
        self, get_auth: Callable[[], Auth] | None = None, database_url: str | None = None
    ) -> None:
        self._get_auth = get_auth
        self.database_url = database_url or None
        self._auth: Auth | None = None

    @property
    def standalone(self) -> bool:
        return self._get_auth is None

    def require_url(self) -> str:
        if self.database_url is None:
            raise ConfigError(
                "no database URL: pass --database-url URL (before the command) "
                "or set AUTHGATE_DATABASE_URL"
            )
        return self.database_url

    def auth(self) -> Auth:
        if self._auth is None:
            self._auth = self._get_auth() if self._get_auth is not None else self._build()
        return self._auth

    def _build(self) -> Auth:
        overrides: dict[str, Any] = {"database_url": self.require_url()}
        if not os.environ.get("AUTHGATE_SECRET"):
            # Nothing signed here outlives the process, so any strong secret will do.
            overrides["secret"] = secrets.token_urlsafe(32)
        try:
            settings = Settings.from_env(**overrides)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"configuration: {_one_line(str(exc))}") from exc
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        try:
            return Auth(**values)
        except ImportError as exc:  # the database driver is missing; the message names the extra
            raise CommandError(_one_line(str(exc))) from exc

    def close(self) -> None:
        """Release the connections of an :class:`Auth` built here (never a host's)."""
        if self._auth is None or not self.standalone:
            return
        try:
            self._auth.close()
        except Exception:
            logger.debug("closing the authgate store failed", exc_info=True)
        self._auth = None


def _runtime() -> _Runtime:
    runtime = click.get_current_context().meta.get(_RUNTIME_KEY)
    if not isinstance(runtime, _Runtime):
        raise RuntimeError("authgate commands must run inside the group built by make_cli()")
    return runtime


def _auth() -> Auth:
    return _runtime().auth()


def _find_user(auth: Auth, email_or_id: str) -> Any:
    """The user by email (or id), or a one-line "no user" error."""
    user = auth.users.get_user(email_or_id)
    if user is None:
        kind = "email" if "@" in email_or_id else "id"
        raise CommandError(f"no user with {kind} {email_or_id}")
    return user


def _require_role(auth: Auth, name: str) -> Any:
    role = auth.users.find_role(name)
    if role is None:
        raise CommandError(f"no role named {name!r}; create it with: authgate roles create {name}")
    return role


def _prompt_password(label: str) -> str:
    """Ask for a password twice: hidden on a terminal, read as lines from a pipe.

    When stdin is a pipe, ``getpass`` would read the terminal instead (or warn
    and fall back to the pipe); there is nothing to hide on a pipe, so it is
    read directly, which lets scripts do ``printf 'pw\\npw\\n' | authgate ...``.
    """
    stdin = sys.stdin
    piped = stdin is sys.__stdin__ and stdin is not None and not stdin.isatty()
    value: str = click.prompt(label, hide_input=not piped, confirmation_prompt=True)
    return value


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


#: Extra user attributes shown by ``users show`` when the model has them.
_SHOW_EXTRA = (
    "created_at",
    "password_changed_at",
    "last_sign_in_at",
    "last_sign_in_ip",
    "current_sign_in_at",
    "current_sign_in_ip",
    "sign_in_count",
)


def _user_details(user: Any) -> dict[str, Any]:
    data = dict(serialize_user(user))
    for name in _SHOW_EXTRA:
        if hasattr(user, name):
            data[name] = _json_value(getattr(user, name))
    return data


def _iter_users(auth: Auth) -> Iterator[Any]:
    offset = 0
    while True:
        page = auth.users.list_users(offset, _PAGE_SIZE)
        yield from page
        if len(page) < _PAGE_SIZE:
            return
        offset += len(page)


# -- the group class ------------------------------------------------------------------


class AuthGateGroup(click.Group):
    """A click group that reports every failure as one ``error: ...`` line.

    Inside the group, :class:`~authgate.AuthError` and database failures are
    turned into :class:`click.ClickException` (so a host CLI such as Flask's
    prints them as one line too). When the group runs as the program
    (:meth:`main` in standalone mode, or :meth:`run`), usage errors and
    unexpected exceptions are also reported in one line, never a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the subcommand, translating known failures into click errors."""
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            raise translated from exc

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run as a program; in standalone mode, exit with :meth:`run`'s status."""
        if not standalone_mode:
            return super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        sys.exit(
            self.run(
                args,
                prog_name,
                complete_var=complete_var,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        )

    def run(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> int:
        """Run the group with ``standalone_mode=False`` and report failures in one line.

        Args:
            args: the command-line arguments (default ``sys.argv[1:]``).
            prog_name: the program name shown in messages (e.g. ``"authgate"``).
            **extra: passed on to :meth:`click.Command.main`.

        Returns:
            The exit status: 0 success, 1 the operation failed, 2 usage or
            configuration error.
        """
        _configure_logging()
        try:
            rv = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2: the help text
                exc.show()
                return exc.exit_code
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _error(f"{exc.format_message()}{hint}", exc)
            return exc.exit_code
        except click.ClickException as exc:
            _error(exc.format_message(), exc)
            return exc.exit_code
        except click.Abort:
            click.echo("aborted", err=True)
            return 1
        except Exception as exc:
            translated = _translate(exc)
            if translated is not None:
                translated.__cause__ = exc
                _error(translated.format_message(), translated)
                return translated.exit_code
            if _debug_enabled():
                traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
                hint = ""
            else:
                hint = " (set AUTHGATE_DEBUG=1 to see the traceback)"
            click.echo(f"error: unexpected {type(exc).__name__}{hint}", err=True)
            return 1
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
        return 0


def _error(message: str, exc: BaseException) -> None:
    cause = exc.__cause__
    if _debug_enabled():
        if cause is not None:
            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
    elif isinstance(cause, ServiceUnavailable | sqlalchemy.exc.DBAPIError):
        message = f"{message} (set AUTHGATE_DEBUG=1 to see the cause)"
    click.echo(f"error: {_one_line(message)}", err=True)


def _configure_logging() -> None:
    """Keep log records off the terminal unless ``AUTHGATE_DEBUG`` asks for them.

    The stores log backend failures with their traceback for a server's
    operators. On the command line the one-line error says enough, and with no
    logging configured Python's last-resort handler would print those records
    (traceback included) to stderr. A host that configured logging keeps it.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    if _debug_enabled():
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return
    package = logging.getLogger("authgate")
    if not any(isinstance(h, logging.NullHandler) for h in package.handlers):
        package.addHandler(logging.NullHandler())


# -- users ----------------------------------------------------------------------------

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.command("create")
@click.argument("email")
@click.option(
    "--password",
    help="The password. Prompted for (hidden, twice) when omitted; prefer the prompt, "
    "as options end up in the shell history and the process list.",
)
@click.option("--username", help="The username (when usernames are in use).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    help="Give the user this existing role; repeat for several.",
)
@click.option("--inactive", is_flag=True, help="Create the user deactivated.")
def users_create(
    email: str, password: str | None, username: str | None, roles: tuple[str, ...], inactive: bool
) -> None:
    """Create a user, active (unless --inactive) and with a confirmed email."""
    auth = _auth()
    # Check what can be checked before asking for a password.
    if auth.users.get_user(valid_email(email)) is not None:
        raise UserExists()
    for role in roles:
        _require_role(auth, role)
    if password is None:
        password = _prompt_password("Password")
    user = auth.users.create_user(
        email=email,
        password=password,
        username=username,
        roles=list(roles),
        active=not inactive,
        confirmed=True,
    )
    click.echo(f"created user {user.email} (id {user.id})")


@click.command("list")
@_json_option
def users_list(as_json: bool) -> None:
    """List users: id, email, username, active, confirmed, roles (tab-separated)."""
    auth = _auth()
    if as_json:
        click.echo(json.dumps([serialize_user(u) for u in _iter_users(auth)], indent=2))
        return
    for user in _iter_users(auth):
        data = serialize_user(user)
        fields = [
            data["id"],
            data["email"],
            data["username"] or "-",
            "active" if data["is_active"] else "inactive",
            "confirmed" if data["email_confirmed"] else "unconfirmed",
            ",".join(data["roles"]) or "-",
        ]
        click.echo("\t".join(fields))


@click.command("show")
@click.argument("email")
@_json_option
def users_show(email: str, as_json: bool) -> None:
    """Show one user (by email or id), with creation and sign-in details."""
    details = _user_details(_find_user(_auth(), email))
    if as_json:
        click.echo(json.dumps(details, indent=2, default=str))
        return
    for key, value in details.items():
        click.echo(f"{key}: {_text_value(value)}")


def _change_user(email: str, method: str, done: str, already: str) -> None:
    """Run one ``auth.users`` change that answers whether it changed anything."""
    auth = _auth()
    user = _find_user(auth, email)
    changed = getattr(auth.users, method)(user)
    click.echo((done if changed else already).format(user.email))


@click.command("activate")
@click.argument("email")
def users_activate(email: str) -> None:
    """Activate a user."""
    _change_user(email, "activate_user", "activated user {}", "user {} was already active")


@click.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Deactivate a user and end all their sessions."""
    _change_user(email, "deactivate_user", "deactivated user {}", "user {} was already inactive")


@click.command("delete")
@click.argument("email")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def users_delete(email: str, yes: bool) -> None:
    """Delete a user with their sessions and role links."""
    auth = _auth()
    user = _find_user(auth, email)
    if not yes:
        click.confirm(f"Delete user {user.email} (id {user.id})?", abort=True)
    auth.users.delete_user(user)
    click.echo(f"deleted user {user.email}")


@click.command("set-password")
@click.argument("email")
@click.option(
    "--password",
    help="The new password. Prompted for (hidden, twice) when omitted; prefer the prompt.",
)
def users_set_password(email: str, password: str | None) -> None:
    """Set a user's password; every session of theirs ends."""
    auth = _auth()
    user = _find_user(auth, email)
    if password is None:
        password = _prompt_password("New password")
    auth.users.set_password(user, password)
    click.echo(f"password set for {user.email}; their sessions have ended")


@click.command("add-role")
@click.argument("email")
@click.argument("role")
def users_add_role(email: str, role: str) -> None:
    """Give a user an existing role."""
    auth = _auth()
    user = _find_user(auth, email)
    found = _require_role(auth, role)
    if auth.users.add_role_to_user(user, found):
        click.echo(f"added role {found.name} to {user.email}")
    else:
        click.echo(f"user {user.email} already has role {found.name}")


@click.command("remove-role")
@click.argument("email")
@click.argument("role")
def users_remove_role(email: str, role: str) -> None:
    """Take a role away from a user."""
    auth = _auth()
    user = _find_user(auth, email)
    found = _require_role(auth, role)
    if auth.users.remove_role_from_user(user, found):
        click.echo(f"removed role {found.name} from {user.email}")
    else:
        click.echo(f"user {user.email} does not have role {found.name}")


@click.command("confirm")
@click.argument("email")
def users_confirm(email: str) -> None:
    """Mark a user's email address confirmed."""
    _change_user(email, "confirm_user", "confirmed {}", "{} was already confirmed")


@click.command("invite")
@click.argument("email")
@click.option("--by", "invited_by", metavar="EMAIL", help="The inviting user (shown in the email).")
def users_invite(email: str, invited_by: str | None) -> None:
    """Invite EMAIL to sign up; the invitation goes out through the configured mailer."""
    auth = _auth()
    inviter = _find_user(auth, invited_by) if invited_by else None
    auth.invite(email, invited_by=inviter)
    auth.mail.flush()
    click.echo(f"invited {valid_email(email)}")


# -- roles ----------------------------------------------------------------------------


def _role_data(role: Any) -> dict[str, Any]:
    permissions = role.get_permissions() if hasattr(role, "get_permissions") else set()
    return {
        "name": role.name,
        "description": role.description,
        "permissions": sorted(permissions),
    }


@click.command("create")
@click.argument("name")
@click.option("--description", "-d", help="What the role is for.")
def roles_create(name: str, description: str | None) -> None:
    """Create a role."""
    auth = _auth()
    if auth.users.find_role(name.strip()) is not None:
        raise CommandError(f"role {name.strip()!r} already exists")
    role = auth.users.create_role(name, description)
    click.echo(f"created role {role.name}")


@click.command("list")
@_json_option
def roles_list(as_json: bool) -> None:
    """List roles: name, description, permissions (tab-separated)."""
    roles = [_role_data(r) for r in _auth().users.list_roles()]
    if as_json:
        click.echo(json.dumps(roles, indent=2))
        return
    for role in roles:
        fields = [role["name"], role["description"] or "-", ",".join(role["permissions"]) or "-"]
        click.echo("\t".join(_one_line(f) for f in fields))


@click.command("delete")
@click.argument("name")
def roles_delete(name: str) -> None:
    """Delete a role; users who had it lose it."""
    if not _auth().users.delete_role(name):
        raise CommandError(f"no role named {name!r}")
    click.echo(f"deleted role {name}")


# -- db -------------------------------------------------------------------------------


class _Database:
    """The engine the migrations run on: built from the URL, or the host Auth's."""

    def __init__(self, runtime: _Runtime) -> None:
        self._owned = runtime.standalone
        if self._owned:
            from authgate.stores.sqlalchemy.engine import make_engine

            try:
                self.engine: Engine = make_engine(runtime.require_url())
            except ImportError as exc:  # the driver is missing; the message names the extra
                raise CommandError(_one_line(str(exc))) from exc
            return
        auth = runtime.auth()
        engine = getattr(auth.store, "engine", None)
        if not isinstance(engine, sqlalchemy.Engine):
            raise CommandError(
                f"db commands need the SQLAlchemy store; this Auth uses {type(auth.store).__name__}"
            )
        if auth.User is not User or auth.Role is not Role:
            raise CommandError(
                "the app brings its own user and role models: its own migrations manage the schema"
            )
        self.engine = engine

    def __enter__(self) -> Engine:
        return self.engine

    def __exit__(self, *exc_info: object) -> None:
        if self._owned:
            self.engine.dispose()


@click.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply the shipped schema migrations to the database."""
    from authgate.stores.sqlalchemy import migrate

    with _Database(_runtime()) as engine:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision=revision)
        after = migrate.current_revision(engine)
        head = migrate.head_revision()
    label = f"{after} (head)" if after == head else str(after)
    if before == after:
        click.echo(f"database already at revision {label}")
    else:
        click.echo(f"database upgraded to revision {label}")


@click.command("current")
def db_current() -> None:
    """Show the database's schema revision."""
    from authgate.stores.sqlalchemy import migrate

    with _Database(_runtime()) as engine:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
    if current == head:
        click.echo(f"{current} (head)")
    else:
        click.echo(f"{current or 'none'} (head is {head}; run: authgate db upgrade)")


# -- assembly ---------------------------------------------------------------------------


def _subgroups() -> list[click.Group]:
    users = AuthGateGroup("users", help="Manage users.", context_settings=_CONTEXT_SETTINGS)
    for command in (
        users_create,
        users_list,
        users_show,
        users_activate,
        users_deactivate,
        users_delete,
        users_set_password,
        users_add_role,
        users_remove_role,
        users_confirm,
        users_invite,
    ):
        users.add_command(command)
    roles = AuthGateGroup("roles", help="Manage roles.", context_settings=_CONTEXT_SETTINGS)
    for command in (roles_create, roles_list, roles_delete):
        roles.add_command(command)
    db = AuthGateGroup("db", help="Manage the database schema.", context_settings=_CONTEXT_SETTINGS)
    db.add_command(db_upgrade)
    db.add_command(db_current)
    return [users, roles, db]


def make_cli(get_auth: Callable[[], Auth] | None = None) -> AuthGateGroup:
    """Build the ``authgate`` command group.

    Args:
        get_auth: returns the :class:`~authgate.Auth` the commands work on;
            called once per invocation, on first use (so ``--help`` needs no
            database). Framework integrations pass their own. When ``None``,
            the group is the standalone program: it takes ``--database-url``
            (or ``AUTHGATE_DATABASE_URL``) and builds an ``Auth`` from the
            ``AUTHGATE_*`` environment.

    Returns:
        A fresh group with the ``users``, ``roles`` and ``db`` subgroups; the
        caller may add or remove commands without affecting other groups.

    Examples:
        Flask::

            app.cli.add_command(make_cli(lambda: app.extensions["authgate"]), "authgate")

        Django (a management command)::

            make_cli(get_auth).run(argv, prog_name="manage.py authgate")
    """
    group: AuthGateGroup
    if get_auth is None:

        @click.group(cls=AuthGateGroup, name="authgate", context_settings=_CONTEXT_SETTINGS)
        @click.option(
            "--database-url",
            metavar="URL",
            envvar="AUTHGATE_DATABASE_URL",
            help="SQLAlchemy database URL, e.g. sqlite:///auth.db [env: AUTHGATE_DATABASE_URL].",
        )
        @click.version_option(__version__, "--version", prog_name="authgate")
        @click.pass_context
        def standalone(ctx: click.Context, database_url: str | None) -> None:
            """Manage authgate users, roles and the database schema."""
            runtime = _Runtime(database_url=database_url)
            ctx.meta[_RUNTIME_KEY] = runtime
            ctx.call_on_close(runtime.close)

        @standalone.command("demo")
        @click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
        @click.option("--port", default=8000, show_default=True, type=int, help="Port.")
        @click.option(
            "--dir", "directory", default=".authgate-demo", show_default=True,
            help="Folder for the demo's SQLite database and secret.",
        )  # fmt: skip
        def demo(host: str, port: int, directory: str) -> None:
            """Serve the demo app (SQLite, seeded admin, emails on the console)."""
            from authgate.demo import serve

            serve(host, port, directory)

        group = standalone
    else:
        provider = get_auth

        @click.group(cls=AuthGateGroup, name="authgate", context_settings=_CONTEXT_SETTINGS)
        @click.pass_context
        def mounted(ctx: click.Context) -> None:
            """Manage authgate users, roles and the database schema."""
            ctx.meta[_RUNTIME_KEY] = _Runtime(get_auth=provider)

        group = mounted
    for subgroup in _subgroups():
        group.add_command(subgroup)
    return group


#: The standalone ``authgate`` program.
cli: AuthGateGroup = make_cli()


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of the ``authgate`` console script.

    Args:
        args: the arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 success, 1 the operation failed, 2 usage error.
    """
    return cli.run(args, prog_name="authgate")


if __name__ == "__main__":
    sys.exit(main())
