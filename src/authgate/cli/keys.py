"""``authgate keys generate``: a new signing key for access tokens (``jwt_keys``)."""

from __future__ import annotations

import json
import os

import click

from authgate.cli.base import CONTEXT_SETTINGS, AuthGateGroup, CommandError

__all__ = ["keys_group"]


@click.command("generate")
@click.option(
    "--algorithm",
    "-a",
    type=click.Choice(["EdDSA", "ES256", "HS256"]),
    default="EdDSA",
    show_default=True,
    help="EdDSA (Ed25519) or ES256 (P-256) sign with a private key and publish the public one "
    "in /jwks.json; HS256 is a shared secret (JWK only).",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["pem", "jwk"]),
    default=None,
    help="PEM (PKCS#8) or JWK; default PEM (JWK for HS256).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the key to this new file (mode 0600) instead of printing it.",
)
def keys_generate(algorithm: str, fmt: str | None, output: str | None) -> None:
    """Make a private signing key; put it (or its file) first in jwt_keys."""
    try:
        from authgate.keys import generate_key, private_jwk, private_pem
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    fmt = fmt or ("jwk" if algorithm == "HS256" else "pem")
    if algorithm == "HS256" and fmt == "pem":
        raise CommandError("an HS256 key is a shared secret: use --format jwk")
    key = generate_key(algorithm)
    text = private_pem(key) if fmt == "pem" else json.dumps(private_jwk(key)) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandError(f"{output} exists already; choose another file") from None
    except OSError as exc:
        raise CommandError(f"cannot write {output}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"wrote a private {algorithm} key to {output} (mode 0600)", err=True)


def keys_group() -> AuthGateGroup:
    """The ``keys`` subgroup."""

    @click.group("keys", cls=AuthGateGroup, context_settings=CONTEXT_SETTINGS)
    def group() -> None:
        """Signing keys of access tokens."""

    group.add_command(keys_generate)
    return group
