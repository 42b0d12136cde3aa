"""scrypt through :func:`hashlib.scrypt`, in passlib's format.

Format (passlib ``scrypt``; checked against passlib output in the tests)::

    $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<checksum>

salt (16 bytes) and checksum (32 bytes) are *standard* base64 (``+/``, unlike
passlib's pbkdf2 formats) without ``=`` padding.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from authgate.passwords.base import b64s_decode, b64s_encode, utf8

__all__ = ["ScryptHasher"]

_PREFIX = "$scrypt$"
_B64 = r"[A-Za-z0-9+/]"
_FORMAT = re.compile(
    rf"^\$scrypt\$ln=(?P<ln>\d{{1,2}}),r=(?P<r>\d{{1,3}}),p=(?P<p>\d{{1,3}})"
    rf"\$(?P<salt>{_B64}{{0,1024}})\$(?P<checksum>{_B64}{{16,1024}})\Z"
)
_SALT_BYTES = 16
_KEY_BYTES = 32
_R = 8
_P = 1
# Bounds for parameters read from a stored hash: a corrupted row must not make
# one verification allocate gigabytes. 128 * r * N bytes is scrypt's memory.
_MAX_MEMORY = 1024 * 1024 * 1024
_MAX_P = 16


class ScryptHasher:
    """scrypt hashes with N = 2**log_n, r = 8, p = 1.

    Args:
        log_n: log2 of the CPU/memory cost N (OWASP: 17, i.e. 128 MiB with r=8).
    """

    scheme = "scrypt"

    def __init__(self, log_n: int) -> None:
        if not 1 <= log_n <= 30:
            raise ValueError(f"scrypt log_n must be between 1 and 30, got {log_n}")
        self.log_n = log_n

    def identify(self, hash: str) -> bool:
        """Whether ``hash`` is a passlib ``$scrypt$`` hash."""
        return hash.startswith(_PREFIX)

    def hash(self, password: str) -> str:
        """A new ``$scrypt$`` hash of ``password``."""
        salt = os.urandom(_SALT_BYTES)
        key = _scrypt(password.encode("utf-8"), salt, self.log_n, _R, _P, dklen=_KEY_BYTES)
        return f"{_PREFIX}ln={self.log_n},r={_R},p={_P}${b64s_encode(salt)}${b64s_encode(key)}"

    def verify(self, password: str, hash: str) -> bool:
        """Whether ``password`` matches ``hash``; ``False`` for malformed hashes."""
        secret = utf8(password)
        match = _FORMAT.match(hash)
        if secret is None or match is None:
            return False
        log_n, r, p = int(match["ln"]), int(match["r"]), int(match["p"])
        salt, expected = b64s_decode(match["salt"]), b64s_decode(match["checksum"])
        # A shorter checksum would still "match" (scrypt's output is
        # prefix-consistent), so a truncated hash must not verify.
        if salt is None or expected is None or len(expected) != _KEY_BYTES:
            return False
        if not _sane(log_n, r, p):
            return False
        try:
            key = _scrypt(secret, salt, log_n, r, p, dklen=_KEY_BYTES)
        except (ValueError, MemoryError):
            return False
        return hmac.compare_digest(key, expected)

    def too_costly(self, hash: str) -> bool:
        """Whether ``hash`` is a ``$scrypt$`` hash whose parameters are past the sane bounds."""
        match = _FORMAT.match(hash)
        return match is not None and not _sane(int(match["ln"]), int(match["r"]), int(match["p"]))

    def needs_rehash(self, hash: str) -> bool:
        """True unless ``hash`` uses the configured N with r=8, p=1."""
        match = _FORMAT.match(hash)
        if match is None:
            return True
        return (int(match["ln"]), int(match["r"]), int(match["p"])) != (self.log_n, _R, _P)


def _sane(log_n: int, r: int, p: int) -> bool:
    return 1 <= log_n <= 30 and r >= 1 and 1 <= p <= _MAX_P and 128 * r * 2**log_n <= _MAX_MEMORY


def _scrypt(secret: bytes, salt: bytes, log_n: int, r: int, p: int, *, dklen: int) -> bytes:
    n = 2**log_n
    # hashlib's default maxmem (32 MiB) is below OWASP's N=2**17, r=8 (128 MiB);
    # allow what the parameters need (V is 128*r*N, B is 128*r*p) plus slack.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)
