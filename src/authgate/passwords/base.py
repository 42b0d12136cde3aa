"""The :class:`Hasher` protocol and the small encoding helpers the schemes share.

A hasher owns one family of stored formats. It never raises for a malformed
stored hash: garbage in the database is a failed sign-in, not a 500.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from typing import Protocol, runtime_checkable

__all__ = [
    "Hasher",
    "ab64_decode",
    "ab64_encode",
    "b64s_decode",
    "b64s_encode",
    "normalize_password",
    "utf8",
]


@runtime_checkable
class Hasher(Protocol):
    """One password-hashing scheme: how to write its format and how to check it.

    Implementations must be thread-safe: one instance serves every request.

    Attributes:
        scheme: the short name of the scheme (``"argon2"``, ``"bcrypt"``,
            ``"scrypt"``, ``"pbkdf2"``...), as in ``Settings.password_scheme``.
    """

    scheme: str

    def identify(self, hash: str) -> bool:
        """Whether ``hash`` looks like one of this scheme's formats (prefix check only)."""

    def hash(self, password: str) -> str:
        """A new salted hash of ``password`` with the configured parameters."""

    def verify(self, password: str, hash: str) -> bool:
        """Whether ``password`` matches ``hash``.

        Returns ``False`` (never raises) when ``hash`` is malformed, truncated or
        uses parameters outside the scheme's sane bounds.
        """

    def needs_rehash(self, hash: str) -> bool:
        """Whether ``hash`` was made with other parameters (or format) than ours."""

    # Optional: ``too_costly(hash) -> bool`` says whether a stored hash parses
    # with costs past what the scheme ever verifies; every built-in scheme has
    # it, and ``PasswordHasher.acceptable`` uses it to refuse such imports.


def normalize_password(password: str) -> str:
    """NFKC-normalise a password, so composed and decomposed forms hash alike.

    NIST SP 800-63B asks for NFKC or NFKD before hashing; NFKC keeps the
    common precomposed characters as they are typed.

    Examples:
        >>> normalize_password("e\\u0301") == normalize_password("\\u00e9")
        True
    """
    return unicodedata.normalize("NFKC", password)


def utf8(password: str) -> bytes | None:
    """The UTF-8 bytes of ``password``, or ``None`` if it holds lone surrogates.

    A JSON body can carry ``"\\ud800"``; such a string cannot be encoded, and
    verification must fail quietly instead of raising ``UnicodeEncodeError``.
    """
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        return None


def b64s_encode(data: bytes) -> str:
    """Standard base64 without ``=`` padding (passlib's ``b64s``, used by ``$scrypt$``)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64s_decode(text: str) -> bytes | None:
    """Inverse of :func:`b64s_encode`; ``None`` when ``text`` is not valid base64."""
    if len(text) % 4 == 1:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def ab64_encode(data: bytes) -> str:
    """passlib's "adapted base64": standard base64, ``+`` written as ``.``, no padding."""
    return b64s_encode(data).replace("+", ".")


def ab64_decode(text: str) -> bytes | None:
    """Inverse of :func:`ab64_encode`; ``None`` when ``text`` is not valid."""
    if "+" in text:
        return None
    return b64s_decode(text.replace(".", "+"))
