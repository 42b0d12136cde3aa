"""HTML pages for every flow: one framework-neutral engine, the same flows as the JSON API.

Each page is a :class:`~authgate.web.pagekit.Page` of :data:`PAGES`: a path
below the prefix, a template and a small handler that reads the form, calls
a flow and renders or redirects (303 after every successful POST). Nothing
here decides a business rule: the flows do, exactly as for the JSON API.
Integrations route every path under the prefix to :meth:`AuthPages.handle`,
which serves the pages and hands everything else to
:meth:`AuthAPI.handle <authgate.web.api.AuthAPI.handle>`.

Adding a page (an API-key list, two-factor set-up...) is a template and a
handler: append a :class:`Page` to :data:`PAGES`, with ``member=True`` for
an account page and ``nav=`` to list it in the account menu.

Paths (below the prefix; endpoint names in parentheses):

* public: ``/login`` (login), ``/register`` (register), ``/login-or-register``,
  ``/logout``, ``/forgot`` (forgot_password), ``/confirm`` (send_confirmation),
  ``/magic-link``, ``/sign-up`` (accept_invitation), ``/locale`` (the language
  picker's target), and the emailed links' landings ``/verify-email``,
  ``/reset-password``, ``/magic-link/verify``;
* account: ``/account`` (profile), ``/account/password`` (change_password),
  ``/account/username``, ``/account/email``, ``/account/emails``,
  ``/account/sessions``, ``/account/api-keys`` (api_keys, with the ``api_keys``
  setting; :mod:`authgate.web.page_api_keys`), ``/account/passkeys``,
  ``/account/reauthenticate``, ``/account/delete``;
* ``/static/authgate.css``, ``/static/authgate-copy.js`` and ``/static/passkeys.js``
  (cached for a year; their URLs carry their hash).

The emailed links' landings are also JSON routes: the page serves the GETs
that do not ask for JSON and the urlencoded form posts, the API the rest.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from authgate.errors import (
    AuthError,
    CSRFFailed,
    InternalError,
    InvalidToken,
    MethodNotAllowed,
    PayloadTooLarge,
    ReauthRequired,
    TwoFactorRequired,
    UnsupportedMediaType,
    ValidationError,
)
from authgate.flows import (
    account,
    confirmation,
    email_change,
    emails,
    invitations,
    magic_link,
    passkeys,
    reauth,
    recovery,
    sessions,
    signin,
    signup,
    two_factor,
)
from authgate.flows.validation import profile_fields, signup_fields
from authgate.i18n import LOCALE_COOKIE, N_, normalize_locale, use_locale
from authgate.web.api import set_trusted_device_cookie, trusted_device_cookie_name
from authgate.web.credentials import Principal
from authgate.web.guard import login_redirect
from authgate.web.http import ApiRequest, ApiResponse, format_cookie
from authgate.web.page_api_keys import api_keys_page
from authgate.web.pagekit import (
    FLASH_COOKIE,
    Page,
    PageCall,
    flash_serializer,
    form_signer,
)
from authgate.web.templating import PageTemplates

if TYPE_CHECKING:
    from authgate.web.api import AuthAPI

__all__ = ["PAGES", "STATIC_FILES", "AuthPages", "FormField", "Page", "PageCall"]

logger = logging.getLogger("authgate.web")

#: The files served under ``<prefix>/static/``.
STATIC_FILES: Mapping[str, str] = {
    "authgate.css": "text/css; charset=utf-8",
    "authgate-copy.js": "text/javascript; charset=utf-8",
    "passkeys.js": "text/javascript; charset=utf-8",
}
_LOCALE_COOKIE_AGE = 365 * 24 * 3600
_REAUTH_MESSAGE = N_("For your security, please enter your password again to continue.")


# -- the app's own fields on the register and profile forms ------------------------------
@dataclass(frozen=True)
class FormField:
    """An app column shown on the register or profile form.

    Declared on the column: ``mapped_column(String(80), info={"label": "First name",
    "autocomplete": "given-name"})``; without a label the name is shown
    ("first_name" as "First name").
    """

    name: str
    label: str
    type: str = "text"
    required: bool = False
    maxlength: int | None = None
    autocomplete: str = "off"


def form_fields(model: type[Any], names: tuple[str, ...]) -> list[FormField]:
    """The form inputs of the app columns ``names`` of ``model``."""
    table = getattr(model, "__table__", None)
    result = []
    for name in names:
        column = table.columns[name] if table is not None and name in table.columns else None
        info: Mapping[str, Any] = getattr(column, "info", None) or {}
        kind = "text"
        python_type: Any = None
        try:
            python_type = column.type.python_type if column is not None else None
        except (NotImplementedError, AttributeError):
            python_type = None
        if python_type is bool:
            kind = "checkbox"
        elif python_type in (int, float):
            kind = "number"
        result.append(FormField(
            name=name,
            label=str(info.get("label") or name.replace("_", " ").capitalize()),
            type=str(info.get("type", kind)),
            required=bool(info.get("required", False)),
            maxlength=getattr(getattr(column, "type", None), "length", None),
            autocomplete=str(info.get("autocomplete", "off")),
        ))  # fmt: skip
    return result


def read_fields(specs: list[FormField], form: Mapping[str, str]) -> dict[str, Any]:
    """The values of ``specs`` from a posted form (a number as a number, a checkbox as a bool).

    Raises:
        ValidationError: a number that is not one.
    """
    values: dict[str, Any] = {}
    for spec in specs:
        raw = form.get(spec.name)
        if spec.type == "checkbox":
            values[spec.name] = raw is not None
            continue
        if raw is None:
            continue
        text = raw.strip()
        if spec.type == "number" and text:
            try:
                values[spec.name] = int(text) if text.lstrip("-").isdigit() else float(text)
            except ValueError:
                raise ValidationError(fields={spec.name: "invalid"}) from None
        else:
            values[spec.name] = text or None
    return values


# -- public pages -------------------------------------------------------------------------
def _sign_in_field(call: PageCall) -> str:
    return "identifier" if call.pages.auth.settings.usernames else "email"


def _login_context(call: PageCall) -> dict[str, Any]:
    # Where the passkey script goes once signed in: the safe ``next`` only.
    return {"identifier_field": _sign_in_field(call), "passkey_next": call.next_url()}


def _login_post(call: PageCall, template: str | None = None) -> ApiResponse:
    field = _sign_in_field(call)
    by: signin.IdentifierKind = "any" if field == "identifier" else "email"
    try:
        result = signin.sign_in(
            call.pages.auth.ctx, call.form.get(field), call.form.get("password"),
            remember=call.form.get("remember") == "on", by=by, client=call.client,
            trusted_device=call.request.cookies.get(trusted_device_cookie_name(call.pages.auth)),
        )  # fmt: skip
    except TwoFactorRequired as exc:
        return _second_step(call, exc)
    except AuthError as exc:
        return call.render(error=exc, field_names={"credentials": ""}, template=template,
                           **_login_context(call), **_register_context(call))  # fmt: skip
    assert result.session_token is not None  # a sign-in always starts a session
    response = call.redirect(call.next_url())
    call.pages.api.credentials.set_session_cookie(response, result.session_token, result.session)
    return response


def _login(call: PageCall) -> ApiResponse:
    if call.is_post:
        return _login_post(call)
    if call.request.cookies.get(challenge_cookie_name(call)):
        _drop_challenge(call)  # "cancel and sign in again": the pending sign-in is gone
    return call.render(**_login_context(call))


def _register_context(call: PageCall, invitation: str | None = None) -> dict[str, Any]:
    auth = call.pages.auth
    return {
        "app_fields": form_fields(auth.User, signup_fields(auth.settings, auth.User)),
        "invitation": invitation,
        "invite_token": call.form.get("invite_token") or call.request.query.get("token", ""),
    }


def _register_post(
    call: PageCall, template: str | None = None, invitation: str | None = None
) -> ApiResponse:
    auth = call.pages.auth
    context = _register_context(call, invitation)
    try:
        extra = read_fields(context["app_fields"], call.form)
        result = signup.sign_up(
            auth.ctx, call.form.get("email"), call.form.get("password"),
            username=call.form.get("username") if auth.settings.usernames else None,
            fields=extra, invite_token=call.form.get("invite_token") or None,
            client=call.client,
        )  # fmt: skip
    except AuthError as exc:
        return call.render(error=exc, template=template, **context, **_login_context(call))
    if result.session_token:
        response = call.redirect(call.next_url(), N_("Welcome! Your account is ready."))
        call.pages.api.credentials.set_session_cookie(response, result.session_token,
                                                      result.session)  # fmt: skip
        return response
    return call.redirect(
        call.url("login"),
        N_("Almost done: we have sent you an email. Open the link in it to confirm your "
           "address, then sign in."),
        "info",
    )  # fmt: skip


def _register(call: PageCall) -> ApiResponse:
    if call.is_post:
        return _register_post(call)
    return call.render(**_register_context(call))


def _login_or_register(call: PageCall) -> ApiResponse:
    if call.is_post and call.form.get("action") == "register":
        if not call.pages.auth.settings.registerable:
            return call.render(**_login_context(call), **_register_context(call))
        return _register_post(call, call.page.template)
    if call.is_post:
        return _login_post(call, call.page.template)
    return call.render(**_login_context(call), **_register_context(call))


def _accept_invitation(call: PageCall) -> ApiResponse:
    token = call.form.get("invite_token") or call.request.query.get("token", "")
    call.private_url = True
    try:
        invited = invitations.invited_address(call.pages.auth.ctx, token)
    except AuthError as exc:
        return call.render(error=exc, field_names={"token": ""}, **_register_context(call))
    if call.is_post:
        call.form["email"] = invited  # the invitation's address, whatever was posted
        return _register_post(call, invitation=invited)
    return call.render(**_register_context(call, invited))


def _logout(call: PageCall) -> ApiResponse:
    settings = call.pages.auth.settings
    if call.request.cookies.get(challenge_cookie_name(call)):
        _drop_challenge(call)  # a pending sign-in ends with the visit too
    if call.principal is None:
        return call.redirect(settings.post_logout_url)
    if not call.is_post:
        return call.render()
    if call.token:
        sessions.sign_out(call.pages.auth.ctx, call.token, call.client)
    response = call.redirect(settings.post_logout_url, N_("You have been signed out."), "info")
    call.pages.api.credentials.clear_session_cookie(response)
    return response


def _email_request(flow: Any, message: str) -> Any:
    """A page asking for an address to mail a link to (the same answer whoever owns it)."""

    def handler(call: PageCall) -> ApiResponse:
        if not call.is_post:
            return call.render()
        try:
            flow(call.pages.auth.ctx, call.form.get("email"), call.client)
        except AuthError as exc:
            return call.render(error=exc)
        return call.redirect(call.url(call.page.name), message, "info")

    return handler


_forgot_password = _email_request(
    recovery.forgot_password,
    N_("If an account uses that address, we have sent it a link to choose a new password."),
)
_magic_link = _email_request(
    magic_link.send_login_link,
    N_("If an account uses that address, we have sent it a sign-in link."),
)


def _send_confirmation_flow(ctx: Any, email: object, client: Any) -> None:
    confirmation.send_confirmation(ctx, email)


_send_confirmation = _email_request(
    _send_confirmation_flow,
    N_("If that address is waiting for confirmation, we have sent it a new link."),
)


def _link_token(call: PageCall) -> str:
    call.private_url = True  # the URL holds the token: no Referer anywhere
    return call.form.get("token") or call.request.query.get("token", "")


def _signed_in_by_link(call: PageCall, result: Any, message: str | None) -> ApiResponse:
    if result.session_token:
        response = call.redirect(call.next_url(), message)
        call.pages.api.credentials.set_session_cookie(response, result.session_token,
                                                      result.session)  # fmt: skip
        return response
    return call.redirect(call.url("login"), message)


def _verify_email(call: PageCall) -> ApiResponse:
    token = _link_token(call)
    if not call.is_post:
        return call.render(token=token)
    try:
        result = confirmation.confirm_email(call.pages.auth.ctx, token, call.client)
    except AuthError as exc:
        return call.render(error=exc, field_names={"token": ""}, token=token)
    return _signed_in_by_link(call, result, N_("Your email address is confirmed."))


def _magic_link_verify(call: PageCall) -> ApiResponse:
    token = _link_token(call)
    if not call.is_post:
        return call.render(token=token)
    try:
        result = magic_link.sign_in_with_link(call.pages.auth.ctx, token, call.client)
    except TwoFactorRequired as exc:
        return _second_step(call, exc)
    except AuthError as exc:
        return call.render(error=exc, field_names={"token": ""}, token=token)
    return _signed_in_by_link(call, result, None)


def _reset_password(call: PageCall) -> ApiResponse:
    token = _link_token(call)
    if not call.is_post:
        return call.render(token=token)
    try:
        result = recovery.reset_password(
            call.pages.auth.ctx, token, call.form.get("new_password"), call.client
        )
    except AuthError as exc:
        return call.render(error=exc, field_names={"token": ""}, token=token)
    return _signed_in_by_link(
        call, result, N_("Your password has been changed. You can sign in with it now.")
    )


def _set_locale(call: PageCall) -> ApiResponse:
    target = call.next_url(call.url("login"))
    if not call.is_post:
        return call.redirect(target)
    locale = normalize_locale(call.form.get("locale"))
    if locale is not None:
        call.cookies.append(format_cookie(
            LOCALE_COOKIE, locale, max_age=_LOCALE_COOKIE_AGE, secure=call.pages.secure,
        ))  # fmt: skip
    return call.redirect(target)


# -- account pages ------------------------------------------------------------------------
def _profile(call: PageCall) -> ApiResponse:
    auth = call.pages.auth
    specs = form_fields(auth.User, profile_fields(auth.settings, auth.User))
    if call.is_post:
        try:
            account.update_profile(auth.ctx, call.user, read_fields(specs, call.form),
                                   call.client)  # fmt: skip
        except AuthError as exc:
            return call.render(error=exc, app_fields=specs)
        return call.redirect(call.url("profile"), N_("Your profile has been saved."))
    user = call.user
    values = {spec.name: getattr(user, spec.name, None) for spec in specs}
    return call.render(app_fields=specs, values=values)


def _session_record(call: PageCall) -> Any:
    return sessions.own_session(call.pages.auth.ctx, call.user, call.token)


def _change_password(call: PageCall) -> ApiResponse:
    record = _session_record(call)
    # Not asked when signed in by an emailed link or without a password: the
    # flow wants a fresh session then (SPEC §5).
    needs_current = call.user.password_hash is not None and not sessions.signed_in_by_link(record)
    if not call.is_post:
        return call.render(needs_current=needs_current)
    try:
        account.change_password(
            call.pages.auth.ctx, call.user, call.form.get("current_password"),
            call.form.get("new_password"),
            revoke_other_sessions=call.form.get("revoke_other_sessions") == "on",
            current_token=call.token, client=call.client,
        )  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, field_names={"credentials": "current_password"},
                           needs_current=needs_current)  # fmt: skip
    return call.redirect(call.url("profile"), N_("Your password has been changed."))


def _change_username(call: PageCall) -> ApiResponse:
    if not call.is_post:
        return call.render()
    try:
        account.change_username(
            call.pages.auth.ctx, call.user, call.form.get("new_username"),
            call.form.get("password"), client=call.client, token=call.token,
        )  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, field_names={"credentials": "password",
                                                   "exists": "new_username"})  # fmt: skip
    return call.redirect(call.url("profile"), N_("Your username has been changed."))


def _change_email(call: PageCall) -> ApiResponse:
    if not call.is_post:
        return call.render()
    new_email = call.form.get("new_email", "")
    try:
        email_change.change_email(
            call.pages.auth.ctx, call.user, new_email, call.form.get("password"),
            call.client, token=call.token,
        )  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, field_names={"credentials": "password"})
    return call.redirect(
        call.url("profile"),
        N_("We have sent a link to %(email)s. Your address changes when you open it."),
        "info", email=new_email.strip(),
    )  # fmt: skip


def _emails(call: PageCall) -> ApiResponse:
    ctx = call.pages.auth.ctx
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "add":
            address = call.form.get("email", "")
            emails.add_email(ctx, call.user, address, call.form.get("password"), call.client,
                             token=call.token)  # fmt: skip
            return call.redirect(call.url("emails"),
                                 N_("We have sent a confirmation link to %(email)s."), "info",
                                 email=address.strip())  # fmt: skip
        if action == "remove":
            emails.remove_email(ctx, call.user, call.form.get("email_id"), call.client,
                                token=call.token)  # fmt: skip
            return call.redirect(call.url("emails"), N_("The address has been removed."))
        if action == "primary":
            emails.make_primary(ctx, call.user, call.form.get("email_id"),
                                call.form.get("primary_password"), call.client,
                                token=call.token)  # fmt: skip
            # Every session ended with the change, this one too.
            response = call.redirect(
                call.url("login"),
                N_("Your primary address has changed. Please sign in again."), "info",
            )  # fmt: skip
            call.pages.api.credentials.clear_session_cookie(response)
            return response
    except ReauthRequired:
        raise
    except AuthError as exc:
        target = "primary_password" if action == "primary" else "password"
        return call.render(error=exc, field_names={"credentials": target},
                           addresses=emails.list_emails(ctx, call.user))  # fmt: skip
    return call.render(addresses=emails.list_emails(ctx, call.user))


def _sessions(call: PageCall) -> ApiResponse:
    ctx = call.pages.auth.ctx
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "revoke":
            sessions.revoke_session(ctx, call.user, call.form.get("session_id"), call.client)
            return call.redirect(call.url("sessions"), N_("The device has been signed out."))
        if action == "revoke_others":
            assert call.token is not None
            sessions.revoke_other_sessions(ctx, call.user, call.token, call.client)
            return call.redirect(call.url("sessions"),
                                 N_("Every other device has been signed out."))  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, entries=sessions.list_sessions(ctx, call.user, call.token))
    return call.render(entries=sessions.list_sessions(ctx, call.user, call.token))


def _passkeys(call: PageCall) -> ApiResponse:
    """List, rename and remove passkeys; adding one is the page's script (WebAuthn)."""
    ctx = call.pages.auth.ctx
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "rename":
            passkeys.rename_passkey(ctx, call.user, call.form.get("id"), call.form.get("name"),
                                    client=call.client)  # fmt: skip
            return call.redirect(call.url("passkeys"), N_("The passkey has been renamed."))
        if action == "delete":
            passkeys.delete_passkey(ctx, call.user, call.form.get("id"), token=call.token,
                                    client=call.client)  # fmt: skip
            return call.redirect(call.url("passkeys"), N_("The passkey has been removed."))
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, entries=passkeys.list_passkeys(ctx, call.user))
    return call.render(entries=passkeys.list_passkeys(ctx, call.user))


