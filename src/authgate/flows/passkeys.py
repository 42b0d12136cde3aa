"""WebAuthn passkeys: register, list, rename, delete, and sign in with one (``passkeys``).

The ceremonies are verified by the `webauthn` package (py_webauthn); this
module decides who may do what and keeps the records.

**Challenges.** Each ceremony starts with options carrying a fresh 32-byte
challenge from :mod:`secrets`. The server keeps nothing: the challenge
travels in a *state*, an itsdangerous token signed like the emailed links
(purpose-salted, :class:`~authgate.tokens.EmailTokens`) that the options
answer carries as ``state`` and the web layer also sets as a cookie. The
state expires after :data:`CHALLENGE_LIFETIME` (5 minutes), is claimed once
in the single-use claim store when it is presented (a replay, even of a
ceremony that failed, is refused), and is bound to who asked: a
registration state names the session that asked for it (another session,
even of the same user, cannot use it); a sign-in state is held by the
browser or client that asked (its cookie, or its ``state`` field).

**Relying party.** The RP id and the accepted origins come from settings
(:func:`~authgate.settings.webauthn_relying_party`), never from a request.

**Sign-in.** The credential is found by its id; the user handle the
authenticator returns must be its owner's, and when the options named an
email, the owner must be that account (another user's passkey is refused).
A sign count that does not grow (for an authenticator that counts) means a
cloned authenticator: refused and recorded as ``passkey_sign_count``. A
passkey proves possession and, with user verification (a PIN or biometric
on the authenticator), a second factor: such a sign-in is never asked for
another one. Without user verification it is one factor, like a password:
an account with a second factor then answers ``TWO_FACTOR_REQUIRED``.

**Second factor.** With ``two_factor`` on, a user who has a passkey is enrolled
in two-step verification and ``passkey`` is one of the methods of
``TWO_FACTOR_REQUIRED``: ``POST /two-factor/verify {challenge, method:
"passkey", credential, state}`` with an assertion to options from
``POST /passkey/sign-in/options``; only the user's own passkey counts. A
passkey sign-in with user verification is never asked for a second factor.

**Freshness.** Registering and deleting a passkey need a fresh session
(``REAUTH_REQUIRED``); every change is an audit event and an email. A passkey
of the session's own user makes a session fresh again
(:func:`reauthenticate_with_passkey`, ``POST /reauthenticate {credential,
state}``); another user's never does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    AccountDisabled,
    FeatureDisabled,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    ValidationError,
)
from authgate.flows import audit, two_factor
from authgate.flows.sessions import require_fresh, session_record, start_session
from authgate.flows.signin import record_sign_in
from authgate.flows.validation import require_text
from authgate.models import PasskeyRecord, canonical_email, credential_digest
from authgate.results import AuthResult
from authgate.settings import webauthn_relying_party
from authgate.tokens import derive_key, new_session_token, state_fingerprint, token_digest

__all__ = [
    "CHALLENGE_LIFETIME",
    "PASSKEY",
    "Options",
    "delete_passkey",
    "has_passkeys",
    "list_passkeys",
    "reauthenticate_with_passkey",
    "register_passkey",
    "registration_options",
    "remove_all_passkeys",
    "rename_passkey",
    "reset_second_factors",
    "sign_in_options",
    "sign_in_with_passkey",
    "verify_second_factor",
]

#: Seconds a ceremony's challenge lives (SECURITY.md #55: at most 5 minutes).
CHALLENGE_LIFETIME = 300
#: Bytes of randomness in a challenge (at least 16: SECURITY.md #55).
CHALLENGE_BYTES = 32
#: The session ``method`` of a passkey sign-in.
PASSKEY = "passkey"
#: At most this many passkeys per user.
MAX_PASSKEYS = 50
#: Longest passkey name.
MAX_NAME = 100
#: Longest credential (JSON) accepted, in characters of its encoding.
MAX_CREDENTIAL = 16_384
_REGISTER = "passkey_register"
_SIGN_IN = "passkey_sign_in"


@dataclass(frozen=True)
class Options:
    """The options of a ceremony and the state that must come back with its answer.

    ``options`` is WebAuthn's JSON (``navigator.credentials.create/get``'s
    ``publicKey``, binary values in base64url); :meth:`to_dict` adds ``state``.
    """

    options: dict[str, Any]
    state: str

    def to_dict(self) -> dict[str, Any]:
        """The options, with ``state`` (send it back, or keep the cookie the API sets)."""
        return {**self.options, "state": self.state}


def _webauthn() -> Any:
    try:
        import webauthn
    except ImportError:  # pragma: no cover - the mfa extra
        raise ImportError(
            'passkeys need the webauthn package: pip install "authgate[mfa]"'
        ) from None
    return webauthn


def _enabled(ctx: Context) -> None:
    if not ctx.settings.passkeys or ctx.passkeys is None:
        raise FeatureDisabled("Passkeys are not enabled.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def user_handle(user: Any) -> bytes:
    """The WebAuthn user handle of ``user``: its id (random, no personal data), as bytes."""
    return str(user.id).encode("utf-8")


def _rp_name(ctx: Context) -> str:
    return ctx.settings.webauthn_rp_name or ctx.settings.site_name


def _uv(ctx: Context) -> Any:
    from webauthn.helpers.structs import UserVerificationRequirement

    return UserVerificationRequirement(ctx.settings.webauthn_user_verification)


def _to_json(options: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(_webauthn().options_to_json(options))
    return parsed


def _descriptor(credential_id: bytes, transports: tuple[str, ...] = ()) -> Any:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    known = {t.value for t in AuthenticatorTransport}
    kinds = [AuthenticatorTransport(t) for t in transports if t in known]
    return PublicKeyCredentialDescriptor(id=credential_id, transports=kinds or None)


# -- state -------------------------------------------------------------------------------------
def _issue_state(
    ctx: Context, purpose: str, user_id: Any, bound_to: str, data: dict[str, Any]
) -> tuple[bytes, str]:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    state = ctx.email_tokens.issue(
        purpose, user_id, state_fingerprint(purpose, bound_to), {"c": _b64(challenge), **data}
    )
    return challenge, state


def _redeem_state(ctx: Context, purpose: str, state: object, bound_to: str) -> tuple[bytes, Any]:
    """The challenge of a state (claimed now, once) and its payload; ``INVALID_TOKEN`` else."""
    payload = ctx.email_tokens.verify(purpose, state, CHALLENGE_LIFETIME)
    if not hmac.compare_digest(payload.fingerprint, state_fingerprint(purpose, bound_to)):
        raise InvalidToken()
    challenge = payload.data.get("c")
    if not isinstance(challenge, str):
        raise InvalidToken()
    if not ctx.tokens.claim_token(
        payload.jti, purpose, payload.user_id, payload.expires_at, ctx.now()
    ):
        raise InvalidToken()  # replayed: every state works once, failed ceremonies included
    return _unb64(challenge), payload


def _credential(value: object) -> dict[str, Any]:
    """The credential a browser answered (a JSON object, or its text)."""
    if isinstance(value, str) and len(value) <= MAX_CREDENTIAL:
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError(fields={"credential": "invalid"}) from None
    if value is None:
        raise ValidationError(fields={"credential": "required"})
    if not isinstance(value, dict) or len(json.dumps(value)) > MAX_CREDENTIAL:
        raise ValidationError(fields={"credential": "invalid"})
    return value


# -- registration ------------------------------------------------------------------------------
def registration_options(
    ctx: Context, user: Any, *, token: object = None, client: Client = NO_CLIENT
) -> Options:
    """Options for ``navigator.credentials.create()`` to add a passkey to ``user``.

    Args:
        user: the signed-in user.
        token: the caller's session or access token: its session must be fresh,
            and the state works in that session only. ``None`` from Python (the
            app vouches; the state then works only without a session too).
        client: who asked.

    Raises:
        FeatureDisabled, ReauthRequired, ValidationError (too many passkeys).
    """
    _enabled(ctx)
    assert ctx.passkeys is not None
    session = require_fresh(ctx, user, token, kind="passkey_register", client=client)
    existing = ctx.passkeys.list_passkeys(user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise ValidationError(
            f"At most {MAX_PASSKEYS} passkeys per account: remove one first.",
            fields={"credential": "too_many"},
        )
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
    )

    rp_id, _ = webauthn_relying_party(ctx.settings)
    bound = "" if session is None else session.id
    challenge, state = _issue_state(ctx, _REGISTER, user.id, bound, {})
    options = _webauthn().generate_registration_options(
        rp_id=rp_id,
        rp_name=_rp_name(ctx),
        user_id=user_handle(user),
        user_name=user.email,
        user_display_name=getattr(user, "username", None) or user.email,
        challenge=challenge,
        timeout=CHALLENGE_LIFETIME * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=_uv(ctx)
        ),
        exclude_credentials=[_descriptor(p.credential_id, p.transports) for p in existing],
    )
    return Options(_to_json(options), state)


def register_passkey(
    ctx: Context,
    user: Any,
    credential: object,
    state: object,
    *,
    name: object = None,
    token: object = None,
    client: Client = NO_CLIENT,
) -> PasskeyRecord:
    """Verify an attestation (the answer to :func:`registration_options`) and keep the passkey.

    Args:
        user: the signed-in user (the owner of the new passkey).
        credential: what ``navigator.credentials.create()`` answered, as JSON.
        state: the options' ``state``.
        name: a label (default "Passkey" and a number).
        token: the caller's session or access token: its session must be fresh,
            and be the one the state was issued to.

    Raises:
        InvalidToken: the state is missing, expired, used, or of another session.
        ValidationError: the attestation does not verify (wrong origin, RP id,
            challenge...), or the credential is registered already.
        ReauthRequired, FeatureDisabled.
    """
    _enabled(ctx)
    assert ctx.passkeys is not None
    label = None if name is None or name == "" else require_text(name, "name", MAX_NAME).strip()
    body = _credential(credential)
    session = require_fresh(ctx, user, token, kind="passkey_register", client=client)
    bound = "" if session is None else session.id
    challenge, payload = _redeem_state(ctx, _REGISTER, state, bound)
    if payload.user_id != str(user.id):
        raise InvalidToken()
    from webauthn.helpers.exceptions import WebAuthnException

    rp_id, origins = webauthn_relying_party(ctx.settings)
    try:
        verified = _webauthn().verify_registration_response(
            credential=body,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=list(origins),
            require_user_verification=ctx.settings.webauthn_user_verification == "required",
        )
    except (WebAuthnException, ValueError, KeyError, TypeError, binascii.Error):
        audit.record(ctx, "passkey_register", outcome="failure", user=user, client=client,
                     reason="attestation")  # fmt: skip
        raise ValidationError(
            "The passkey could not be verified.", fields={"credential": "invalid"}
        ) from None
    existing = ctx.passkeys.list_passkeys(user.id)
    transports = body.get("response", {}).get("transports") or []
    record = PasskeyRecord(
        id=secrets.token_hex(12),  # hex: an id never starts with "-" (a CLI argument)
        user_id=str(user.id),
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=label or f"Passkey {len(existing) + 1}",
        created_at=ctx.now(),
        transports=tuple(str(t)[:32] for t in transports if isinstance(t, str))[:8],
        aaguid=str(verified.aaguid),
        backup_eligible=verified.credential_device_type == "multi_device",
        backed_up=bool(verified.credential_backed_up),
    )
    if not ctx.passkeys.create_passkey(record):
        raise ValidationError(
            "This passkey is registered already.", fields={"credential": "exists"}
        )
    audit.record(ctx, "passkey_register", user=user, client=client, passkey_id=record.id)
    _notify(ctx, user, "passkey_added", record.name)
    return record


def _notify(ctx: Context, user: Any, kind: str, name: str) -> None:
    if ctx.settings.notify_passkeys:
        ctx.outbox.send(kind, user.email, user, passkey_name=name)


# -- management --------------------------------------------------------------------------------
def list_passkeys(ctx: Context, user: Any) -> list[PasskeyRecord]:
    """The user's own passkeys, oldest first (``record.to_dict()`` for JSON)."""
    _enabled(ctx)
    assert ctx.passkeys is not None
    return ctx.passkeys.list_passkeys(user.id)


