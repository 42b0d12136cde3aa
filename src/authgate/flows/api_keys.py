"""Personal API keys: made by a user (or an admin) for scripts, limited by scopes.

A key is ``ag_`` and 43 URL-safe characters (256 random bits). It is shown
once, when made; the store keeps its SHA-256 digest and its first 11
characters (``prefix``) so a list can tell keys apart. A key has a name,
scopes, an optional expiry and an optional IP allowlist, and records when
and from where it was last used (at most once a minute, not per request).

Every management call takes the acting user from the caller's credential,
never from the request's body, and looks keys up *by that user*: an id of
another user's key is "no such key" (better-auth CVE-2025-61928). Making a
key needs a fresh session (a stolen session cookie cannot mint a lasting
credential). Verifying a wrong key costs the client IP a throttle hit, so
guessing is limited like password guessing.

The page to manage keys (the HTML pages' engine, ``web/pages.py``) calls the
same three flows with the signed-in user and the page's session token:
:func:`list_api_keys` (show ``record.to_dict()`` without the key),
:func:`create_api_key` (``token=`` the session's, so ``REAUTH_REQUIRED``
sends the user to reauthenticate first; show the returned key once, on the
answer page only, never in a redirect or a flash kept in a cookie) and
:func:`revoke_api_key` (a form post with the CSRF token; ``NOT_FOUND`` for
an id that is not theirs).

Scopes limit what a key may do where a view asks for them
(``scopes_required`` / ``require_scopes``); sessions and access tokens are
not scope-limited: they are the user. Keys are not ended by a password
change (scripts keep working); revoke them in the list, or deactivate the
user (a deactivated user's keys are refused).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
from collections.abc import Sequence
from typing import Any, NoReturn

from authgate.context import NO_CLIENT, Client, Context
from authgate.errors import (
    AccountDisabled,
    FeatureDisabled,
    InvalidToken,
    NotFound,
    UserNotFound,
    ValidationError,
)
from authgate.flows import audit
from authgate.flows.sessions import require_fresh
from authgate.flows.validation import require_text
from authgate.models import ApiKeyRecord
from authgate.tokens import token_digest

__all__ = [
    "KEY_PREFIX",
    "create_api_key",
    "has_scopes",
    "list_api_keys",
    "looks_like_api_key",
    "revoke_api_key",
    "verify_api_key",
]

#: Every key starts with this (recognisable in logs and by secret scanners).
KEY_PREFIX = "ag_"
#: Characters of a key kept in clear for lists (``ag_`` and 8 more).
VISIBLE = len(KEY_PREFIX) + 8
#: Length of a key: the prefix and 256 bits in URL-safe base64.
KEY_LENGTH = len(KEY_PREFIX) + 43
#: A use is recorded at most this often per key.
TOUCH_INTERVAL = dt.timedelta(minutes=1)
#: Limits on what a key carries.
MAX_KEYS_PER_USER = 100
MAX_SCOPES = 32
MAX_ALLOWED_IPS = 32
MAX_NAME = 100
#: Longest expiry a key may be given (ten years), in seconds; the shortest is a minute.
MAX_EXPIRES_IN = 10 * 366 * 24 * 3600
#: A scope: letters, digits and ``: . _ - / *``, 1 to 64 of them (``read:reports``).
SCOPE = re.compile(r"[A-Za-z0-9:._\-/*]{1,64}")
_KEY = re.compile(r"ag_[A-Za-z0-9_-]{43}")


def looks_like_api_key(value: str) -> bool:
    """Whether ``value`` is meant as an API key (it starts with ``ag_``)."""
    return value.startswith(KEY_PREFIX)


def _enabled(ctx: Context) -> None:
    if not ctx.settings.api_keys or ctx.api_keys is None:
        raise FeatureDisabled("Personal API keys are not enabled.")


def _scopes(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > MAX_SCOPES:
        raise ValidationError(
            f"scopes: a list of at most {MAX_SCOPES}.", fields={"scopes": "invalid"}
        )
    if not all(isinstance(s, str) and SCOPE.fullmatch(s) for s in value):
        raise ValidationError(
            "Each scope is 1 to 64 letters, digits or : . _ - / * (e.g. read:reports).",
            fields={"scopes": "invalid"},
        )
    return tuple(sorted(set(value)))


def _networks(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > MAX_ALLOWED_IPS:
        raise ValidationError(fields={"allowed_ips": "invalid"})
    out = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                "allowed_ips: addresses or networks such as 203.0.113.7 or 10.0.0.0/8.",
                fields={"allowed_ips": "invalid"},
            ) from None
    return tuple(dict.fromkeys(out))


def _expiry(ctx: Context, expires_in: object) -> dt.datetime | None:
    if expires_in is None:
        return None
    if (
        not isinstance(expires_in, int)
        or isinstance(expires_in, bool)
        or not 60 <= expires_in <= MAX_EXPIRES_IN
    ):
        raise ValidationError(
            f"expires_in: whole seconds from 60 to {MAX_EXPIRES_IN}, or null for no expiry.",
            fields={"expires_in": "invalid"},
        )
    return ctx.now() + dt.timedelta(seconds=expires_in)


def create_api_key(
    ctx: Context,
    user: Any,
    name: object,
    *,
    scopes: object = None,
    expires_in: object = None,
    allowed_ips: object = None,
    token: object = None,
    client: Client = NO_CLIENT,
    actor: str = "user",
) -> tuple[ApiKeyRecord, str]:
    """Make a key for ``user``; returns its record and the key itself (shown once).

    Args:
        user: the key's owner: the caller's own user, never one named by a body.
        name: what the key is for (1 to 100 characters).
        scopes: a list of scopes (``["read:reports"]``); none by default.
        expires_in: seconds until the key expires (60 s to ten years); ``None``: never.
        allowed_ips: addresses or networks the key works from; none: any.
        token: the caller's session or access token, whose session must be fresh
            (``None`` from Python or the CLI: the app vouches).
        client: who asked.
        actor: ``"user"``, ``"admin"`` or ``"cli"`` (for the audit trail).

    Raises:
        ValidationError, ReauthRequired, FeatureDisabled.
    """
    _enabled(ctx)
    assert ctx.api_keys is not None
    label = require_text(name, "name", MAX_NAME).strip()
    granted, networks = _scopes(scopes), _networks(allowed_ips)
    expires_at = _expiry(ctx, expires_in)
    require_fresh(ctx, user, token, kind="api_key_create", client=client)
    if len(ctx.api_keys.list_api_keys(user.id)) >= MAX_KEYS_PER_USER:
        raise ValidationError(
            f"At most {MAX_KEYS_PER_USER} keys per user: revoke one first.",
            fields={"name": "too_many"},
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=secrets.token_hex(12),  # hex: an id never starts with "-" (a CLI argument)
        key_hash=token_digest(key),
        user_id=str(user.id),
        name=label,
        prefix=key[:VISIBLE],
        created_at=ctx.now(),
        scopes=granted,
        allowed_ips=networks,
        expires_at=expires_at,
    )
    ctx.api_keys.create_api_key(record)
    audit.record(
        ctx, "api_key_create", user=user, client=client, actor=actor,
        key_id=record.id, name=label, scopes=list(granted),
    )  # fmt: skip
    return record, key


def list_api_keys(ctx: Context, user: Any) -> list[ApiKeyRecord]:
    """The user's own keys, newest first (expired ones included, marked by ``expires_at``)."""
    _enabled(ctx)
    assert ctx.api_keys is not None
    return ctx.api_keys.list_api_keys(user.id)