def _reauthenticate(call: PageCall) -> ApiResponse:
    if not call.is_post:
        return call.render()
    assert call.principal is not None and call.token is not None
    by_passkey = bool(call.form.get("credential"))
    try:
        if by_passkey:  # the page's script put a passkey's answer in the form
            token = passkeys.reauthenticate_with_passkey(
                call.pages.auth.ctx, call.token, call.form.get("credential"),
                call.form.get("state"), rotate=True, client=call.client,
            )  # fmt: skip
        else:
            token = reauth.reauthenticate(
                call.pages.auth.ctx, call.token, call.form.get("password"), rotate=True,
                client=call.client,
            )  # fmt: skip
    except AuthError as exc:
        names = {} if by_passkey else {"credentials": "password"}
        return call.render(error=exc, field_names=names)
    response = call.redirect(call.next_url(call.url("profile")))
    call.pages.api.credentials.set_session_cookie(response, token, call.principal.session)
    return response


def _delete_account(call: PageCall) -> ApiResponse:
    record = _session_record(call)
    if record is None or not sessions.is_fresh(call.pages.auth.ctx, record):
        raise ReauthRequired()
    has_password = call.user.password_hash is not None
    if not call.is_post:
        return call.render(has_password=has_password)
    try:
        if call.form.get("confirm") != "on":
            raise ValidationError(fields={"confirm": "required"})
        account.delete_account(call.pages.auth.ctx, call.user, call.form.get("password"),
                               token=call.token, client=call.client)  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, field_names={"credentials": "password"},
                           has_password=has_password)  # fmt: skip
    response = call.redirect(call.url("login"), N_("Your account has been deleted."), "info")
    call.pages.api.credentials.clear_session_cookie(response)
    return response


