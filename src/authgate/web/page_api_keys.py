"""The API-keys page (``<prefix>/account/api-keys``, endpoint ``api_keys``).

The page lists the signed-in user's personal API keys, makes one and revokes
one, through the same three flows as the JSON API
(:mod:`authgate.flows.api_keys`): the acting user is always the page's
signed-in user, and a key id that is not theirs is ``NOT_FOUND``.

A new key is shown **once**, on the answer to the form that made it: a 200
page (``Cache-Control: no-store``, like every page), never a redirect, a
URL or a flash message (flashes travel in a cookie). Reloading that answer
asks the browser to post the form again, which would make another key, not
show this one. The key sits in a read-only field a user can select; the
page loads ``authgate-copy.js`` (a file of ours, allowed by the page's
``script-src 'self'``: still no inline script) which reveals a "Copy"
button.

Making a key needs a fresh sign-in (``REAUTH_REQUIRED``): the page says so
before the form is filled, and a stale session posting it is sent to the
re-authentication page, then back here.
"""

from __future__ import annotations

import re

from authgate.errors import AuthError, ReauthRequired, ValidationError
from authgate.flows import api_keys, sessions
from authgate.i18n import N_
from authgate.models import ApiKeyRecord
from authgate.web.http import ApiResponse
from authgate.web.pagekit import PageCall

__all__ = ["COPY_SCRIPT", "EXPIRY_CHOICES", "api_keys_page", "parse_expiry", "split_list"]

#: The static script of the page that shows a new key (its "Copy" button).
COPY_SCRIPT = "authgate-copy.js"

_DAY = 24 * 3600
#: The expiry choices of the form: ``(seconds or "never", label message id)``; the first
#: one marked default is preselected.
EXPIRY_CHOICES: tuple[tuple[str, str], ...] = (
    (str(7 * _DAY), N_("7 days")),
    (str(30 * _DAY), N_("30 days")),
    (str(90 * _DAY), N_("90 days")),
    (str(365 * _DAY), N_("1 year")),
    ("never", N_("Never")),
)
#: The preselected expiry.
DEFAULT_EXPIRY = str(90 * _DAY)
_SEPARATORS = re.compile(r"[\s,]+")


def split_list(text: str | None) -> list[str] | None:
    """The items of a text field separated by spaces, commas or new lines (``None`` if empty)."""
    items = [item for item in _SEPARATORS.split(text or "") if item]
    return items or None


def parse_expiry(value: str | None) -> int | None:
    """The form's ``expires_in``: seconds, or ``None`` for ``"never"``.

    Any whole number of seconds is handed to the flow, which checks its range.

    Raises:
        ValidationError: neither a number nor ``"never"``.
    """
    text = (value or "").strip()
    if text == "never":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ValidationError(fields={"expires_in": "invalid"})
    return int(text)


def _create(call: PageCall) -> ApiResponse:
    ctx = call.pages.auth.ctx
    form = call.form
    record, key = api_keys.create_api_key(
        ctx, call.user, form.get("name"),
        scopes=split_list(form.get("scopes")),
        expires_in=parse_expiry(form.get("expires_in")),
        allowed_ips=split_list(form.get("allowed_ips")),
        token=call.token, client=call.client, actor="user",
    )  # fmt: skip
    call.form = {}  # the answer shows a blank form again
    return _show(call, new_key=key, new_record=record)


def _show(
    call: PageCall,
    error: AuthError | None = None,
    new_key: str | None = None,
    new_record: ApiKeyRecord | None = None,
) -> ApiResponse:
    ctx = call.pages.auth.ctx
    record = sessions.own_session(ctx, call.user, call.token)
    return call.render(
        error=error,
        keys=api_keys.list_api_keys(ctx, call.user),
        now=ctx.now(),
        fresh=record is not None and sessions.is_fresh(ctx, record),
        expiry_choices=EXPIRY_CHOICES,
        default_expiry=DEFAULT_EXPIRY,
        new_key=new_key,
        new_record=new_record,
        scripts=(COPY_SCRIPT,) if new_key else (),
    )


def api_keys_page(call: PageCall) -> ApiResponse:
    """List, make (``action=create``) and revoke (``action=revoke``, ``id``) the user's keys."""
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "create":
            return _create(call)
        if action == "revoke":
            api_keys.revoke_api_key(call.pages.auth.ctx, call.user, call.form.get("id"),
                                    client=call.client)  # fmt: skip
            return call.redirect(call.url("api_keys"), N_("The API key has been revoked."))
    except ReauthRequired:
        raise
    except AuthError as exc:
        return _show(call, exc)
    return _show(call)
