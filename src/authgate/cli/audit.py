"""``authgate audit ...``: read and purge the stored audit trail."""

from __future__ import annotations

import datetime as dt
import json
import re

import click

from authgate.audit import EVENT_KINDS, MAX_EVENTS
from authgate.cli.base import (
    CONTEXT_SETTINGS,
    AuthGateGroup,
    CommandError,
    current_auth,
    json_option,
    one_line,
    text_value,
)

__all__ = ["audit_group", "parse_age", "parse_time"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_age(text: str) -> int | None:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"``, ``"90s"`` as seconds; ``None`` if not an age."""
    match = _AGE.match(text.lower())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text: str, now: dt.datetime) -> dt.datetime:
    """An age before ``now`` (``7d``) or an ISO 8601 date or time (UTC unless it says otherwise).

    Raises:
        ValueError: neither.
        OverflowError: an age reaching back before year 1.
    """
    age = parse_age(text)
    if age is not None:
        return now - dt.timedelta(seconds=age)
    value = dt.datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    """``--since``/``--before``: ``7d`` / ``12h`` / ``2026-12-01`` / ``2026-12-01T10:00+01:00``."""
    if value is None:
        return None
    try:
        return parse_time(value, dt.datetime.now(dt.timezone.utc))
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"{value!r} is neither an age (7d, 12h, 30m) nor a date (2026-12-01)"
        ) from None


def _age(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--older-than``: ``90d`` / ``12h`` as seconds."""
    if value is None:
        return None
    seconds = parse_age(value)
    if not seconds:
        raise click.BadParameter(f"{value!r} is not an age such as 90d, 12h or 30m")
    return seconds


def _user_id(email_or_id: str) -> str:
    """The id behind ``--user``: a user's email or id (the id of a deleted user works too)."""
    user = current_auth().users.get_user(email_or_id)
    if user is not None:
        return str(user.id)
    if "@" in email_or_id:
        raise CommandError(f"no user with email {email_or_id}")
    return email_or_id


@click.command("list")
@click.option("--user", "user", metavar="EMAIL", help="Only this user's events (email or id).")
@click.option(
    "--since", callback=_when, metavar="WHEN",
    help="Only events since: an age (7d, 12h) or a date (2026-12-01, UTC unless it says).",
)  # fmt: skip
@click.option(
    "--before", callback=_when, metavar="WHEN", help="Only events before: an age or a date."
)
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(sorted(EVENT_KINDS)), metavar="KIND",
    help="Only events of this kind; repeat for several (sign_in, password_change...).",
)  # fmt: skip
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, MAX_EVENTS),
    help="At most this many events, newest first.",
)  # fmt: skip
@json_option
def audit_list(
    user: str | None,
    since: dt.datetime | None,
    before: dt.datetime | None,
    kinds: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """List security events, newest first: time, kind, outcome, user, actor, IP, details."""
    auth = current_auth()
    user_id = _user_id(user) if user else None
    events = auth.audit.events(user_id, kinds=kinds, since=since, before=before, limit=limit)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in events], indent=2))
        return
    for event in events:
        details = " ".join(f"{k}={v}" for k, v in sorted(event.details.items()))
        fields = [
            event.at.isoformat(timespec="seconds"),
            event.kind,
            event.outcome,
            text_value(event.user_id),
            event.actor,
            text_value(event.ip),
            text_value(event.user_agent),
            details or "-",
        ]
        click.echo("\t".join(one_line(f) for f in fields))


@click.command("purge")
@click.option(
    "--older-than", callback=_age, metavar="AGE",
    help="Delete events older than this (90d, 12h); default: the audit_retention setting.",
)  # fmt: skip
def audit_purge(older_than: int | None) -> None:
    """Delete old security events (by default those past the audit_retention setting)."""
    auth = current_auth()
    if older_than is None and auth.settings.audit_retention is None:
        raise CommandError("audit_retention is off (events are kept forever): pass --older-than")
    count = auth.audit.purge(older_than)
    click.echo(f"purged {count} security event{'' if count == 1 else 's'}")


def audit_group() -> AuthGateGroup:
    """A fresh ``audit`` group."""
    audit = AuthGateGroup(
        "audit", help="Read and purge the audit trail.", context_settings=CONTEXT_SETTINGS
    )
    audit.add_command(audit_list)
    audit.add_command(audit_purge)
    return audit