def rename_passkey(
    ctx: Context, user: Any, passkey_id: object, name: object, *, client: Client = NO_CLIENT
) -> PasskeyRecord:
    """Rename one of the user's passkeys.

    Raises:
        NotFound: no such passkey of this user (another user's id answers the same).
        ValidationError: no id, or no name (or one over 100 characters).
    """
    _enabled(ctx)
    assert ctx.passkeys is not None
    ident = require_text(passkey_id, "id", 64)
    label = require_text(name, "name", MAX_NAME).strip()
    record = ctx.passkeys.rename_passkey(ident, user.id, label)
    if record is None:
        raise NotFound("No such passkey.")
    audit.record(ctx, "passkey_rename", user=user, client=client, passkey_id=ident)
    return record


def delete_passkey(
    ctx: Context, user: Any, passkey_id: object, *, token: object, client: Client = NO_CLIENT
) -> None:
    """Remove one of the user's passkeys (a fresh session with ``token``).

    Raises:
        NotFound: no such passkey of this user (another user's id answers the same).
        ReauthRequired: the session is not fresh.
    """
    _enabled(ctx)
    assert ctx.passkeys is not None
    ident = require_text(passkey_id, "id", 64)
    require_fresh(ctx, user, token, kind="passkey_delete", client=client)
    mine = {p.id: p for p in ctx.passkeys.list_passkeys(user.id)}
    if ident not in mine or not ctx.passkeys.delete_passkey(ident, user.id):
        raise NotFound("No such passkey.")
    audit.record(ctx, "passkey_delete", user=user, client=client, passkey_id=ident)
    _notify(ctx, user, "passkey_removed", mine[ident].name)


