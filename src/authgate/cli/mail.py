"""``authgate mail ...``: the notice outbox (:mod:`authgate.outbox`).

Notices the mail server refused, or that a stopped process never sent, are
resent by every long-running process on its own; these commands show them
and send the due ones now (after fixing the mail configuration, say).

The standalone ``authgate`` program has no mailer of the app's: run them
through the app (``flask authgate mail ...``, ``python manage.py authgate
mail ...``), or give ``--smtp-url``. They never "send" to the console
outside ``debug``: that would drop notices the user never gets.
"""

from __future__ import annotations

import json

import click

from authgate.cli.base import (
    CONTEXT_SETTINGS,
    AuthGateGroup,
    CommandError,
    current_auth,
    json_option,
    one_line,
    text_value,
)
from authgate.mail import Mailer, SMTPMailer

__all__ = ["mail_group"]


@click.command("outbox")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, 1000),
    help="At most this many notices, the soonest due first.",
)  # fmt: skip
@json_option
def mail_outbox(limit: int, as_json: bool) -> None:
    """List the notices waiting to be sent: id, kind, user, attempts, next attempt."""
    notices = current_auth().outbox.pending(limit)
    if as_json:
        rows = [
            {
                "id": n.id,
                "kind": n.kind,
                "user_id": n.user_id,
                "attempts": n.attempts,
                "created_at": n.created_at.isoformat(),
                "next_attempt_at": n.next_attempt_at.isoformat(),
            }
            for n in notices
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for n in notices:
        fields = [n.next_attempt_at.isoformat(timespec="seconds"), n.kind,
                  text_value(n.user_id), str(n.attempts), n.id]  # fmt: skip
        click.echo("\t".join(one_line(f) for f in fields))


@click.command("flush-outbox")
@click.option(
    "--smtp-url", metavar="URL",
    help="Send through this SMTP server (smtp+tls://user:pass@host:587) instead of the app's "
    "mailer. Anyone on this machine may see a command line: prefer running the command "
    "through your app.",
)  # fmt: skip
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, 10_000),
    help="At most this many notices.",
)  # fmt: skip
def mail_flush_outbox(smtp_url: str | None, limit: int) -> None:
    """Send the notices that are due now (each claimed first: safe beside running apps)."""
    auth = current_auth()
    mailer: Mailer | None = None
    if smtp_url is not None:
        try:
            mailer = SMTPMailer.from_url(smtp_url)
        except ValueError as exc:
            raise click.BadParameter(one_line(str(exc)), param_hint="--smtp-url") from None
    elif auth.mail.prints_to_console and not auth.settings.debug:
        raise CommandError(
            "no mailer here (emails would only be printed): run this through your app "
            "(flask authgate mail flush-outbox, python manage.py authgate mail "
            "flush-outbox) or pass --smtp-url URL"
        )
    report = auth.outbox.flush(limit=limit, mailer=mailer)
    click.echo(
        f"sent {report.sent}, failed {report.failed} (sent again later), "
        f"gave up {report.given_up}, taken by another process {report.skipped}"
        + ("; more are waiting" if report.waiting else "")
    )
    if report.failed or report.given_up:
        raise CommandError("some notices could not be sent (see the authgate.mail log)")


def mail_group() -> AuthGateGroup:
    """A fresh ``mail`` group."""
    mail = AuthGateGroup(
        "mail", help="The outbox of security notices.", context_settings=CONTEXT_SETTINGS
    )
    mail.add_command(mail_outbox)
    mail.add_command(mail_flush_outbox)
    return mail
