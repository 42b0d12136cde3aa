"""Second factor (SPEC §9): TOTP, recovery codes, emailed codes, the pending sign-in,
trusted devices and enforcement.

**The pending sign-in grants nothing.** After a right password (or an emailed
sign-in link, or ``login_user``) a user who has a second factor gets no
session: :func:`gate` raises :class:`~authgate.errors.TwoFactorRequired`
carrying ``challenge`` — a signed token (purpose ``two-factor``, through
:class:`~authgate.tokens.EmailTokens`) bound to the user id and the security
stamp the first factor verified, valid ``two_factor_challenge_within`` seconds
(5 minutes) and claimed once — and ``methods``. Nothing is stored for it:
there is no half-signed-in session to reach a protected route, ``/sessions``
or anything else. :func:`verify` checks the code and only then starts a new
session through :func:`~authgate.flows.sessions.start_session`, bound to the
verified stamp (a password change meanwhile voids the challenge).

**Methods.** ``totp`` (an authenticator app; each 30-second step is accepted
at most once per account, by a conditional write of the last used step in
the database row, so a replay fails on every process), ``recovery_code`` (ten
codes of 50 bits, stored as SHA-256 digests, each claimed by one conditional
write), ``email`` (a six-digit code mailed by :func:`send_email_code`, bound
to the challenge, single use). Wrong codes are counted per account whatever
the client address (``two_factor_max_failures``); a new emailed code does not
reset the count.

**Extension point.** Another factor (passkeys) registers itself::

    from authgate.errors import InvalidCode
    from authgate.flows import two_factor

    def available(ctx, user) -> bool:          # does this user have one?
        return ctx.settings.passkeys and bool(ctx.passkeys.list_passkeys(user.id))

    def verify(ctx, user, body) -> None:       # raise InvalidCode unless it proves the user
        if not check_assertion(ctx, user, body.get("credential"), body.get("state")):
            raise InvalidCode()

    two_factor.register_method("passkey", available, verify)

(``flows/passkeys.py`` registers exactly this way: ``has_passkeys`` and
``verify_second_factor``.)

A user for whom ``available`` is true is enrolled (a password sign-in then
asks for a second factor), the method is listed in the challenge's
``methods``, and ``POST /two-factor/verify {challenge, method: "passkey",
...}`` calls ``verify`` with the whole request body (the challenge, the code
throttle and the session start stay here). The registry is shared by every
``Auth`` of the process: ``available`` must answer ``False`` when its feature is
off in ``ctx.settings``. ``verify`` must raise
:class:`~authgate.errors.InvalidCode` (or another :class:`AuthError`) on
failure; returning means success.

**Trusted devices.** ``trust_device`` at the second step returns a cookie
value (signed; user id, a device id, and a fingerprint of the security
stamp, the factor state and the user's trust epoch) that lets a later
password sign-in from that browser skip the code for
``trusted_device_lifetime`` seconds. A password change or reset (stamp), a
change of factors, or :func:`forget_trusted_devices` (trust epoch) voids
every one.

**Enforcement.** ``two_factor_required`` (everyone) or
``two_factor_required_roles``. A user who must but has no factor signs in
with the password alone during ``two_factor_grace_period`` (counted from the
first such sign-in); :func:`setup_status` tells the pages and ``GET
/session`` (``two_factor_setup_required``) and the guards (for page requests to
the app's protected views) send them to the set-up. After
it the password answers ``TWO_FACTOR_REQUIRED`` with ``setup_required``: the
set-up then runs on the challenge (:func:`totp_setup` and
:func:`totp_enable` with ``pending=``), and the session starts only once the
app is active — or with an emailed code when ``email`` is a method. Nobody
is locked out (the password always reaches the set-up), and nothing is
granted before the factor works. ``authgate users reset-two-factor EMAIL``
(:func:`reset_two_factor`) is the administrator's rescue.

Every change is an audit event and a notice mailed to the user.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authgate import signals
from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    AccountDisabled,
    AuthError,
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    TwoFactorRequired,
    ValidationError,
)
from authgate.flows import audit
from authgate.flows.sessions import EMAIL_LINK, PASSWORD, require_fresh, start_session
from authgate.models import TwoFactorRecord
from authgate.results import AuthResult
from authgate.stores.base import TwoFactorStore
from authgate.tokens import TokenPayload, derive_key, state_fingerprint

__all__ = [
    "CHALLENGE_PURPOSE",
    "EMAIL",
    "RECOVERY_CODE",
    "RECOVERY_CODE_COUNT",
    "TOTP",
    "TRUSTED_DEVICE_PURPOSE",
    "Method",
    "Pending",
    "decrypt_secret",
    "enable_email_codes",
    "encrypt_secret",
    "forget_trusted_devices",
    "gate",
    "is_enrolled",
    "is_required",
    "methods_for",
    "needs_second_factor",
    "pending",
    "recovery_codes_left",
    "regenerate_recovery_codes",
    "register_method",
    "registered_methods",
    "reset_two_factor",
    "send_email_code",
    "setup_status",
    "status",
    "totp_disable",
    "totp_enable",
    "totp_setup",
    "unregister_method",
    "verify",
]

logger = logging.getLogger("authgate.two_factor")

TOTP = "totp"
RECOVERY_CODE = "recovery_code"
EMAIL = "email"
#: A passkey sign-in (``flows.passkeys``) as the first factor, when the user was not verified.
PASSKEY_FACTOR = "passkey"
#: The salt purpose of challenge tokens.
CHALLENGE_PURPOSE = "two-factor"
#: The salt purpose of trusted-device cookies.
TRUSTED_DEVICE_PURPOSE = "trusted-device"
#: Recovery codes per set.
RECOVERY_CODE_COUNT = 10
#: "Few left": the user is told when this many or fewer remain.
FEW_RECOVERY_CODES = 3
#: TOTP step length in seconds (RFC 6238 default; authenticator apps assume it).
TOTP_INTERVAL = 30
_CODE_MAX = 64


# -- the registry of extra methods -----------------------------------------------------
@dataclass(frozen=True)
class Method:
    """A second factor registered by another module (see the module docstring)."""

    name: str
    #: ``(ctx, user) -> bool``: the user has this factor.
    available: Callable[[Context, Any], bool]
    #: ``(ctx, user, body) -> None``: raise ``InvalidCode`` unless ``body`` proves the user.
    verify: Callable[[Context, Any, Mapping[str, Any]], None]


_METHODS: dict[str, Method] = {}
_BUILT_IN = (TOTP, RECOVERY_CODE, EMAIL)


def register_method(
    name: str,
    available: Callable[[Context, Any], bool],
    verify: Callable[[Context, Any, Mapping[str, Any]], None],
) -> None:
    """Add a second factor (e.g. ``"passkey"``); registering a name again replaces it.

    Raises:
        ValueError: ``name`` is a built-in method or not a simple name.
    """
    if name in _BUILT_IN or not name.replace("_", "").isalnum():
        raise ValueError(f"cannot register a second factor named {name!r}")
    _METHODS[name] = Method(name, available, verify)


def unregister_method(name: str) -> None:
    """Remove a registered second factor (tests)."""
    _METHODS.pop(name, None)


def registered_methods() -> tuple[str, ...]:
    """The names of the registered (non built-in) methods."""
    return tuple(_METHODS)


# -- helpers ---------------------------------------------------------------------------
def _store(ctx: Context) -> TwoFactorStore:
    if not ctx.settings.two_factor:
        raise FeatureDisabled("Two-factor authentication is not enabled.")
    if ctx.two_factor is None:
        raise FeatureDisabled("This store keeps no second factors.")
    return ctx.two_factor


def _new_epoch() -> str:
    return secrets.token_hex(16)


@functools.lru_cache(maxsize=8)
def _fernet(secrets_: tuple[str, ...]) -> Any:
    from cryptography.fernet import Fernet, MultiFernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    keys = []
    for secret in secrets_:
        raw = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"authgate", info=b"authgate.totp-secret"
        ).derive(secret.encode("utf-8", "surrogatepass"))
        keys.append(Fernet(base64.urlsafe_b64encode(raw)))
    return MultiFernet(keys)


def encrypt_secret(ctx: Context, secret: str) -> str:
    """A TOTP secret encrypted for storage (Fernet, key HKDF-derived from the newest secret)."""
    return str(_fernet(ctx.settings.secrets).encrypt(secret.encode()).decode("ascii"))


def decrypt_secret(ctx: Context, stored: str) -> str | None:
    """The TOTP secret of ``stored``, trying every configured secret; ``None`` (logged) if
    none decrypts it (the secret it was made with is gone from the list)."""
    from cryptography.fernet import InvalidToken as BadCipher

    try:
        return str(_fernet(ctx.settings.secrets).decrypt(stored.encode("ascii")).decode())
    except (BadCipher, ValueError):
        logger.error(
            "a stored TOTP secret cannot be decrypted with any configured secret: keep the "
            "old secret in the secret list while rotating, or reset the user's second factor"
        )
        return None


def _code_text(code: object, field: str = "code") -> str:
    """A typed code without spaces or dashes."""
    if code is None or code == "":
        raise ValidationError(fields={field: "required"})
    if not isinstance(code, str) or len(code) > _CODE_MAX:
        raise ValidationError(fields={field: "invalid"})
    text = "".join(code.split()).replace("-", "")
    if not text or not text.isascii() or not text.isalnum():
        raise ValidationError(fields={field: "invalid"})
    return text


def _digest(ctx: Context, *parts: str) -> str:
    """A keyed SHA-256 digest (recovery and emailed codes are stored as this)."""
    key = derive_key(ctx.settings, "two-factor-codes")
    return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def _recovery_digest(ctx: Context, user: Any, code: str) -> str:
    return _digest(ctx, "recovery", str(user.id), code.lower())


def _issuer(ctx: Context) -> str:
    return ctx.settings.totp_issuer or ctx.settings.site_name


def _matching_step(ctx: Context, secret: str, code: str) -> int | None:
    """The TOTP step within ``totp_skew`` of the server's clock whose code is ``code``."""
    import pyotp

    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    now = int(ctx.now().timestamp()) // TOTP_INTERVAL
    found = None
    skew = ctx.settings.totp_skew
    for step in range(now - skew, now + skew + 1):  # compare them all: no early exit
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _notify(ctx: Context, user: Any, change: str, **context: Any) -> None:
    """Mail the user a notice of a second-factor change (through the outbox)."""
    ctx.outbox.send("two_factor_changed", user.email, user, change=change, **context)