def remove_all_passkeys(ctx: Context, user: Any, *, actor: str = "admin") -> int:
    """An administrator's rescue (``authgate users reset-two-factor``): remove every passkey of
    ``user`` (lost with the device that held them), audited and mailed; returns how many.

    Works whether or not ``passkeys`` is on, so the command line can clean up after it was
    turned off.

    Raises:
        FeatureDisabled: the store keeps no passkeys.
    """
    if ctx.passkeys is None:
        raise FeatureDisabled("This store keeps no passkeys.")
    removed = 0
    for passkey in ctx.passkeys.list_passkeys(user.id):
        if ctx.passkeys.delete_passkey(passkey.id, user.id):
            removed += 1
            audit.record(ctx, "passkey_delete", user=user, actor=actor, passkey_id=passkey.id)
            _notify(ctx, user, "passkey_removed", passkey.name)
    return removed


def reset_second_factors(
    ctx: Context, user: Any, *, keep_passkeys: bool = False, actor: str = "admin"
) -> int:
    """:func:`~authgate.flows.two_factor.reset_two_factor` and, unless ``keep_passkeys``,
    :func:`remove_all_passkeys` (where the store keeps passkeys): the whole rescue of
    ``authgate users reset-two-factor``. Returns how many passkeys were removed."""
    two_factor.reset_two_factor(ctx, user, actor=actor)
    if keep_passkeys or ctx.passkeys is None:
        return 0
    return remove_all_passkeys(ctx, user, actor=actor)