# -- second factor (two_factor) ------------------------------------------------------------
def challenge_cookie_name(call: PageCall) -> str:
    """The cookie that carries a pending sign-in's challenge between the two steps."""
    return ("__Host-" if call.pages.secure else "") + "authgate_2fa"


def _second_step(call: PageCall, exc: TwoFactorRequired) -> ApiResponse:
    """A right first factor that needs a second: keep the challenge in a short-lived
    HttpOnly cookie (never in the URL) and go to the second step."""
    call.cookies.append(format_cookie(
        challenge_cookie_name(call), exc.challenge,
        max_age=call.pages.auth.settings.two_factor_challenge_within, secure=call.pages.secure,
    ))  # fmt: skip
    return call.redirect(call.url("two_factor_verify", next=call.next_url()))


def _drop_challenge(call: PageCall) -> None:
    call.cookies.append(format_cookie(challenge_cookie_name(call), "", max_age=0,
                                      secure=call.pages.secure))  # fmt: skip


def _verify_context(call: PageCall, p: two_factor.Pending, method: str) -> dict[str, Any]:
    ctx = call.pages.auth.ctx
    record = ctx.two_factor.get_two_factor(p.user.id) if ctx.two_factor else None
    methods = two_factor.methods_for(ctx, p.user, record, setup=p.setup)
    if method not in methods:
        method = methods[0] if methods else "setup"
    return {
        "method": method,
        "methods": methods,
        "setup_challenge": p.setup,
        "trust_days": ctx.settings.trusted_device_lifetime // 86400,
        "can_trust": ctx.settings.trusted_device_lifetime > 0,
        "totp_offered": two_factor.TOTP in ctx.settings.two_factor_methods,
    }


