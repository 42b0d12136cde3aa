"""Assembly of the ``authgate`` command group: :func:`make_cli`.

Framework integrations import :func:`make_cli` from here to mount the
commands on their own :class:`~authgate.Auth`. The standalone program
(:data:`authgate.cli.cli`) adds the ``demo`` command on top; it lives in
:mod:`authgate.cli.demo` so that mounting the commands never reaches the
demo app (which is built on the Flask integration).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from authgate import __version__
from authgate.auth import Auth
from authgate.cli.api_keys import api_keys_group
from authgate.cli.audit import audit_group
from authgate.cli.base import CONTEXT_SETTINGS, RUNTIME_KEY, AuthGateGroup, Runtime
from authgate.cli.db import db_group
from authgate.cli.importing import import_command
from authgate.cli.keys import keys_group
from authgate.cli.mail import mail_group
from authgate.cli.roles import roles_group
from authgate.cli.users import users_group

__all__ = ["make_cli"]


def make_cli(get_auth: Callable[[], Auth] | None = None) -> AuthGateGroup:
    """Build the ``authgate`` command group.

    Args:
        get_auth: returns the :class:`~authgate.Auth` the commands work on;
            called once per invocation, on first use (so ``--help`` needs no
            database). Framework integrations pass their own. When ``None``,
            the group takes ``--database-url`` (or ``AUTHGATE_DATABASE_URL``)
            and builds an ``Auth`` from the ``AUTHGATE_*`` environment, as the
            standalone program does.

    Returns:
        A fresh group with the ``users``, ``roles``, ``db``, ``audit``, ``mail``,
        ``api-keys`` and ``keys`` subgroups and the ``import`` command; the caller may add or
        remove commands without affecting other groups.

    Examples:
        Flask::

            app.cli.add_command(make_cli(lambda: app.extensions["authgate"]), "authgate")

        Django (a management command)::

            make_cli(get_auth).run(argv, prog_name="manage.py authgate")
    """
    group: AuthGateGroup
    if get_auth is None:

        @click.group(cls=AuthGateGroup, name="authgate", context_settings=CONTEXT_SETTINGS)
        @click.option(
            "--database-url",
            metavar="URL",
            envvar="AUTHGATE_DATABASE_URL",
            help="SQLAlchemy database URL, e.g. sqlite:///auth.db [env: AUTHGATE_DATABASE_URL].",
        )
        @click.version_option(__version__, "--version", prog_name="authgate")
        @click.pass_context
        def standalone(ctx: click.Context, database_url: str | None) -> None:
            """Manage authgate users, roles, the audit trail, the notice outbox and the schema."""
            state = Runtime(database_url=database_url)
            ctx.meta[RUNTIME_KEY] = state
            ctx.call_on_close(state.close)

        group = standalone
    else:
        provider = get_auth

        @click.group(cls=AuthGateGroup, name="authgate", context_settings=CONTEXT_SETTINGS)
        @click.pass_context
        def mounted(ctx: click.Context) -> None:
            """Manage authgate users, roles, the audit trail, the notice outbox and the schema."""
            ctx.meta[RUNTIME_KEY] = Runtime(get_auth=provider)

        group = mounted
    subgroups = (users_group(), roles_group(), db_group(), audit_group(), mail_group(),
                 api_keys_group(), keys_group())  # fmt: skip
    for subgroup in subgroups:
        group.add_command(subgroup)
    group.add_command(import_command)
    return group
