"""``authgate users ...``: create, list, show, (de)activate, delete users; passwords and roles."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from authgate.auth import Auth
from authgate.cli.base import (
    CONTEXT_SETTINGS,
    AuthGateGroup,
    CommandError,
    admin,
    current_auth,
    find_user,
    json_option,
    json_value,
    text_value,
)
from authgate.errors import UserExists
from authgate.flows import passkeys
from authgate.flows.validation import valid_email
from authgate.models import serialize_user

__all__ = ["users_group"]

#: Users fetched per query by ``users list`` (keeps memory flat on big tables).
_PAGE_SIZE = 500

#: Extra user attributes shown by ``users show`` when the model has them.
_SHOW_EXTRA = (
    "created_at",
    "password_changed_at",
    "last_sign_in_at",
    "last_sign_in_ip",
    "current_sign_in_at",
    "current_sign_in_ip",
    "sign_in_count",
)


def _require_role(auth: Auth, name: str) -> Any:
    role = auth.users.find_role(name)
    if role is None:
        raise CommandError(f"no role named {name!r}; create it with: authgate roles create {name}")
    return role


def _prompt_password(label: str) -> str:
    """Ask for a password twice: hidden on a terminal, read as lines from a pipe.

    When stdin is a pipe, ``getpass`` would read the terminal instead (or warn
    and fall back to the pipe); there is nothing to hide on a pipe, so it is
    read directly, which lets scripts do ``printf 'pw\\npw\\n' | authgate ...``.
    """
    stdin = sys.stdin
    piped = stdin is sys.__stdin__ and stdin is not None and not stdin.isatty()
    value: str = click.prompt(label, hide_input=not piped, confirmation_prompt=True)
    return value


def _user_details(user: Any) -> dict[str, Any]:
    data = dict(serialize_user(user))
    for name in _SHOW_EXTRA:
        if hasattr(user, name):
            data[name] = json_value(getattr(user, name))
    return data


def _iter_users(auth: Auth) -> Iterator[Any]:
    offset = 0
    while True:
        page = auth.users.list_users(offset, _PAGE_SIZE)
        yield from page
        if len(page) < _PAGE_SIZE:
            return
        offset += len(page)


@click.command("create")
@click.argument("email")
@click.option(
    "--password",
    help="The password. Prompted for (hidden, twice) when omitted; prefer the prompt, "
    "as options end up in the shell history and the process list.",
)
@click.option("--username", help="The username (when usernames are in use).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    help="Give the user this existing role; repeat for several.",
)
@click.option("--inactive", is_flag=True, help="Create the user deactivated.")
def users_create(
    email: str, password: str | None, username: str | None, roles: tuple[str, ...], inactive: bool
) -> None:
    """Create a user, active (unless --inactive) and with a confirmed email."""
    auth = current_auth()
    # Check what can be checked before asking for a password.
    if auth.users.get_user(valid_email(email)) is not None:
        raise UserExists()
    for role in roles:
        _require_role(auth, role)
    if password is None:
        password = _prompt_password("Password")
    user = admin(auth).create_user(
        email=email,
        password=password,
        username=username,
        roles=list(roles),
        active=not inactive,
        confirmed=True,
    )
    click.echo(f"created user {user.email} (id {user.id})")


@click.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """List users: id, email, username, active, confirmed, roles (tab-separated)."""
    auth = current_auth()
    if as_json:
        click.echo(json.dumps([serialize_user(u) for u in _iter_users(auth)], indent=2))
        return
    for user in _iter_users(auth):
        data = serialize_user(user)
        fields = [
            data["id"],
            data["email"],
            data["username"] or "-",
            "active" if data["is_active"] else "inactive",
            "confirmed" if data["email_confirmed"] else "unconfirmed",
            ",".join(data["roles"]) or "-",
        ]
        click.echo("\t".join(fields))


@click.command("show")
@click.argument("email")
@json_option
def users_show(email: str, as_json: bool) -> None:
    """Show one user (by email or id), with creation and sign-in details."""
    details = _user_details(find_user(current_auth(), email))
    if as_json:
        click.echo(json.dumps(details, indent=2, default=str))
        return
    for key, value in details.items():
        click.echo(f"{key}: {text_value(value)}")


def _change_user(email: str, method: str, done: str, already: str) -> None:
    """Run one ``auth.users`` change that answers whether it changed anything."""
    auth = current_auth()
    user = find_user(auth, email)
    changed = getattr(admin(auth), method)(user)
    click.echo((done if changed else already).format(user.email))


@click.command("activate")
@click.argument("email")
def users_activate(email: str) -> None:
    """Activate a user."""
    _change_user(email, "activate_user", "activated user {}", "user {} was already active")


@click.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Deactivate a user and end all their sessions."""
    _change_user(email, "deactivate_user", "deactivated user {}", "user {} was already inactive")