def _two_factor_verify(call: PageCall) -> ApiResponse:
    """The sign-in's second step: a code from the app, a recovery code or an emailed one."""
    ctx = call.pages.auth.ctx
    challenge = call.request.cookies.get(challenge_cookie_name(call), "")
    try:
        p = two_factor.pending(ctx, challenge)
    except AuthError:
        _drop_challenge(call)
        return call.redirect(call.url("login", next=call.next_url("")),
                             N_("Please sign in again."), "info")  # fmt: skip
    method = call.form.get("method") or call.request.query.get("method") or two_factor.TOTP
    context = _verify_context(call, p, method)
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "send_email":
            two_factor.send_email_code(ctx, challenge, call.client)
            call.flash(N_("We have emailed you a code."), "info")
            return call.redirect(call.url("two_factor_verify", method="email",
                                          next=call.next_url("")))  # fmt: skip
        if action == "start_setup":
            setup = two_factor.totp_setup(ctx, challenge=challenge, client=call.client)
            return call.render(template="authgate/totp_setup.html", setup=setup,
                               via_challenge=True, **context)  # fmt: skip
        if action == "enable":
            codes, result = two_factor.totp_enable(
                ctx, None, call.form.get("code"), challenge=challenge, client=call.client
            )
            assert result is not None and result.session_token is not None
            _drop_challenge(call)
            response = call.render(template="authgate/recovery_codes.html", codes=codes,
                                   continue_url=call.next_url())  # fmt: skip
            call.pages.api.credentials.set_session_cookie(response, result.session_token,
                                                          result.session)  # fmt: skip
            return response
        if action == "verify":
            result = two_factor.verify(
                ctx, challenge, call.form.get("code"), method=context["method"],
                trust_device=call.form.get("trust_device") == "on", body=call.form,
                client=call.client,
            )  # fmt: skip
            assert result.session_token is not None
            _drop_challenge(call)
            response = call.redirect(call.next_url())
            call.pages.api.credentials.set_session_cookie(response, result.session_token,
                                                          result.session)  # fmt: skip
            set_trusted_device_cookie(call.pages.auth, response, result.trusted_device)
            return response
    except InvalidToken:
        _drop_challenge(call)
        return call.redirect(call.url("login", next=call.next_url("")),
                             N_("Please sign in again."), "info")  # fmt: skip
    except AuthError as exc:
        template = "authgate/totp_setup.html" if action == "enable" else None
        return call.render(error=exc, template=template, via_challenge=True, setup=None,
                           retry=True, **context)  # fmt: skip
    return call.render(**context)