def revoke_api_key(
    ctx: Context,
    user: Any | None,
    key_id: object,
    *,
    client: Client = NO_CLIENT,
    actor: str = "user",
) -> None:
    """Revoke one of ``user``'s keys (with ``user=None``, any key: the CLI's admin use).

    Raises:
        NotFound: no such key of this user (another user's id answers the same).
        ValidationError: no id given.
    """
    _enabled(ctx)
    assert ctx.api_keys is not None
    ident = require_text(key_id, "id", 64)
    owner = None if user is None else user.id
    if not ctx.api_keys.delete_api_key(ident, owner):
        raise NotFound("No such API key.")
    audit.record(ctx, "api_key_revoke", user=user, client=client, actor=actor, key_id=ident)


def verify_api_key(
    ctx: Context, key: object, client: Client = NO_CLIENT
) -> tuple[ApiKeyRecord, Any]:
    """The key's record and its user, for a key presented by ``client``.

    A wrong key (unknown, malformed, expired, or from an address outside its
    allowlist) costs the client IP a throttle hit; past the limit the answer is
    ``RATE_LIMITED`` instead. A use is recorded at most once a minute.

    Raises:
        InvalidToken: not a valid key (never says why).
        RateLimited: too many wrong keys from this address.
        AccountDisabled / UserNotFound: the owner is deactivated or gone.
    """
    _enabled(ctx)
    assert ctx.api_keys is not None
    if not isinstance(key, str) or len(key) != KEY_LENGTH or not _KEY.fullmatch(key):
        _wrong(ctx, client)
    found = ctx.api_keys.get_api_key(token_digest(key))
    now = ctx.now()
    if found is None or (found[0].expires_at is not None and found[0].expires_at <= now):
        _wrong(ctx, client)
    record, user = found
    if record.allowed_ips and not _allowed(record.allowed_ips, client.ip):
        audit.record(
            ctx, "api_key_refused", outcome="failure", user=user, client=client,
            key_id=record.id,
        )  # fmt: skip
        _wrong(ctx, client)
    if user is None:
        raise UserNotFound()
    if not user.is_active:
        raise AccountDisabled()
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_INTERVAL:
        ctx.api_keys.touch_api_key(record.id, now, client.ip, now - TOUCH_INTERVAL)
    return record, user


def _wrong(ctx: Context, client: Client) -> NoReturn:
    """A wrong key: count it against the client IP, then refuse it."""
    ctx.throttle.count_failure(client.ip, scope="api-key")
    raise InvalidToken()


def _allowed(networks: tuple[str, ...], ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net) for net in networks)


def has_scopes(granted: frozenset[str] | None, *required: str | Sequence[str]) -> bool:
    """Whether ``granted`` satisfies ``required``: strings ALL, a list ANY of its members.

    ``None`` (a session or an access token: not scope-limited) satisfies anything.
    """
    if granted is None:
        return True
    for spec in required:
        if isinstance(spec, str):
            if spec not in granted:
                return False
        elif not granted.intersection(spec):
            return False
    return True
