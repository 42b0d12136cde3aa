"""``authgate db ...``: the schema of authgate's default models (the shipped migrations)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
import sqlalchemy

from authgate.cli.base import (
    CONTEXT_SETTINGS,
    AuthGateGroup,
    CommandError,
    Runtime,
    one_line,
    runtime,
)
from authgate.models import Role, User

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["db_group"]


class _Database:
    """The engine the migrations run on: built from the URL, or the host Auth's."""

    def __init__(self, state: Runtime) -> None:
        self._owned = state.standalone
        if self._owned:
            from authgate.stores.sqlalchemy.engine import make_engine

            try:
                self.engine: Engine = make_engine(state.require_url())
            except ImportError as exc:  # the driver is missing; the message names the extra
                raise CommandError(one_line(str(exc))) from exc
            return
        auth = state.auth()
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

    with _Database(runtime()) as engine:
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

    with _Database(runtime()) as engine:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
    if current == head:
        click.echo(f"{current} (head)")
    else:
        click.echo(f"{current or 'none'} (head is {head}; run: authgate db upgrade)")


def db_group() -> AuthGateGroup:
    """A fresh ``db`` group."""
    db = AuthGateGroup("db", help="Manage the database schema.", context_settings=CONTEXT_SETTINGS)
    db.add_command(db_upgrade)
    db.add_command(db_current)
    return db