def _two_factor(call: PageCall) -> ApiResponse:
    """The account's second factors: status, emailed codes, recovery codes, turning off,
    trusted devices."""
    ctx = call.pages.auth.ctx
    email_offered = two_factor.EMAIL in ctx.settings.two_factor_methods
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "regenerate":
            codes = two_factor.regenerate_recovery_codes(ctx, call.user, token=call.token,
                                                         client=call.client)  # fmt: skip
            return call.render(template="authgate/recovery_codes.html", codes=codes,
                               continue_url=call.url("two_factor"))  # fmt: skip
        if action == "enable_email":
            codes = two_factor.enable_email_codes(ctx, call.user, token=call.token,
                                                  client=call.client)  # fmt: skip
            if not codes:  # already on, or recovery codes kept from before
                return call.redirect(call.url("two_factor"))
            return call.render(template="authgate/recovery_codes.html", codes=codes,
                               continue_url=call.url("two_factor"))  # fmt: skip
        if action == "disable":
            two_factor.totp_disable(ctx, call.user, call.form.get("password"),
                                    token=call.token, client=call.client)  # fmt: skip
            return call.redirect(call.url("two_factor"),
                                 N_("Two-step verification is turned off."), "info")  # fmt: skip
        if action == "forget_devices":
            two_factor.forget_trusted_devices(ctx, call.user, call.client)
            call.cookies.append(format_cookie(trusted_device_cookie_name(call.pages.auth), "",
                                              max_age=0, secure=call.pages.secure))  # fmt: skip
            return call.redirect(call.url("two_factor"),
                                 N_("Every trusted device will ask for a code again."))  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, field_names={"credentials": "password"},
                           status_info=two_factor.status(ctx, call.user),
                           email_offered=email_offered)  # fmt: skip
    return call.render(status_info=two_factor.status(ctx, call.user), email_offered=email_offered)


