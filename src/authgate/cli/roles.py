"""``authgate roles ...``: create, list and delete roles."""

from __future__ import annotations

import json
from typing import Any

import click

from authgate.cli.base import (
    CONTEXT_SETTINGS,
    AuthGateGroup,
    CommandError,
    admin,
    current_auth,
    json_option,
    one_line,
)

__all__ = ["roles_group"]


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
    auth = current_auth()
    if auth.users.find_role(name.strip()) is not None:
        raise CommandError(f"role {name.strip()!r} already exists")
    role = admin(auth).create_role(name, description)
    click.echo(f"created role {role.name}")


@click.command("list")
@json_option
def roles_list(as_json: bool) -> None:
    """List roles: name, description, permissions (tab-separated)."""
    roles = [_role_data(r) for r in current_auth().users.list_roles()]
    if as_json:
        click.echo(json.dumps(roles, indent=2))
        return
    for role in roles:
        fields = [role["name"], role["description"] or "-", ",".join(role["permissions"]) or "-"]
        click.echo("\t".join(one_line(f) for f in fields))


@click.command("delete")
@click.argument("name")
def roles_delete(name: str) -> None:
    """Delete a role; users who had it lose it."""
    if not admin(current_auth()).delete_role(name):
        raise CommandError(f"no role named {name!r}")
    click.echo(f"deleted role {name}")


def roles_group() -> AuthGateGroup:
    """A fresh ``roles`` group."""
    roles = AuthGateGroup("roles", help="Manage roles.", context_settings=CONTEXT_SETTINGS)
    for command in (roles_create, roles_list, roles_delete):
        roles.add_command(command)
    return roles