def _reload(ctx: Context, user: Any) -> Any:
    from authgate.flows.account import reload_user

    return reload_user(ctx, user)


# -- state ------------------------------------------------------------------------------
def is_required(ctx: Context, user: Any) -> bool:
    """Whether the settings require ``user`` to use a second factor (everyone, or a role)."""
    settings = ctx.settings
    if settings.two_factor_required:
        return True
    wanted = set(settings.two_factor_required_roles)
    return bool(wanted) and bool(wanted & set(getattr(user, "role_names", ())))


def _extra_available(ctx: Context, user: Any) -> list[str]:
    found = []
    for method in list(_METHODS.values()):
        try:
            if method.available(ctx, user):
                found.append(method.name)
        except AuthError:
            raise
        except Exception:  # a broken extension must not open the door: log, treat as absent
            logger.exception("second factor %r failed to say whether it is available", method.name)
    return found


def _email_enabled(ctx: Context, record: TwoFactorRecord | None) -> bool:
    """Emailed codes are the user's own factor (and still a method of the settings)."""
    return record is not None and record.email_enabled and EMAIL in ctx.settings.two_factor_methods


def is_enrolled(ctx: Context, user: Any, record: TwoFactorRecord | None = None) -> bool:
    """Whether ``user`` has a second factor: an active TOTP app, emailed codes turned on
    with :func:`enable_email_codes` (while ``email`` is in ``two_factor_methods``), or a
    registered one."""
    if record is None and ctx.two_factor is not None:
        record = ctx.two_factor.get_two_factor(user.id)
    return (
        (record is not None and record.totp_enabled)
        or _email_enabled(ctx, record)
        or bool(_extra_available(ctx, user))
    )