def _totp_setup(call: PageCall) -> ApiResponse:
    """Set up an authenticator app: the QR code and secret only ever answer a POST."""
    ctx = call.pages.auth.ctx
    action = call.form.get("action") if call.is_post else None
    try:
        if action == "start":
            setup = two_factor.totp_setup(ctx, call.user, token=call.token, client=call.client)
            return call.render(setup=setup)
        if action == "enable":
            codes, _ = two_factor.totp_enable(ctx, call.user, call.form.get("code"),
                                              token=call.token, client=call.client)  # fmt: skip
            return call.render(template="authgate/recovery_codes.html", codes=codes,
                               continue_url=call.url("two_factor"))  # fmt: skip
    except ReauthRequired:
        raise
    except AuthError as exc:
        return call.render(error=exc, setup=None, retry=action == "enable")
    return call.render(setup=None)


#: Every page, in the order of the account menu for those listed there.
PAGES: tuple[Page, ...] = (
    Page("login", "/login", "authgate/login.html", _login, guest=True),
    Page("register", "/register", "authgate/register.html", _register, guest=True,
         feature="registerable"),
    Page("login_or_register", "/login-or-register", "authgate/login_or_register.html",
         _login_or_register, guest=True),
    Page("logout", "/logout", "authgate/logout.html", _logout),
    Page("forgot_password", "/forgot", "authgate/forgot_password.html", _forgot_password,
         feature="recoverable"),
    Page("reset_password", "/reset-password", "authgate/reset_password.html", _reset_password,
         feature="recoverable", shared=True),
    Page("verify_email", "/verify-email", "authgate/verify_email.html", _verify_email,
         shared=True),
    Page("send_confirmation", "/confirm", "authgate/send_confirmation.html", _send_confirmation,
         feature="confirmable"),
    Page("magic_link", "/magic-link", "authgate/magic_link.html", _magic_link,
         feature="passwordless", guest=True),
    Page("magic_link_verify", "/magic-link/verify", "authgate/magic_link_verify.html",
         _magic_link_verify, feature="passwordless", shared=True),
    Page("accept_invitation", "/sign-up", "authgate/accept_invitation.html", _accept_invitation,
         feature="registerable"),
    Page("locale", "/locale", "", _set_locale),
    Page("profile", "/account", "authgate/profile.html", _profile, member=True,
         nav=N_("Profile")),
    Page("change_password", "/account/password", "authgate/change_password.html",
         _change_password, member=True, feature="changeable", nav=N_("Password")),
    Page("change_username", "/account/username", "authgate/change_username.html",
         _change_username, member=True, feature="usernames", nav=N_("Username")),
    Page("change_email", "/account/email", "authgate/change_email.html", _change_email,
         member=True, feature="change_email", nav=N_("Change your email address")),
    Page("emails", "/account/emails", "authgate/emails.html", _emails, member=True,
         feature="multiple_emails", nav=N_("Email addresses")),
    Page("sessions", "/account/sessions", "authgate/sessions.html", _sessions, member=True,
         nav=N_("Signed-in devices")),
    Page("passkeys", "/account/passkeys", "authgate/passkeys.html", _passkeys, member=True,
         feature="passkeys", nav=N_("Passkeys")),
    Page("api_keys", "/account/api-keys", "authgate/api_keys.html", api_keys_page, member=True,
         feature="api_keys", nav=N_("API keys")),
    Page("two_factor", "/account/two-factor", "authgate/two_factor.html", _two_factor,
         member=True, feature="two_factor", nav=N_("Two-step verification")),
    Page("totp_setup", "/account/two-factor/setup", "authgate/totp_setup.html", _totp_setup,
         member=True, feature="two_factor"),
    Page("two_factor_verify", "/login/two-factor", "authgate/two_factor_verify.html",
         _two_factor_verify, feature="two_factor"),
    Page("reauthenticate", "/account/reauthenticate", "authgate/reauthenticate.html",
         _reauthenticate, member=True),
    Page("delete_account", "/account/delete", "authgate/delete_account.html", _delete_account,
         member=True, nav=N_("Delete account")),
)  # fmt: skip


