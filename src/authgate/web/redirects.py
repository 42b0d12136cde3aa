"""Safe ``next`` handling: only same-site relative paths (or allow-listed origins) pass.

Every value in SECURITY.md §3.8 (``//evil``, ``\\\\evil``, ``/\\evil``,
``https:evil``, ``javascript:``, encoded and whitespace-prefixed variants...)
falls back to the default. Whatever passes is re-quoted before it goes into a
``Location`` header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

__all__ = ["safe_next"]

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
#: Characters kept as they are when re-quoting an accepted path.
_SAFE = "/?&=%#:@!$'()*+,;~-._"


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower(), port or default


def safe_next(value: object, default: str = "/", allowed_origins: Iterable[str] = ()) -> str:
    """Return ``value`` if it is a safe redirect target, else ``default``.

    Accepted: a path starting with exactly one ``/`` (not followed by ``/`` or
    ``\\``, also after percent-decoding), without control characters or
    backslashes; or an absolute ``http(s)`` URL whose exact scheme, host and
    port is in ``allowed_origins`` and has no user-info.
    """
    if not isinstance(value, str) or not value or len(value) > 2048:
        return default
    if _CONTROL.search(value) or "\\" in value:
        return default
    decoded = value
    for _ in range(3):  # %252F%252F -> %2F%2F -> //
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    if _CONTROL.search(decoded) or "\\" in decoded:
        return default
    if value.startswith("/"):
        if decoded.startswith(("//", "/\\")) or value.startswith("//"):
            return default
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            return default
        return quote(value, safe=_SAFE)
    allowed = {o for o in (_origin(a) for a in allowed_origins) if o is not None}
    if allowed:
        try:
            parts = urlsplit(value)
        except ValueError:
            return default
        if parts.username is not None or parts.password is not None:
            return default
        if _origin(value) in allowed and "@" not in parts.netloc:
            return quote(value, safe=_SAFE)
    return default