def methods_for(
    ctx: Context, user: Any, record: TwoFactorRecord | None, *, setup: bool = False
) -> list[str]:
    """The methods that can complete a challenge of ``user``.

    With ``setup`` (a user who must enrol and has nothing yet), only ``email``
    (when it is a method); enrolment itself goes through the TOTP set-up.
    """
    methods: list[str] = []
    email = EMAIL in ctx.settings.two_factor_methods
    if setup:
        return [EMAIL] if email else []
    if record is not None and record.totp_enabled:
        methods += [TOTP, RECOVERY_CODE]
    elif _email_enabled(ctx, record):
        methods += [EMAIL, RECOVERY_CODE]
    methods += _extra_available(ctx, user)
    if email and methods and EMAIL not in methods:
        methods.append(EMAIL)
    return methods


def recovery_codes_left(ctx: Context, user: Any) -> int:
    """How many unused recovery codes ``user`` has."""
    return _store(ctx).count_recovery_codes(user.id)


def status(ctx: Context, user: Any) -> dict[str, Any]:
    """``{"enabled", "totp", "email", "methods", "recovery_codes_left", "setup_required",
    "setup_by", "trusted_devices"}`` for the account page and ``GET /two-factor``
    (``email``: emailed codes are the user's own factor, see :func:`enable_email_codes`)."""
    store = _store(ctx)
    record = store.get_two_factor(user.id)
    setup = setup_status(ctx, user, record)
    return {
        "enabled": is_enrolled(ctx, user, record),
        "totp": record is not None and record.totp_enabled,
        "email": _email_enabled(ctx, record),
        "methods": methods_for(ctx, user, record),
        "recovery_codes_left": store.count_recovery_codes(user.id),
        "setup_required": setup is not None,
        "setup_by": None if setup is None or setup[1] is None else setup[1].isoformat(),
        "trusted_devices": ctx.settings.trusted_device_lifetime > 0,
    }


