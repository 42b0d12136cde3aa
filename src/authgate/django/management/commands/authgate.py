"""``python manage.py authgate ...``: authgate's command line on the project's ``Auth``.

The same commands as the standalone ``authgate`` program (``users create``,
``users list``, ``roles create``...; see ``manage.py authgate --help``),
working on the users of this Django project. ``db upgrade`` applies
authgate's Django migrations (``manage.py migrate authgate``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from typing import Any

import click
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from authgate.auth import Auth
from authgate.cli import AuthGateGroup, ConfigError, make_cli
from authgate.django import get_auth
from authgate.django.store import DjangoStore

APP_LABEL = "authgate"


def _auth() -> Auth:
    try:
        return get_auth()
    except ImproperlyConfigured as exc:
        raise ConfigError(str(exc)) from exc


def _django_store() -> DjangoStore:
    store = _auth().store
    if not isinstance(store, DjangoStore):
        raise ConfigError(
            "this project keeps authgate's users in AUTHGATE_DATABASE_URL, not in the Django "
            "database: manage that schema with the standalone `authgate db upgrade`"
        )
    return store


@click.command("upgrade")
def db_upgrade() -> None:
    """Apply authgate's Django migrations (like `manage.py migrate authgate`)."""
    store = _django_store()
    call_command("migrate", APP_LABEL, database=store.using, verbosity=0)
    click.echo(f"database {store.using!r} is up to date ({_state(store.using)})")


@click.command("current")
def db_current() -> None:
    """Show the applied authgate migration and the latest one."""
    click.echo(_state(_django_store().using))


def _state(alias: str) -> str:
    loader = MigrationLoader(connections[alias])
    head = max(name for app, name in loader.graph.leaf_nodes(APP_LABEL))
    applied = sorted(name for app, name in loader.applied_migrations if app == APP_LABEL)
    current = applied[-1] if applied else "none"
    return f"{current} (head)" if current == head else f"{current} (head is {head})"


def build_cli() -> AuthGateGroup:
    """authgate's command group on :func:`authgate.django.get_auth`, with Django's ``db`` group."""
    group = make_cli(_auth)
    db = AuthGateGroup("db", help="Manage authgate's tables (Django migrations).")
    db.add_command(db_upgrade)
    db.add_command(db_current)
    group.add_command(db)
    return group


class _Stream(io.TextIOBase):
    """A text stream writing to a management command's ``self.stdout``/``self.stderr``."""

    def __init__(self, wrapper: Any) -> None:
        self._wrapper = wrapper

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("text streams take str")
        self._wrapper.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self._wrapper.flush()


class Command(BaseCommand):  # type: ignore[misc]
    """Runs authgate's click command line (its own options and ``--help``)."""

    help = "Manage authgate users and roles: users create EMAIL, users list, roles create NAME..."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        """Everything after ``authgate`` goes to authgate's command line."""
        parser.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND ...")

    def run_from_argv(self, argv: list[str]) -> None:
        """``manage.py authgate ...``: run without Django's option parser; exit with its status."""
        prog = f"{os.path.basename(argv[0])} {argv[1]}"
        try:
            status = build_cli().run(argv[2:], prog_name=prog)
        finally:
            connections.close_all()
        if status:
            sys.exit(status)

    def handle(self, *args: str, **options: Any) -> None:
        """``call_command("authgate", "users", "create", ...)``.

        Raises:
            CommandError: the command failed (its one-line error went to stderr);
                ``returncode`` is its exit status.
        """
        with (
            contextlib.redirect_stdout(_Stream(self.stdout)),
            contextlib.redirect_stderr(_Stream(self.stderr)),
        ):
            status = build_cli().run(list(args), prog_name="manage.py authgate")
        if status:
            raise CommandError(f"authgate {' '.join(args)} failed", returncode=status)