# -- the engine ---------------------------------------------------------------------------
#: Member pages open while the set-up of an enforced second factor is due.
_SETUP_EXEMPT = frozenset({"two_factor", "totp_setup", "reauthenticate", "logout"})


def _page_form(request: ApiRequest) -> bool:
    """A form posted by one of our pages (it carries ``csrf_token``).

    An emailed link's landing path is also a JSON route that takes the
    urlencoded form of the API's own plain confirm page (with its ``nonce``,
    :mod:`authgate.web.links`); that one stays the API's, as documented.
    """
    if not request.is_form or request.body_too_large:
        return False
    try:
        return "csrf_token" in request.form()
    except AuthError:
        return False


class AuthPages:
    """The pages of one :class:`~authgate.web.api.AuthAPI`, in front of it at the same prefix.

    Args:
        api: the JSON API (its prefix, credentials and ``Auth``).
        template_dirs: the app's template folders (searched before the
            package's; the ``Auth``'s ``template_dirs`` come after them).
    """

    def __init__(self, api: AuthAPI, template_dirs: tuple[str, ...] | list[str] = ()) -> None:
        self.api = api
        self.auth = api.auth
        settings = self.auth.settings
        dirs = [str(d) for d in template_dirs]
        dirs += [str(d) for d in self.auth.mail.renderer.template_dirs if str(d) not in dirs]
        self.templates = PageTemplates(dirs)
        self.pages: tuple[Page, ...] = PAGES
        self._by_path = {page.path: page for page in self.pages}
        self._by_name = {page.name: page for page in self.pages}
        self.secure = settings.secure_cookies
        self.flow_cookie_name = api.credentials.flow_cookie_name
        self.flash_cookie_name = ("__Host-" if self.secure else "") + FLASH_COOKIE
        self.flash_serializer = flash_serializer(settings.secrets)
        self.form_signer = form_signer(settings.secrets)
        folder = resources.files("authgate") / "static" / "authgate"
        self._static = {name: (folder / name).read_bytes() for name in STATIC_FILES}
        self._versions = {
            name: hashlib.sha256(data).hexdigest()[:12] for name, data in self._static.items()
        }

    # -- addresses -------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """Where the pages (and the API) are mounted."""
        return self.api.prefix

    def url(self, name: str, **query: str) -> str:
        """The path of the page ``name``, with ``query`` (e.g. ``next``; empty values left out)."""
        path = self.prefix + self._by_name[name].path
        query = {key: value for key, value in query.items() if value}
        return f"{path}?{urlencode(query)}" if query else path

    def static_url(self, name: str) -> str:
        """The URL of a static file, with its content hash (it is cached for a year)."""
        return f"{self.prefix}/static/{name}?v={self._versions[name]}"

    def enabled(self, page: Page) -> bool:
        """Whether the page's feature is on."""
        return page.feature is None or bool(getattr(self.auth.settings, page.feature))

    def features(self) -> dict[str, bool]:
        """The switches templates look at (to link only to pages that exist)."""
        s = self.auth.settings
        names = ("registerable", "recoverable", "confirmable", "passwordless", "usernames",
                 "multiple_emails", "change_email", "changeable", "invite_only",
                 "two_factor", "passkeys")  # fmt: skip
        return {name: bool(getattr(s, name)) for name in names}

    def nav(self, current: str) -> list[tuple[str, str, str, bool]]:
        """The account menu: ``(name, label message id, path, is current)``."""
        return [
            (page.name, page.nav, self.url(page.name), page.name == current)
            for page in self.pages if page.nav is not None and self.enabled(page)
        ]  # fmt: skip

    # -- serving ---------------------------------------------------------------------
    def page_for(self, request: ApiRequest) -> Page | None:
        """The page that serves ``request``, or ``None`` (the API's then)."""
        page = self._by_path.get(request.path.rstrip("/") or "/")
        if page is None or not self.enabled(page):
            return None
        if page.shared:
            if request.method in ("GET", "HEAD"):
                return None if request.wants_json else page
            return page if request.method == "POST" and _page_form(request) else None
        return page

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Serve ``request`` (path below the prefix): a page, a static file, or the JSON API."""
        if request.path.startswith("/static/"):
            return self._static_file(request)
        page = self.page_for(request)
        if page is None:
            return self.api.handle(request)
        return self.serve(page, request)

    def serve(self, page: Page, request: ApiRequest) -> ApiResponse:
        """Run ``page`` for ``request``: sign-in and CSRF checks, then its handler."""
        allowed = ("GET", "HEAD", "OPTIONS", "POST")
        if request.method == "OPTIONS":
            return ApiResponse(status=204, headers=[("Allow", ", ".join(allowed))])
        locale = self.api.locale(request)
        with use_locale(locale):
            if request.method not in allowed:
                return self.api.error(MethodNotAllowed(allowed=allowed))
            try:
                form: dict[str, str] = {}
                if request.method == "POST":
                    if request.body_too_large:
                        raise PayloadTooLarge()
                    if not request.is_form:
                        raise UnsupportedMediaType("Pages take HTML forms (urlencoded).")
                    form = request.form()
            except AuthError as exc:
                return self.api.error(exc)
            call = PageCall(self, page, request, locale, self.principal(request), form)
            return self._run(call)

    def _run(self, call: PageCall) -> ApiResponse:
        page, request = call.page, call.request
        if page.member and call.principal is None:
            here = self.prefix + page.path
            if request.method != "POST" and request.query:
                here += "?" + urlencode(request.query)
            return call.redirect(login_redirect(self.api, here))
        if page.guest and call.principal is not None and request.method != "POST":
            return call.redirect(call.next_url())
        if (
            page.member
            and page.name not in _SETUP_EXEMPT
            and two_factor.TOTP in self.auth.settings.two_factor_methods
            and two_factor.setup_status(self.auth.ctx, call.user) is not None
        ):  # enforcement's grace period: the set-up first
            return call.redirect(self.url("totp_setup"),
                                 N_("Please set up two-step verification for your account."),
                                 "info")  # fmt: skip
        try:
            if request.method == "POST":
                try:
                    call.check_csrf()
                except CSRFFailed as exc:
                    call.pending_error = exc  # the page again, saying so; nothing is done
            return page.handler(call)
        except ReauthRequired:
            here = self.prefix + page.path
            return call.redirect(self.url("reauthenticate", next=here), _REAUTH_MESSAGE, "info")
        except AuthError as exc:
            return call.render(error=exc, template="authgate/error.html")
        except Exception:
            ref = uuid.uuid4().hex[:12]
            logger.exception("unhandled error on the %s page (ref %s)", page.name, ref)
            return call.render(error=InternalError(ref), template="authgate/error.html")

    def principal(self, request: ApiRequest) -> Principal | None:
        """The signed-in visitor (session cookie only: pages are for browsers), or ``None``."""
        cookie = request.cookies.get(self.api.credentials.cookie_name)
        if not cookie:
            return None
        try:
            info = sessions.get_session(self.auth.ctx, cookie)
        except AuthError:
            return None
        return Principal(info.user, "session", info, cookie)

    def _static_file(self, request: ApiRequest) -> ApiResponse:
        name = request.path[len("/static/") :]
        if name not in self._static:
            return self.api.handle(request)  # the API's JSON 404
        if request.method not in ("GET", "HEAD"):
            return self.api.error(MethodNotAllowed(allowed=("GET", "HEAD")))
        return ApiResponse(
            status=200, body=self._static[name], content_type=STATIC_FILES[name],
            headers=[("Cache-Control", "public, max-age=31536000, immutable"),
                     ("X-Content-Type-Options", "nosniff"),
                     ("ETag", f'"{self._versions[name]}"')],
        )  # fmt: skip
