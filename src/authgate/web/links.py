"""Emailed links opened in a browser: a GET never uses the token unless asked for JSON.

Mail scanners and link previews fetch links, with ``Accept: */*``, with no
``Accept`` at all, or like a browser. So a GET of ``/verify-email`` or
``/magic-link/verify`` uses its token only when the client asks for JSON by
name (``Accept: application/json``, SPEC §5); any other GET (and every HEAD)
renders a small page whose button POSTs the token back, and only that POST
uses it (SECURITY.md #36). ``GET /reset-password`` always answers the page:
it cannot do anything without a new password. The page carries
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``.

The form is protected by a double-submit nonce: the page sets an HttpOnly,
``SameSite=Lax`` cookie and puts the same nonce in the form. A cross-site
form post carries no ``Lax`` cookie, so nobody can make a victim's browser
redeem *their* link (login CSRF). With secure cookies its name has the
``__Host-`` prefix (no ``Domain``, ``Path=/``), so a sibling subdomain cannot
plant a nonce of its own either.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from typing import Any

from authgate.errors import CSRFFailed
from authgate.web.http import ApiRequest, ApiResponse, format_cookie

__all__ = ["FLOW_COOKIE", "check_form_nonce", "link_page"]

FLOW_COOKIE = "authgate_flow"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{title}</title></head>
<body><main><h1>{title}</h1>
<form method="post" action="{action}">
<input type="hidden" name="token" value="{token}">
<input type="hidden" name="nonce" value="{nonce}">
{fields}<button type="submit">{button}</button>
</form></main></body></html>
"""

_PASSWORD_FIELD = (
    '<p><label for="new_password">New password</label> '
    '<input id="new_password" name="new_password" type="password" '
    'autocomplete="new-password" required minlength="{min}" maxlength="{max}"></p>\n'
)


def link_page(
    request: ApiRequest,
    action: str,
    title: str,
    button: str,
    *,
    secure: bool,
    cookie_name: str = FLOW_COOKIE,
    password: tuple[int, int] | None = None,
) -> ApiResponse:
    """The interstitial page for an emailed link (nothing is used by showing it).

    Args:
        request: the GET of the link (its ``token`` goes into the form).
        action: where the form posts (the same path, prefix included).
        title: the page's heading.
        button: the submit button's text.
        secure: whether the nonce cookie is ``Secure``.
        cookie_name: the nonce cookie's name (``__Host-authgate_flow`` when secure,
            see :attr:`~authgate.web.credentials.Credentials.flow_cookie_name`).
        password: ``(min, max)`` length of a new-password field to add, if any.
    """
    nonce = secrets.token_urlsafe(24)
    token = request.query.get("token", "")
    fields = ""
    if password is not None:
        fields = _PASSWORD_FIELD.format(min=password[0], max=password[1])
    body = _PAGE.format(
        title=html.escape(title), action=html.escape(action), token=html.escape(token),
        nonce=nonce, fields=fields, button=html.escape(button),
    )  # fmt: skip
    response = ApiResponse(
        status=200, body=body.encode(), content_type="text/html; charset=utf-8",
        headers=[("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                 ("X-Frame-Options", "DENY")],
    )  # fmt: skip
    response.set_cookie(
        format_cookie(cookie_name, nonce, max_age=900, path="/", secure=secure, httponly=True)
    )
    return response


def check_form_nonce(
    request: ApiRequest, form: Mapping[str, Any], cookie_name: str = FLOW_COOKIE
) -> None:
    """Raise ``CSRF_FAILED`` unless the form's nonce matches the page's cookie ``cookie_name``."""
    sent = form.get("nonce")
    expected = request.cookies.get(cookie_name)
    if not (
        isinstance(sent, str)
        and expected
        and sent.isascii()
        and expected.isascii()
        and secrets.compare_digest(sent, expected)
    ):
        raise CSRFFailed()
