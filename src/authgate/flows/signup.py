"""Self-service sign-up.

The INSERT is the arbiter of uniqueness: there is no check-then-insert, and a
lost race comes back from the store as ``UserExists``. With ``confirmable``
on, an address that is already registered gets exactly the answer a new one
would (a look-alike user that is never stored, no token), after the same
amount of work (one password hash), so sign-up cannot be used to learn who
has an account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import FeatureDisabled, InvalidToken, UserExists, ValidationError
from authgate.flows import audit, invitations
from authgate.flows.confirmation import send_confirmation_to
from authgate.flows.links import within_send_limit
from authgate.flows.sessions import start_session
from authgate.flows.validation import (
    check_app_fields,
    identifiers_of,
    signup_fields,
    valid_email,
    valid_username,
)
from authgate.models import Notice, canonical_email
from authgate.results import AuthResult
from authgate.stores._common import primary_key

__all__ = ["sign_up"]


def sign_up(
    ctx: Context,
    email: object,
    password: object,
    *,
    username: object = None,
    fields: Mapping[str, Any] | None = None,
    invite_token: object = None,
    client: Client = NO_CLIENT,
) -> AuthResult:
    """Register a new user and, unless confirmation is required first, sign them in.

    Args:
        email: the address; validated and normalised (domain lower-cased).
        password: checked against the password policy.
        username: required when ``usernames`` is on; refused otherwise.
        fields: values for the app's own user columns that the app allows at
            sign-up (``signup_fields``); any other name (``is_admin``,
            ``roles``, ``is_active``, ``id``...) is a ``VALIDATION_ERROR``.
        invite_token: an invitation for this address; required when
            ``invite_only`` is on. It confirms the address.
        client: IP and user agent for the session.
    """
    settings = ctx.settings
    if not settings.registerable:
        raise FeatureDisabled("Sign-up is not enabled.")
    if settings.invite_only and invite_token is None:
        raise FeatureDisabled("Sign-up is by invitation only.")
    problems: list[ValidationError] = []
    clean_email = clean_username = None
    try:
        clean_email = valid_email(email)
    except ValidationError as exc:
        problems.append(exc)
    if settings.usernames:
        try:
            clean_username = valid_username(username)
        except ValidationError as exc:
            problems.append(exc)
    elif username is not None:
        problems.append(ValidationError(fields={"username": "unknown_field"}))
    extra: dict[str, Any] = {}
    try:
        extra = check_app_fields(
            ctx.user_model, fields or {}, signup_fields(settings, ctx.user_model)
        )
    except ValidationError as exc:
        problems.append(exc)
    try:
        secret = ctx.policy.validate(
            password, identifiers_of(clean_email, clean_username, settings.site_name)
        )
    except ValidationError as exc:
        problems.append(exc)
    if problems:
        # Every field's reason, and every sentence (the password's states the limits).
        raise ValidationError(
            # One problem keeps its message as it is (translatable with its values).
            problems[0].message if len(problems) == 1 else " ".join(e.message for e in problems),
            fields={name: reason for exc in problems for name, reason in exc.fields.items()},
        )
    assert clean_email is not None
    invitation = None
    if invite_token is not None:
        invitation = invitations.check_invitation(ctx, invite_token, clean_email)

    password_hash = ctx.hasher.hash(secret)
    values: dict[str, Any] = {
        **extra,
        "email": clean_email,
        "username": clean_username,
        "password_hash": password_hash,
        "is_active": True,
        "email_confirmed_at": ctx.now() if invitation is not None else None,
    }
    needs_confirmation = settings.confirmable and values["email_confirmed_at"] is None
    notices: tuple[Notice, ...] = ()
    if not needs_confirmation and settings.notify_registered:
        # Stored with the user; rendered for the user about to be created.
        notices = ctx.outbox.prepare(
            "welcome", clean_email, ctx.user_model(**{**values, "password_hash": None}),
            new_user=True,
        )  # fmt: skip
    try:
        user = ctx.users.create_user(values, outbox=notices)
    except UserExists as exc:
        if settings.confirmable and exc.field == "email":
            # Same shape, same status, no token: indistinguishable from a new sign-up;
            # the owner of the address is told instead.
            owner = ctx.users.get_user_by_email(canonical_email(clean_email))
            # Recorded for the owner (one write, as a new sign-up makes): they see it.
            audit.record(ctx, "sign_up", outcome="failure", user=owner, client=client,
                         reason="exists")  # fmt: skip
            if owner is not None and within_send_limit(
                ctx, "registration_attempt", owner.email_canonical
            ):
                ctx.outbox.send("registration_attempt", owner.email, owner)
            return AuthResult(user=_look_alike(ctx, values), token=None)
        raise
    if invitation is not None:
        # Claimed once the account exists: a sign-up that fails (database down,
        # address taken) leaves the invitation usable. A claim lost to an earlier
        # use (an account made with it and deleted since) undoes this one.
        try:
            invitations.claim_invitation(ctx, invitation)
        except InvalidToken:
            ctx.users.delete_user(user.id)
            ctx.outbox.discard(notices)
            raise

    try:  # the account exists: its welcome goes out whatever fails from here on
        audit.record(ctx, "sign_up", user=user, client=client)
        # Counted like a resend: the sign-up's link and the resends share one
        # per-address hourly limit (a brand-new address is always within it).
        if needs_confirmation and within_send_limit(ctx, "confirm_email", user.email_canonical):
            send_confirmation_to(ctx, user)
    finally:
        ctx.outbox.deliver(notices, user)
    if needs_confirmation and not settings.login_without_confirmation:
        result = AuthResult(user=user, token=None)
    else:
        result = start_session(ctx, user, stamp=user.security_stamp, client=client)
    signals.user_registered.send(ctx.sender, user=user)
    return result


def _look_alike(ctx: Context, values: Mapping[str, Any]) -> Any:
    """The user a new sign-up with ``values`` would have been, never stored.

    Its id comes from where a real one would: the model's own default (a
    random UUID), or the database's key generator, spent, for a key the
    database assigns (an ``"id": "None"`` would tell a taken address apart,
    finding S3).
    """
    user = ctx.user_model(**{**values, "password_hash": None})
    key = primary_key(ctx.user_model).key
    if getattr(user, key, None) is None:
        setattr(user, key, ctx.users.reserve_user_id())
    return user
