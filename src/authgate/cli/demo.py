"""``authgate demo``: serve the demo app (standalone program only)."""

from __future__ import annotations

import click

__all__ = ["demo"]


@click.command("demo")
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
