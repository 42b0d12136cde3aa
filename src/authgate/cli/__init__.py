"""The ``authgate`` command line: users, roles, the audit trail, the notice outbox and the
schema (SPEC §8).

Usage::

    export AUTHGATE_DATABASE_URL=sqlite:///auth.db
    authgate db upgrade
    authgate roles create admin --description "Full access"
    authgate users create admin@example.com --role admin     # prompts for the password
    authgate users list
    authgate audit list --user admin@example.com --since 7d
    authgate mail outbox                                     # notices waiting to be sent

The database comes from ``--database-url URL`` or ``AUTHGATE_DATABASE_URL``;
any other ``AUTHGATE_<NAME>`` environment variable is read as a setting (an
unknown one is an error naming the closest valid name). ``AUTHGATE_SECRET``
is optional: the command line signs nothing that outlives the process, so a
random secret is used when it is not set.

Every failure ends with exactly one line on stderr (``error: ...``) and a
non-zero exit status: 1 when the operation failed, 2 for a usage or
configuration error. Set ``AUTHGATE_DEBUG=1`` to also see the traceback of an
unexpected error.

One module per command group: :mod:`~authgate.cli.users`,
:mod:`~authgate.cli.roles`, :mod:`~authgate.cli.db`, :mod:`~authgate.cli.audit`,
:mod:`~authgate.cli.mail` and :mod:`~authgate.cli.demo`, over :mod:`~authgate.cli.base` (errors, the
per-invocation ``Auth``, output helpers); :mod:`~authgate.cli.app` assembles
them. Framework integrations mount the same commands with their own
:class:`~authgate.Auth` through :func:`make_cli`::

    app.cli.add_command(make_cli(lambda: current_app.extensions["authgate"]), "authgate")
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from authgate.cli.app import make_cli
from authgate.cli.base import AuthGateGroup, CommandError, ConfigError
from authgate.cli.demo import demo

__all__ = ["AuthGateGroup", "CommandError", "ConfigError", "cli", "main", "make_cli"]

#: The standalone ``authgate`` program: :func:`make_cli`'s commands plus ``demo``.
cli: AuthGateGroup = make_cli()
cli.add_command(demo)


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
