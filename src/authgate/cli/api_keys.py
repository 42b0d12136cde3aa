"""``authgate api-keys ...``: make, list and revoke users' personal API keys."""

from __future__ import annotations

import json
import re

import click

from authgate.cli.base import (
    CONTEXT_SETTINGS,
    AuthGateGroup,
    CommandError,
    current_auth,
    find_user,
    json_option,
    one_line,
    text_value,
)
from authgate.flows import api_keys

__all__ = ["api_keys_group", "parse_duration"]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds from ``3600``, ``90m``, ``12h``, ``30d`` or ``2w``.

    Examples:
        >>> parse_duration("30d")
        2592000
    """
    match = re.fullmatch(r"\s*(\d{1,9})\s*([smhdw]?)\s*", text.lower())
    if match is None:
        raise click.BadParameter("a duration such as 3600, 90m, 12h, 30d or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


@click.command("create")
@click.argument("email")
@click.argument("name")
@click.option("--scope", "-s", "scopes", multiple=True, help="A scope the key grants (repeat).")
@click.option(
    "--expires-in",
    metavar="DURATION",
    help="When the key expires: seconds, or 90m, 12h, 30d, 2w (default: never).",
)
@click.option(
    "--allow-ip", "allowed_ips", multiple=True, help="An address or network it works from."
)
@json_option
def api_keys_create(
    email: str,
    name: str,
    scopes: tuple[str, ...],
    expires_in: str | None,
    allowed_ips: tuple[str, ...],
    as_json: bool,
) -> None:
    """Make an API key for the user EMAIL; the key is printed this once."""
    auth = current_auth()
    user = find_user(auth, email)
    seconds = None if expires_in is None else parse_duration(expires_in)
    record, key = api_keys.create_api_key(
        auth.ctx, user, name, scopes=list(scopes), expires_in=seconds,
        allowed_ips=list(allowed_ips), actor="cli",
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps({"api_key": record.to_dict(), "key": key}, indent=2))
        return
    click.echo(key)
    click.echo(f"created API key {record.id} for {user.email}; it is not shown again", err=True)


@click.command("list")
@click.argument("email")
@json_option
def api_keys_list(email: str, as_json: bool) -> None:
    """List the API keys of EMAIL: id, name, prefix, scopes, expires, last used (tab-separated)."""
    auth = current_auth()
    keys = [k.to_dict() for k in api_keys.list_api_keys(auth.ctx, find_user(auth, email))]
    if as_json:
        click.echo(json.dumps(keys, indent=2))
        return
    for key in keys:
        fields = [key["id"], key["name"], key["prefix"] + "...", text_value(key["scopes"]),
                  text_value(key["expires_at"]), text_value(key["last_used_at"])]  # fmt: skip
        click.echo("\t".join(one_line(str(f)) for f in fields))


@click.command("revoke")
@click.argument("key_id", metavar="ID")
def api_keys_revoke(key_id: str) -> None:
    """Revoke the API key ID (from `api-keys list`), whoever owns it."""
    auth = current_auth()
    try:
        api_keys.revoke_api_key(auth.ctx, None, key_id, actor="cli")
    except Exception as exc:
        if getattr(exc, "code", None) == "NOT_FOUND":
            raise CommandError(f"no API key with id {key_id}") from None
        raise
    click.echo(f"revoked API key {key_id}")


def api_keys_group() -> AuthGateGroup:
    """The ``api-keys`` subgroup."""

    @click.group("api-keys", cls=AuthGateGroup, context_settings=CONTEXT_SETTINGS)
    def group() -> None:
        """Users' personal API keys."""

    for command in (api_keys_create, api_keys_list, api_keys_revoke):
        group.add_command(command)
    return group
