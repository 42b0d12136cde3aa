"""``authgate import SOURCE --from URL``: bring users over from another library."""

from __future__ import annotations

import sys
from typing import Any

import click

from authgate.cli.base import CommandError, ConfigError, current_auth, one_line
from authgate.importers import SOURCES, SourceError, count_users, import_from

__all__ = ["import_command"]

#: From this many users on, a progress bar is shown.
PROGRESS_FROM = 1000


def _tables(values: tuple[str, ...]) -> dict[str, str]:
    tables: dict[str, str] = {}
    for value in values:
        key, sep, name = value.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise ConfigError(f"--table takes KIND=NAME (e.g. users=accounts_user), got {value!r}")
        tables[key.strip()] = name.strip()
    return tables


@click.command("import")
@click.argument("system", type=click.Choice(sorted(SOURCES)), metavar="SYSTEM")
@click.option(
    "--from",
    "url",
    required=True,
    metavar="URL",
    help="The other system's database (SQLAlchemy URL), e.g. sqlite:///old.db.",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="KIND=NAME",
    help="A renamed table, e.g. users=accounts_user (repeatable).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Users read per query.")  # fmt: skip
def import_command(system: str, url: str, tables: tuple[str, ...], batch_size: int) -> None:
    """Import the users of SYSTEM (flask-security, flask-user, django, fastapi-users,
    auth101) with their hashes, flags, usernames, roles and extra addresses.

    Old passwords keep working (rehashed at the next sign-in); running it
    again imports nothing twice; what cannot be carried is reported.
    """
    renamed = _tables(tables)
    auth = current_auth()
    try:
        total = count_users(system, url, renamed)
        if total >= PROGRESS_FROM:
            bar: Any = click.progressbar(
                length=total,
                label=f"importing {system} users",
                file=sys.stderr,
            )
            with bar:
                report = import_from(auth, system, url, batch=batch_size, progress=bar.update,
                                     tables=renamed)  # fmt: skip
        else:
            report = import_from(auth, system, url, batch=batch_size, tables=renamed)
    except SourceError as exc:
        raise CommandError(one_line(str(exc))) from None
    except TypeError as exc:  # a --table kind the source does not have
        raise ConfigError(one_line(f"--table: {exc}")) from None
    for line in report.lines():
        click.echo(line)