def setup_status(
    ctx: Context, user: Any, record: TwoFactorRecord | None = None
) -> tuple[bool, dt.datetime | None] | None:
    """``None`` unless ``user`` must set up a second factor and has none; else
    ``(True, deadline)``: the end of their grace period (``None`` if it has not begun)."""
    if not ctx.settings.two_factor or ctx.two_factor is None or not is_required(ctx, user):
        return None
    if record is None:
        record = ctx.two_factor.get_two_factor(user.id)
    if is_enrolled(ctx, user, record):
        return None
    started = None if record is None else record.grace_started_at
    grace = dt.timedelta(seconds=ctx.settings.two_factor_grace_period)
    return True, None if started is None else started + grace


def needs_second_factor(ctx: Context, user: Any) -> bool:
    """Whether a sign-in of ``user`` would ask for a second factor (a trusted device
    aside): flows that sign in as a side effect (a confirmed address, a reset
    password) then leave the signing in to the sign-in page."""
    if not ctx.settings.two_factor or ctx.two_factor is None:
        return False
    record = ctx.two_factor.get_two_factor(user.id)
    if is_enrolled(ctx, user, record):
        return True
    setup = setup_status(ctx, user, record)
    return setup is not None and setup[1] is not None and ctx.now() >= setup[1]


# -- the gate after a first factor -----------------------------------------------------
def gate(
    ctx: Context,
    user: Any,
    *,
    stamp: str,
    remember: bool = False,
    factor: str = PASSWORD,
    trusted_device: str | None = None,
    client: Client = NO_CLIENT,
) -> None:
    """Let a first factor lead to a session, or raise ``TWO_FACTOR_REQUIRED``.

    Call it after the first factor (``stamp`` is the security stamp it
    verified) and before anything is recorded. Returns when no second factor
    is needed: the user has none and is not required to (or is within the
    grace period), or ``trusted_device`` is a valid cookie of this user.

    Raises:
        TwoFactorRequired: with the challenge and the methods.
    """
    if not ctx.settings.two_factor or ctx.two_factor is None:
        return
    store = ctx.two_factor
    record = store.get_two_factor(user.id)
    if is_enrolled(ctx, user, record):
        if trusted_device and _trusted(ctx, user, record, stamp, trusted_device):
            audit.record(ctx, "two_factor_trusted_device", user=user, client=client)
            return
        _challenge(ctx, user, stamp, remember, factor, methods_for(ctx, user, record), client)
    if not is_required(ctx, user):
        return
    now = ctx.now()
    if record is None:
        record = store.ensure_two_factor(user.id, _new_epoch(), grace_started_at=now)
    if record.grace_started_at is None:
        store.update_two_factor(user.id, {"grace_started_at": now}, {"grace_started_at": None})
        record = store.get_two_factor(user.id) or record
    started = record.grace_started_at or now
    if now < started + dt.timedelta(seconds=ctx.settings.two_factor_grace_period):
        return  # sign in; the pages and /session say the set-up is due
    methods = methods_for(ctx, user, record, setup=True)
    _challenge(ctx, user, stamp, remember, factor, methods, client, setup=True)


def _challenge(
    ctx: Context,
    user: Any,
    stamp: str,
    remember: bool,
    factor: str,
    methods: list[str],
    client: Client,
    *,
    setup: bool = False,
) -> None:
    if factor == PASSKEY_FACTOR:  # a passkey without user verification: another factor
        methods = [m for m in methods if m != PASSKEY_FACTOR]
        if not methods:  # only passkeys: the password first, then the passkey
            raise InvalidCredentials()
    data: dict[str, Any] = {"r": bool(remember), "f": factor}
    if setup:
        data["s"] = 1
    token = ctx.email_tokens.issue(CHALLENGE_PURPOSE, user.id, state_fingerprint(stamp), data)
    audit.record(ctx, "two_factor_challenge", user=user, client=client, factor=factor,
                 setup=setup)  # fmt: skip
    raise TwoFactorRequired(challenge=token, methods=methods, setup_required=setup)


@dataclass(frozen=True)
class Pending:
    """A verified, unused challenge: whose it is and what the first factor was."""

    user: Any
    stamp: str
    payload: TokenPayload
    remember: bool
    factor: str
    setup: bool