# -- sign-in -----------------------------------------------------------------------------------
def _decoy_ids(ctx: Context, canonical: str) -> list[bytes]:
    """A stable made-up credential id for an address without passkeys (no enumeration)."""
    key = derive_key(ctx.settings, "passkey-decoy")
    return [hmac.new(key, canonical.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()]


def sign_in_options(ctx: Context, email: object = None) -> Options:
    """Options for ``navigator.credentials.get()``: a passwordless sign-in, or a second factor.

    Without ``email`` the browser offers the passkeys it holds for this site
    (discoverable credentials, conditional UI). With it, ``allowCredentials``
    lists that account's passkeys, and the answer must come from one of them;
    an unknown address, or one without passkeys, gets the same shape (a
    made-up credential that never matches).

    The state is the caller's to keep (the web layer also sets it as a
    cookie): whoever asked holds it, and it works once.

    Args:
        email: optional: the account signing in (a second factor names it).

    Raises:
        FeatureDisabled, ValidationError (an email that is not text).
    """
    _enabled(ctx)
    assert ctx.passkeys is not None
    rp_id, _ = webauthn_relying_party(ctx.settings)
    allowed: list[Any] = []
    data: dict[str, Any] = {}
    if email is not None and email != "":
        canonical = canonical_email(require_text(email, "email", 320).strip())
        user = ctx.users.get_user_by_email(canonical)
        mine = ctx.passkeys.list_passkeys(user.id) if user is not None else []
        if user is not None:
            data["u"] = str(user.id)
        else:
            data["u"] = "-"  # nobody: no passkey can answer
        allowed = [_descriptor(p.credential_id, p.transports) for p in mine] or [
            _descriptor(i) for i in _decoy_ids(ctx, canonical)
        ]
    challenge, state = _issue_state(ctx, _SIGN_IN, None, "", data)
    options = _webauthn().generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=CHALLENGE_LIFETIME * 1000,
        allow_credentials=allowed,
        user_verification=_uv(ctx),
    )
    return Options(_to_json(options), state)