@click.command("delete")
@click.argument("email")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def users_delete(email: str, yes: bool) -> None:
    """Delete a user with their sessions and role links."""
    auth = current_auth()
    user = find_user(auth, email)
    if not yes:
        click.confirm(f"Delete user {user.email} (id {user.id})?", abort=True)
    admin(auth).delete_user(user)
    click.echo(f"deleted user {user.email}")


@click.command("set-password")
@click.argument("email")
@click.option(
    "--password",
    help="The new password. Prompted for (hidden, twice) when omitted; prefer the prompt.",
)
def users_set_password(email: str, password: str | None) -> None:
    """Set a user's password; every session of theirs ends."""
    auth = current_auth()
    user = find_user(auth, email)
    if password is None:
        password = _prompt_password("New password")
    admin(auth).set_password(user, password)
    click.echo(f"password set for {user.email}; their sessions have ended")


@click.command("add-role")
@click.argument("email")
@click.argument("role")
def users_add_role(email: str, role: str) -> None:
    """Give a user an existing role."""
    auth = current_auth()
    user = find_user(auth, email)
    found = _require_role(auth, role)
    if admin(auth).add_role_to_user(user, found):
        click.echo(f"added role {found.name} to {user.email}")
    else:
        click.echo(f"user {user.email} already has role {found.name}")


@click.command("remove-role")
@click.argument("email")
@click.argument("role")
def users_remove_role(email: str, role: str) -> None:
    """Take a role away from a user."""
    auth = current_auth()
    user = find_user(auth, email)
    found = _require_role(auth, role)
    if admin(auth).remove_role_from_user(user, found):
        click.echo(f"removed role {found.name} from {user.email}")
    else:
        click.echo(f"user {user.email} does not have role {found.name}")


@click.command("confirm")
@click.argument("email")
def users_confirm(email: str) -> None:
    """Mark a user's email address confirmed."""
    _change_user(email, "confirm_user", "confirmed {}", "{} was already confirmed")


@click.command("invite")
@click.argument("email")
@click.option("--by", "invited_by", metavar="EMAIL", help="The inviting user (shown in the email).")
def users_invite(email: str, invited_by: str | None) -> None:
    """Invite EMAIL to sign up; the invitation goes out through the configured mailer."""
    auth = current_auth()
    inviter = find_user(auth, invited_by) if invited_by else None
    auth.invite(email, invited_by=inviter)
    auth.mail.flush()
    click.echo(f"invited {valid_email(email)}")


@click.command("reset-two-factor")
@click.argument("email")
@click.option(
    "--keep-passkeys",
    is_flag=True,
    help="Keep the user's passkeys (by default they go too: a lost phone takes them along).",
)
def users_reset_two_factor(email: str, keep_passkeys: bool) -> None:
    """Remove a user's authenticator app, emailed codes, recovery codes, trusted devices and
    passkeys (the rescue when they lost them); they are emailed, and an enforced second
    factor gets a new grace period."""
    auth = current_auth()
    user = find_user(auth, email)
    removed = passkeys.reset_second_factors(
        auth.ctx, user, keep_passkeys=keep_passkeys, actor="cli"
    )
    auth.outbox.flush()
    click.echo(f"two-step verification reset for {user.email}")
    if removed:
        click.echo(f"{removed} passkey{'s' if removed != 1 else ''} removed")


def users_group() -> AuthGateGroup:
    """A fresh ``users`` group."""
    users = AuthGateGroup("users", help="Manage users.", context_settings=CONTEXT_SETTINGS)
    for command in (
        users_create,
        users_list,
        users_show,
        users_activate,
        users_deactivate,
        users_delete,
        users_set_password,
        users_add_role,
        users_remove_role,
        users_confirm,
        users_invite,
        users_reset_two_factor,
    ):
        users.add_command(command)
    return users