def pending(ctx: Context, challenge: object) -> Pending:
    """The pending sign-in of ``challenge``: signed, unexpired, unused, of a user whose
    credentials are still those the first factor verified.

    Raises:
        ValidationError: no challenge, or not a string.
        InvalidToken: any of that fails (the answer never says which).
        AccountDisabled: the user was deactivated meanwhile.
    """
    _store(ctx)
    if challenge is None or challenge == "":
        raise ValidationError(fields={"challenge": "required"})
    if not isinstance(challenge, str):
        raise ValidationError(fields={"challenge": "invalid"})
    payload = ctx.email_tokens.verify(
        CHALLENGE_PURPOSE, challenge, ctx.settings.two_factor_challenge_within
    )
    if payload.user_id is None or ctx.tokens.is_claimed(payload.jti):
        raise InvalidToken()
    user = ctx.users.get_user(payload.user_id)
    if user is None:
        raise InvalidToken()
    stamp = user.security_stamp
    if not hmac.compare_digest(state_fingerprint(stamp), payload.fingerprint):
        raise InvalidToken()
    if not user.is_active:
        raise AccountDisabled()
    factor = payload.data.get("f")
    return Pending(
        user=user,
        stamp=stamp,
        payload=payload,
        remember=payload.data.get("r") is True,
        factor=factor if factor in (PASSWORD, EMAIL_LINK, "app", PASSKEY_FACTOR) else PASSWORD,
        setup=payload.data.get("s") == 1,
    )


def _complete(
    ctx: Context, p: Pending, method: str, trust_device: bool, client: Client
) -> AuthResult:
    """Claim the challenge and start the session; the trusted-device cookie if asked."""
    from authgate.flows.signin import record_sign_in

    now = ctx.now()
    if not ctx.tokens.claim_token(p.payload.jti, CHALLENGE_PURPOSE, p.user.id,
                                  p.payload.expires_at, now):  # fmt: skip
        raise InvalidToken()  # a concurrent verify of the same challenge won
    user = record_sign_in(ctx, p.user, client, {"security_stamp": p.stamp})
    if user is None:  # the credentials changed meanwhile
        raise InvalidToken()
    session_method = p.factor if p.factor in (EMAIL_LINK, PASSKEY_FACTOR) else PASSWORD
    result = start_session(ctx, user, stamp=p.stamp, remember=p.remember, client=client,
                           method=session_method)  # fmt: skip
    assert result.session is not None
    audit.record(ctx, "sign_in", user=user, client=client, factor=p.factor, second_factor=method)
    signals.user_logged_in.send(
        ctx.sender, user=user, session_id=result.session.id, ip=client.ip,
        method="link" if p.factor == EMAIL_LINK else p.factor,
    )  # fmt: skip
    if trust_device and ctx.settings.trusted_device_lifetime > 0:
        record = _store(ctx).get_two_factor(user.id)
        cookie = _trust_cookie(ctx, user, record, p.stamp)
        result = dataclasses.replace(result, trusted_device=cookie)
    return result


def verify(
    ctx: Context,
    challenge: object,
    code: object,
    *,
    method: object = TOTP,
    trust_device: object = False,
    body: Mapping[str, Any] | None = None,
    client: Client = NO_CLIENT,
) -> AuthResult:
    """Finish a sign-in: check the second factor and start a new session.

    Returns:
        The sign-in; with ``trust_device`` its ``trusted_device`` is the cookie value.

    Raises:
        InvalidToken: the challenge is bad, expired, used or stale.
        InvalidCode: a wrong or reused code.
        RateLimited: too many wrong codes for this account.
        ValidationError: a missing code or an unknown method.
    """
    if method is None:
        method = TOTP
    if not isinstance(method, str) or len(method) > 32:
        raise ValidationError(fields={"method": "invalid"})
    if not isinstance(trust_device, bool):
        raise ValidationError(fields={"trust_device": "invalid"})
    p = pending(ctx, challenge)
    store = _store(ctx)
    user = p.user
    record = store.get_two_factor(user.id)
    if method not in methods_for(ctx, user, record, setup=p.setup) or (
        method == PASSKEY_FACTOR and p.factor == PASSKEY_FACTOR
    ):  # a passkey is no second factor to itself
        raise ValidationError(fields={"method": "invalid"})
    extra = _METHODS.get(method)
    text = None if extra is not None else _code_text(code)
    key = f"user:{user.id}"
    try:
        ctx.throttle.code_attempt(key)
    except RateLimited:
        audit.record(ctx, "two_factor_verify", outcome="failure", user=user, client=client,
                     method=method, reason="throttled")  # fmt: skip
        raise
    try:
        if extra is not None:
            extra.verify(ctx, user, dict(body or {}))
        elif method == TOTP:
            _use_totp(ctx, user, record, str(text))
        elif method == RECOVERY_CODE:
            _use_recovery_code(ctx, user, str(text), client)
        else:
            _use_email_code(ctx, user, record, p, str(text))
    except InvalidCode:
        audit.record(ctx, "two_factor_verify", outcome="failure", user=user, client=client,
                     method=method, reason="code")  # fmt: skip
        raise
    ctx.throttle.code_succeeded(key)
    return _complete(ctx, p, method, trust_device, client)


def _use_totp(ctx: Context, user: Any, record: TwoFactorRecord | None, code: str) -> None:
    if record is None or not record.totp_enabled or record.totp_secret is None:
        raise InvalidCode()
    secret = decrypt_secret(ctx, record.totp_secret)
    step = None if secret is None else _matching_step(ctx, secret, code)
    if step is None or not _store(ctx).advance_totp_step(user.id, step):
        raise InvalidCode()