@dataclass(frozen=True)
class _Asserted:
    user: Any
    passkey: PasskeyRecord
    user_verified: bool


def _verify_assertion(
    ctx: Context,
    credential: object,
    state: object,
    *,
    expected_user: Any | None,
    client: Client,
    kind: str,
) -> _Asserted:
    """Check an assertion against its state; record the use. ``INVALID_CREDENTIALS`` on failure."""
    _enabled(ctx)
    assert ctx.passkeys is not None
    body = _credential(credential)
    challenge, payload = _redeem_state(ctx, _SIGN_IN, state, "")
    raw_id = body.get("rawId", body.get("id"))
    try:
        if not isinstance(raw_id, str) or len(raw_id) > 1400:
            raise ValueError
        credential_id = _unb64(raw_id)
    except (ValueError, binascii.Error):
        raise InvalidCredentials() from None
    found = ctx.passkeys.get_passkey_by_credential(credential_digest(credential_id))
    if found is None or found[1] is None:
        audit.record(ctx, kind, outcome="failure", client=client, reason="unknown_passkey")
        raise InvalidCredentials()
    passkey, owner = found[0], found[1]
    named = payload.data.get("u")  # the account the options were asked for, if any
    wanted = {named, None if expected_user is None else str(expected_user.id)} - {None}
    if wanted and wanted != {str(owner.id)}:
        # Recorded on the account it was used against (a session's user), else the owner's.
        target = owner if expected_user is None else expected_user
        audit.record(ctx, kind, outcome="failure", user=target, client=client,
                     reason="other_user", passkey_id=passkey.id)  # fmt: skip
        raise InvalidCredentials()
    response = body.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle:
        try:
            matches = isinstance(handle, str) and hmac.compare_digest(
                _unb64(handle), user_handle(owner)
            )
        except (ValueError, binascii.Error):
            matches = False
        if not matches:
            audit.record(ctx, kind, outcome="failure", user=owner, client=client,
                         reason="user_handle", passkey_id=passkey.id)  # fmt: skip
            raise InvalidCredentials()
    from webauthn.helpers.exceptions import WebAuthnException

    rp_id, origins = webauthn_relying_party(ctx.settings)
    try:
        # The sign count is compared below (to record a regression), not by the library.
        verified = _webauthn().verify_authentication_response(
            credential=body,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=list(origins),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,
            require_user_verification=ctx.settings.webauthn_user_verification == "required",
        )
    except (WebAuthnException, ValueError, KeyError, TypeError, binascii.Error):
        audit.record(ctx, kind, outcome="failure", user=owner, client=client,
                     reason="assertion", passkey_id=passkey.id)  # fmt: skip
        raise InvalidCredentials() from None
    new_count = verified.new_sign_count
    if (new_count > 0 or passkey.sign_count > 0) and new_count <= passkey.sign_count:
        # A counter that did not grow: a cloned authenticator (W3C WebAuthn §6.1.1).
        audit.record(ctx, "passkey_sign_count", outcome="failure", user=owner, client=client,
                     passkey_id=passkey.id, stored=passkey.sign_count,
                     received=new_count)  # fmt: skip
        raise InvalidCredentials()
    if not ctx.passkeys.use_passkey(
        passkey.id, passkey.sign_count, new_count, ctx.now(), bool(verified.credential_backed_up)
    ):
        raise InvalidCredentials()  # a concurrent use of the same count won
    if not owner.is_active:
        audit.record(ctx, kind, outcome="failure", user=owner, client=client, reason="disabled")
        raise AccountDisabled()
    return _Asserted(owner, passkey, bool(verified.user_verified))


