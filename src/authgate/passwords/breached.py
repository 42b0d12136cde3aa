"""Have I Been Pwned's k-anonymity range API, with the standard library only.

Only the first five hex characters of the password's SHA-1 leave the process:
``GET <url><PREFIX>`` answers with every known hash suffix of that prefix as
``SUFFIX:COUNT`` lines. We ask for padding (``Add-Padding: true``), so the
response size does not hint at the prefix either; padding lines have a count
of 0 and never match.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["DEFAULT_TIMEOUT", "BreachCheckUnavailable", "is_breached"]

#: Seconds to wait for the range API before giving up.
DEFAULT_TIMEOUT = 3.0

# A padded range response is about 40 KB; anything far larger is not HIBP.
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_USER_AGENT = "authgate-password-check"


class BreachCheckUnavailable(Exception):
    """The range API could not be asked (network error, timeout, bad answer).

    Internal: :class:`~authgate.passwords.policy.PasswordPolicy` turns it into
    ``ServiceUnavailable`` (strict mode) or a logged warning (best effort).
    """


def is_breached(password: str, url: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether ``password`` appears in the breach corpus behind ``url``.

    Args:
        password: the (normalised) password to look up.
        url: the range API base, e.g. ``https://api.pwnedpasswords.com/range/``;
            the 5-character prefix is appended to it.
        timeout: seconds before giving up.

    Returns:
        ``True`` when the password's hash suffix is listed with a count above 0.

    Raises:
        BreachCheckUnavailable: the service could not be reached or answered
            with something other than a range listing.
    """
    # SHA-1 is what the API is keyed on, not a security primitive here.
    digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    body = _fetch(url + prefix, timeout)
    for line in body.splitlines():
        candidate, sep, count = line.strip().partition(":")
        if not sep:
            continue
        if hmac.compare_digest(candidate.strip().upper(), suffix):
            try:
                return int(count.strip()) > 0
            except ValueError:
                raise BreachCheckUnavailable("malformed count in range response") from None
    return False


def _fetch(url: str, timeout: float) -> str:
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        # urlopen would also read file:// and ftp:// URLs; never from settings.
        raise BreachCheckUnavailable(f"breached_passwords_url must be http(s), got {url!r}")
    request = urllib.request.Request(  # noqa: S310 -- scheme checked above
        url, headers={"Add-Padding": "true", "User-Agent": _USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read(_MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        # URLError/HTTPError and timeouts are OSErrors; ValueError covers a
        # malformed URL. Chained for the log, never shown to the user.
        raise BreachCheckUnavailable(f"range API unreachable: {exc}") from exc
    if len(raw) > _MAX_RESPONSE_BYTES:
        raise BreachCheckUnavailable("range response too large")
    try:
        text: str = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BreachCheckUnavailable("range response is not ASCII") from None
    return text