def _use_recovery_code(ctx: Context, user: Any, code: str, client: Client) -> None:
    store = _store(ctx)
    if not store.use_recovery_code(user.id, _recovery_digest(ctx, user, code), ctx.now()):
        raise InvalidCode()
    left = store.count_recovery_codes(user.id)
    audit.record(ctx, "recovery_code_used", user=user, client=client, left=left)
    _notify(ctx, user, "recovery_code_used", left=left, few=left <= FEW_RECOVERY_CODES)


def _use_email_code(
    ctx: Context, user: Any, record: TwoFactorRecord | None, p: Pending, code: str
) -> None:
    if (
        record is None
        or record.email_code_hash is None
        or record.email_code_challenge != p.payload.jti
        or record.email_code_expires_at is None
        or ctx.now() >= record.email_code_expires_at
    ):
        raise InvalidCode()
    digest = _digest(ctx, "email", str(user.id), p.payload.jti, code)
    if not hmac.compare_digest(digest, record.email_code_hash):
        raise InvalidCode()
    used = _store(ctx).update_two_factor(
        user.id,
        {"email_code_hash": None, "email_code_challenge": None, "email_code_expires_at": None},
        {"email_code_hash": digest, "email_code_challenge": p.payload.jti},
    )
    if not used:
        raise InvalidCode()