def sign_in_with_passkey(
    ctx: Context,
    credential: object,
    state: object,
    *,
    remember: object = False,
    client: Client = NO_CLIENT,
) -> AuthResult:
    """Sign in with a passkey: verify the assertion and start a session (``{user, token}``).

    Args:
        credential: what ``navigator.credentials.get()`` answered, as JSON.
        state: the options' ``state`` (from the body, or the cookie the API set).
        remember: a remember-me session.

    Raises:
        InvalidToken: the state is missing, expired, used, or not this caller's.
        InvalidCredentials: unknown passkey, another user's, a bad signature,
            a wrong origin or RP id, a sign count that went back.
        AccountDisabled, ValidationError, FeatureDisabled.
    """
    if not isinstance(remember, bool):
        raise ValidationError(fields={"remember": "invalid"})
    asserted = _verify_assertion(
        ctx, credential, state, expected_user=None, client=client, kind="sign_in"
    )
    user = asserted.user
    stamp = user.security_stamp
    if not asserted.user_verified:  # possession alone: one factor, as a password is
        two_factor.gate(ctx, user, stamp=stamp, remember=remember, factor=PASSKEY, client=client)
    recorded = record_sign_in(ctx, user, client, {"security_stamp": stamp})
    if recorded is None:  # the account's credentials changed meanwhile
        raise InvalidCredentials()
    result = start_session(ctx, recorded, stamp=stamp, remember=remember, client=client,
                           method=PASSKEY)  # fmt: skip
    assert result.session is not None
    audit.record(ctx, "sign_in", user=recorded, client=client, factor=PASSKEY,
                 passkey_id=asserted.passkey.id,
                 user_verified=asserted.user_verified)  # fmt: skip
    signals.user_logged_in.send(
        ctx.sender, user=recorded, session_id=result.session.id, ip=client.ip, method=PASSKEY
    )
    return result


def reauthenticate_with_passkey(
    ctx: Context,
    token: object,
    credential: object,
    state: object,
    *,
    rotate: bool = False,
    client: Client = NO_CLIENT,
) -> str:
    """Make the session behind ``token`` fresh with a passkey of **its own user**.

    Another user's passkey never makes it fresh (Flask-Security GHSA-f66q):
    ``INVALID_CREDENTIALS``, and the session stays as it was.

    Args:
        token: the session's token.
        credential: an assertion answering ``POST /passkey/sign-in/options``.
        state: those options' state.
        rotate: give the session a new token (the old one stops working).

    Returns:
        The token to use from now on (``token`` itself unless ``rotate``).

    Raises:
        InvalidToken: ``token`` is not a live session, or the state is bad.
        InvalidCredentials: not a passkey of the session's user, or it does not verify.
    """
    record, info = session_record(ctx, token)
    _verify_assertion(ctx, credential, state, expected_user=info.user, client=client,
                      kind="reauthenticate")  # fmt: skip
    changes: dict[str, Any] = {"authenticated_at": ctx.now()}
    current = str(token)
    if rotate:
        current = new_session_token()
        changes["token_hash"] = token_digest(current)
    if not ctx.sessions.update_session(record.id, changes):  # revoked meanwhile
        raise InvalidToken()
    audit.record(ctx, "reauthenticate", user=info.user, client=client, factor=PASSKEY)
    return current


def verify_second_factor(
    ctx: Context, user: Any, body: Mapping[str, Any], *, client: Client = NO_CLIENT
) -> None:
    """A passkey of ``user`` as the second factor of a pending sign-in.

    ``body`` has ``credential`` (the assertion) and ``state`` (from
    ``POST /passkey/sign-in/options``, with the user's email to list their
    passkeys, or without for a discoverable one). Only a passkey of ``user``
    counts (Flask-Security GHSA-f66q: never another user's credential).

    Raises:
        InvalidCode: anything wrong (another user's passkey included).
    """
    try:
        _verify_assertion(
            ctx, body.get("credential"), body.get("state"), expected_user=user, client=client,
            kind="sign_in",
        )  # fmt: skip
    except (InvalidCredentials, InvalidToken, ValidationError):
        raise InvalidCode() from None


def has_passkeys(ctx: Context, user: Any) -> bool:
    """Whether ``user`` has a passkey (with passkeys on): it is then a second factor."""
    if not ctx.settings.passkeys or ctx.passkeys is None:
        return False
    return bool(ctx.passkeys.list_passkeys(user.id))


# A passkey is a second factor (``POST /two-factor/verify {challenge, method: "passkey",
# credential, state}``) of every user who has one, when two-factor is on.
two_factor.register_method("passkey", has_passkeys, verify_second_factor)
