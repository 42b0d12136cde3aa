"""What every ``authgate`` command group shares: errors, the per-invocation ``Auth``, output.

Every failure ends with exactly one line on stderr (``error: ...``) and a
non-zero exit status: 1 when the operation failed, 2 for a usage or
configuration error. Set ``AUTHGATE_DEBUG=1`` to also see the traceback of an
unexpected error.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import click
import sqlalchemy.exc

from authgate.auth import Auth
from authgate.errors import AuthError, ServiceUnavailable, ValidationError
from authgate.settings import InsecureSettingWarning, Settings
from authgate.users import UserAdmin

__all__ = [
    "CONTEXT_SETTINGS",
    "RUNTIME_KEY",
    "AuthGateGroup",
    "CommandError",
    "ConfigError",
    "Runtime",
    "admin",
    "current_auth",
    "find_user",
    "json_option",
    "json_value",
    "one_line",
    "runtime",
    "text_value",
]

logger = logging.getLogger("authgate.cli")

#: Key of the per-invocation state in ``click.Context.meta`` (shared by nested
#: contexts, and namespaced so it cannot clash with a host CLI such as Flask's).
RUNTIME_KEY = "authgate.runtime"

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

_TRUTHY = frozenset({"1", "true", "yes", "on"})

#: ``--json`` on the listing commands.
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


# -- errors ---------------------------------------------------------------------


class CommandError(click.ClickException):
    """The operation failed (exit status 1); the message is one line."""

    exit_code = 1


class ConfigError(click.ClickException):
    """The command line or the configuration is wrong (exit status 2)."""

    exit_code = 2


def one_line(text: str) -> str:
    """Collapse whitespace so that a message can never span several lines."""
    return " ".join(str(text).split())


def _describe_auth_error(exc: AuthError) -> str:
    """``CODE: message`` plus, for validation errors, the failing fields and reasons."""
    text = f"{exc.code}: {exc.message}"
    if isinstance(exc, ValidationError) and exc.fields:
        reasons = ", ".join(f"{name}={reason}" for name, reason in exc.fields.items())
        text = f"{text} [{reasons}]"
    return one_line(text)


def _translate(exc: Exception) -> click.ClickException | None:
    """The command-line error for a known failure, or ``None`` for an unexpected one."""
    if isinstance(exc, AuthError):
        return CommandError(_describe_auth_error(exc))
    if isinstance(exc, sqlalchemy.exc.NoSuchModuleError):
        # "Can't load plugin: sqlalchemy.dialects:foo" names no credentials.
        return ConfigError(f"invalid database URL: {one_line(str(exc))}")
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


class Runtime:
    """Builds the :class:`Auth` once per invocation, on first use, and releases it.

    Args:
        get_auth: returns the host's ``Auth`` (framework integrations); ``None``
            builds one from ``database_url`` and the ``AUTHGATE_*`` environment.
        database_url: the standalone program's ``--database-url``.
    """

    def __init__(
        self, get_auth: Callable[[], Auth] | None = None, database_url: str | None = None
    ) -> None:
        self._get_auth = get_auth
        self.database_url = database_url or None
        self._auth: Auth | None = None

    @property
    def standalone(self) -> bool:
        """Whether this invocation builds (and owns) its ``Auth``."""
        return self._get_auth is None

    def require_url(self) -> str:
        """The database URL, or a configuration error saying how to give one."""
        if self.database_url is None:
            raise ConfigError(
                "no database URL: pass --database-url URL (before the command) "
                "or set AUTHGATE_DATABASE_URL"
            )
        return self.database_url

    def auth(self) -> Auth:
        """The ``Auth`` of this invocation (built on first use)."""
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
            raise ConfigError(f"configuration: {one_line(str(exc))}") from exc
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        try:
            with warnings.catch_warnings():
                # An admin command sends no links: the app's own set-up warns about these.
                warnings.filterwarnings("ignore", "base_url is not set", InsecureSettingWarning)
                return Auth(**values)
        except ImportError as exc:  # the database driver is missing; the message names the extra
            raise CommandError(one_line(str(exc))) from exc

    def close(self) -> None:
        """Release the connections of an :class:`Auth` built here (never a host's)."""
        if self._auth is None or not self.standalone:
            return
        try:
            self._auth.audit.wait()
            self._auth.close()
        except Exception:
            logger.debug("closing the authgate store failed", exc_info=True)
        self._auth = None


def runtime() -> Runtime:
    """The state of the running invocation."""
    state = click.get_current_context().meta.get(RUNTIME_KEY)
    if not isinstance(state, Runtime):
        raise RuntimeError("authgate commands must run inside the group built by make_cli()")
    return state


def current_auth() -> Auth:
    """The ``Auth`` the running command works on."""
    return runtime().auth()


def admin(auth: Auth) -> UserAdmin:
    """``auth.users`` acting for the command line: its changes are audited with actor ``cli``."""
    return auth.users.acting_as("cli")


def find_user(auth: Auth, email_or_id: str) -> Any:
    """The user by email (or id), or a one-line "no user" error."""
    user = auth.users.get_user(email_or_id)
    if user is None:
        kind = "email" if "@" in email_or_id else "id"
        raise CommandError(f"no user with {kind} {email_or_id}")
    return user


def json_value(value: Any) -> Any:
    """A value as JSON shows it (datetimes in ISO 8601)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def text_value(value: Any) -> str:
    """A value as the text output shows it (``-`` for nothing, ``yes``/``no``)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


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
    click.echo(f"error: {one_line(message)}", err=True)


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