def send_email_code(ctx: Context, challenge: object, client: Client = NO_CLIENT) -> None:
    """Mail a six-digit code that completes ``challenge`` (``email`` must be a method).

    The code replaces any earlier one of the account, lives until the
    challenge expires, and works once. At most ``email_send_limit`` per hour
    per account. The failure count of wrong codes is not reset.

    Raises:
        InvalidToken, RateLimited, ValidationError (``email`` is not a method here).
    """
    p = pending(ctx, challenge)
    store = _store(ctx)
    user = p.user
    record = store.get_two_factor(user.id)
    if EMAIL not in methods_for(ctx, user, record, setup=p.setup):
        raise ValidationError(fields={"method": "invalid"})
    limit = ctx.settings.email_send_limit
    if not ctx.throttle.allow("two-factor-email", f"user:{user.id}", limit, 3600):
        audit.record(ctx, "two_factor_email_code", outcome="failure", user=user, client=client,
                     reason="throttled")  # fmt: skip
        raise RateLimited(retry_after=60)
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = ctx.now()
    expires = min(
        p.payload.expires_at,
        now + dt.timedelta(seconds=ctx.settings.two_factor_challenge_within),
    )
    store.ensure_two_factor(user.id, _new_epoch())
    store.update_two_factor(user.id, {
        "email_code_hash": _digest(ctx, "email", str(user.id), p.payload.jti, code),
        "email_code_challenge": p.payload.jti,
        "email_code_expires_at": expires,
    })  # fmt: skip
    minutes = max(1, int((expires - now).total_seconds()) // 60)
    ctx.mail.send("two_factor_code", user.email, user, code=code, expires_in_minutes=minutes)
    audit.record(ctx, "two_factor_email_code", user=user, client=client)


# -- trusted devices ----------------------------------------------------------------------
def _trust_fingerprint(record: TwoFactorRecord | None, stamp: str) -> str:
    enabled = None if record is None else record.totp_enabled_at
    epoch = "" if record is None else record.trust_epoch
    return state_fingerprint(stamp, epoch, None if enabled is None else enabled.isoformat())


def _trust_cookie(ctx: Context, user: Any, record: TwoFactorRecord | None, stamp: str) -> str:
    device = secrets.token_urlsafe(12)
    return ctx.email_tokens.issue(
        TRUSTED_DEVICE_PURPOSE, user.id, _trust_fingerprint(record, stamp), {"d": device}
    )


def _trusted(
    ctx: Context, user: Any, record: TwoFactorRecord | None, stamp: str, cookie: str
) -> bool:
    lifetime = ctx.settings.trusted_device_lifetime
    if lifetime <= 0:
        return False
    try:
        payload = ctx.email_tokens.verify(TRUSTED_DEVICE_PURPOSE, cookie, lifetime)
    except InvalidToken:
        return False
    return payload.user_id == str(user.id) and hmac.compare_digest(
        payload.fingerprint, _trust_fingerprint(record, stamp)
    )


def forget_trusted_devices(ctx: Context, user: Any, client: Client = NO_CLIENT) -> None:
    """Void every trusted-device cookie of ``user`` (a new trust epoch)."""
    store = _store(ctx)
    store.ensure_two_factor(user.id, _new_epoch())
    store.update_two_factor(user.id, {"trust_epoch": _new_epoch()})
    audit.record(ctx, "two_factor_trusted_devices_forget", user=user, client=client)


# -- set-up and changes ---------------------------------------------------------------------
def _fresh_user(
    ctx: Context, user: Any, token: str | None, kind: str, client: Client, p: Pending | None
) -> Any:
    """The user a change applies to: the challenge's, or the signed-in one with a fresh session."""
    if p is not None:
        return p.user
    user = _reload(ctx, user)
    require_fresh(ctx, user, token, kind=kind, client=client)
    return user


def totp_setup(
    ctx: Context,
    user: Any = None,
    *,
    token: str | None = None,
    challenge: object = None,
    client: Client = NO_CLIENT,
) -> dict[str, str]:
    """Start setting up an authenticator app: ``{"secret", "uri", "qr_svg"}``.

    The secret (160 bits) is kept encrypted as pending; nothing changes until
    :func:`totp_enable` gets a valid code. ``token`` (the caller's session)
    must be fresh; ``challenge`` (a ``setup_required`` challenge) stands for
    the session of a user who must enrol.

    Raises:
        ReauthRequired, InvalidToken, FeatureDisabled.
    """
    import pyotp
    import segno

    store = _store(ctx)
    if TOTP not in ctx.settings.two_factor_methods:
        raise FeatureDisabled("Authenticator apps are not enabled.")
    p = _setup_challenge(ctx, challenge)
    user = _fresh_user(ctx, user, token, "two_factor_setup", client, p)
    secret = pyotp.random_base32(length=32)  # 32 base32 characters: 160 bits
    store.ensure_two_factor(user.id, _new_epoch())
    store.update_two_factor(user.id, {"totp_pending_secret": encrypt_secret(ctx, secret)})
    uri = pyotp.TOTP(secret, interval=TOTP_INTERVAL).provisioning_uri(
        name=user.email, issuer_name=_issuer(ctx)
    )
    svg = segno.make(uri, error="m").svg_inline(scale=4, title=_issuer(ctx))
    audit.record(ctx, "two_factor_setup", user=user, client=client)
    return {"secret": secret, "uri": uri, "qr_svg": svg}


def _setup_challenge(ctx: Context, challenge: object) -> Pending | None:
    if challenge is None:
        return None
    p = pending(ctx, challenge)
    if not p.setup:
        raise InvalidToken()
    return p


def totp_enable(
    ctx: Context,
    user: Any = None,
    code: object = None,
    *,
    token: str | None = None,
    challenge: object = None,
    client: Client = NO_CLIENT,
) -> tuple[list[str], AuthResult | None]:
    """Activate the pending authenticator app with its first valid code.

    Returns:
        Ten new recovery codes (shown once; any earlier set is void) and, for a
        ``challenge``, the sign-in it completes.

    Raises:
        InvalidCode, RateLimited, ReauthRequired, ValidationError (no set-up started).
    """
    store = _store(ctx)
    text = _code_text(code)
    p = _setup_challenge(ctx, challenge)
    user = _fresh_user(ctx, user, token, "two_factor_enable", client, p)
    record = store.get_two_factor(user.id)
    if record is None or record.totp_pending_secret is None:
        raise ValidationError("Start the set-up first.", fields={"code": "invalid"})
    key = f"user:{user.id}"
    ctx.throttle.code_attempt(key)
    cipher = record.totp_pending_secret
    secret = decrypt_secret(ctx, cipher)
    step = None if secret is None else _matching_step(ctx, secret, text)
    if step is None or step <= record.totp_last_step:
        audit.record(ctx, "two_factor_enable", outcome="failure", user=user, client=client,
                     reason="code")  # fmt: skip
        raise InvalidCode()
    enabled = store.update_two_factor(
        user.id,
        {"totp_secret": cipher, "totp_pending_secret": None, "totp_enabled_at": ctx.now(),
         "totp_last_step": step, "trust_epoch": _new_epoch()},
        {"totp_pending_secret": cipher},
    )  # fmt: skip
    if not enabled:
        raise InvalidCode()
    ctx.throttle.code_succeeded(key)
    codes = _new_recovery_codes(ctx, user)
    audit.record(ctx, "two_factor_enable", user=user, client=client, method=TOTP)
    _notify(ctx, user, "enabled")
    result = None
    if p is not None:
        result = _complete(ctx, p, TOTP, False, client)
    return codes, result


def enable_email_codes(
    ctx: Context, user: Any, *, token: str | None = None, client: Client = NO_CLIENT
) -> list[str]:
    """Turn on six-digit codes mailed at each sign-in as the user's own second factor
    (for users without an authenticator app). Needs a fresh session and ``email`` in
    ``two_factor_methods``, and with ``confirmable`` a confirmed address (the codes
    must reach the user, not whoever typed the address).

    A password sign-in then answers ``TWO_FACTOR_REQUIRED`` with the methods
    ``email`` and ``recovery_code``; the code is sent by :func:`send_email_code`
    (throttled, single use, expiring with the challenge). :func:`totp_disable`
    turns it off with the rest.

    Returns:
        Ten new recovery codes (shown once) when the user had none; else ``[]``
        (the existing set stays valid).

    Raises:
        ReauthRequired, FeatureDisabled, EmailNotConfirmed.
    """
    store = _store(ctx)
    if EMAIL not in ctx.settings.two_factor_methods:
        raise FeatureDisabled("Emailed codes are not enabled.")
    user = _fresh_user(ctx, user, token, "two_factor_email_enable", client, None)
    if ctx.settings.confirmable and user.email_confirmed_at is None:
        raise EmailNotConfirmed()
    store.ensure_two_factor(user.id, _new_epoch())
    enabled = store.update_two_factor(
        user.id,
        {"email_enabled_at": ctx.now(), "trust_epoch": _new_epoch()},
        {"email_enabled_at": None},
    )
    if not enabled:  # already on: nothing changes
        return []
    codes: list[str] = []
    if store.count_recovery_codes(user.id) == 0:
        codes = _new_recovery_codes(ctx, user)
    audit.record(ctx, "two_factor_enable", user=user, client=client, method=EMAIL)
    _notify(ctx, user, "email_enabled")
    return codes


def _new_recovery_codes(ctx: Context, user: Any) -> list[str]:
    """Ten new codes (``xxxxx-xxxxx``: 10 base32 characters, 50 bits), stored as digests."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(11))  # 31**11 > 2**54
        codes.append(f"{raw[:5]}-{raw[5:]}")
    digests = [_recovery_digest(ctx, user, c.replace("-", "")) for c in codes]
    _store(ctx).replace_recovery_codes(user.id, digests, ctx.now())
    return codes


def regenerate_recovery_codes(
    ctx: Context, user: Any, *, token: str | None = None, client: Client = NO_CLIENT
) -> list[str]:
    """A new set of ten recovery codes; the old set is void. Needs a fresh session and a
    second factor.

    Raises:
        ReauthRequired, ValidationError (no second factor).
    """
    store = _store(ctx)
    user = _fresh_user(ctx, user, token, "recovery_codes_regenerate", client, None)
    if not is_enrolled(ctx, user, store.get_two_factor(user.id)):
        raise ValidationError("Set up a second factor first.", fields={"two_factor": "invalid"})
    codes = _new_recovery_codes(ctx, user)
    audit.record(ctx, "recovery_codes_regenerate", user=user, client=client)
    _notify(ctx, user, "recovery_codes")
    return codes


def totp_disable(
    ctx: Context,
    user: Any,
    password: object,
    *,
    token: str | None = None,
    client: Client = NO_CLIENT,
) -> None:
    """Turn every second factor off: the authenticator app and emailed codes (and void the
    recovery codes and trusted devices).

    Needs a fresh session and the password.

    Raises:
        ReauthRequired, InvalidCredentials, RateLimited, ValidationError.
    """
    from authgate.flows.account import verify_current_password

    store = _store(ctx)
    user = _fresh_user(ctx, user, token, "two_factor_disable", client, None)
    verify_current_password(ctx, user, password, "password", client, kind="two_factor_disable")
    store.ensure_two_factor(user.id, _new_epoch())
    store.update_two_factor(user.id, _OFF | {"trust_epoch": _new_epoch()})
    store.replace_recovery_codes(user.id, [], ctx.now())
    audit.record(ctx, "two_factor_disable", user=user, client=client)
    _notify(ctx, user, "disabled")


_OFF: dict[str, Any] = {
    "totp_secret": None,
    "totp_pending_secret": None,
    "totp_enabled_at": None,
    "email_code_hash": None,
    "email_code_challenge": None,
    "email_code_expires_at": None,
    "email_enabled_at": None,
}


def reset_two_factor(ctx: Context, user: Any, *, actor: str = "admin") -> None:
    """An administrator's rescue: remove the user's authenticator app, emailed codes,
    recovery codes and
    trusted devices, and start a new grace period (so an enforced user can sign in and
    set up again). Registered factors (passkeys) are theirs to reset. Works whether or
    not ``two_factor`` is on (the command line may run without it).

    Raises:
        FeatureDisabled: the store keeps no second factors.
    """
    store = ctx.two_factor
    if store is None:
        raise FeatureDisabled("This store keeps no second factors.")
    store.ensure_two_factor(user.id, _new_epoch())
    store.update_two_factor(
        user.id, _OFF | {"trust_epoch": _new_epoch(), "grace_started_at": ctx.now()}
    )
    store.replace_recovery_codes(user.id, [], ctx.now())
    audit.record(ctx, "two_factor_reset", user=user, actor=actor)
    _notify(ctx, user, "reset")
