"""bcrypt through pyca/bcrypt, without ever truncating a password.

bcrypt reads at most 72 bytes of its input; pyca/bcrypt 5 raises instead of
silently truncating. New hashes (``password_scheme="bcrypt"``) therefore use
passlib's ``bcrypt_sha256`` v2 format, which feeds bcrypt a fixed 44-byte key::

    $bcrypt-sha256$v=2,t=2b,r=<rounds>$<22-char salt>$<31-char digest>
    key = base64(HMAC-SHA256(key=<22-char salt string>, msg=utf8(password)))
    digest = last 31 chars of bcrypt(key, "$2b$<rounds>$<salt>")

Also verified: passlib's v1 ``$bcrypt-sha256$2b,12$salt$digest`` (key =
base64(SHA256(password))) and plain ``$2a$``/``$2b$``/``$2y$`` hashes. For a
plain hash, a password longer than 72 UTF-8 bytes simply does not match: the
hash could only have been made from a (silently) truncated password, and
accepting its prefix would accept every password sharing those 72 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import bcrypt as _bcrypt

from authgate.passwords.base import utf8

__all__ = ["MAX_BCRYPT_BYTES", "MAX_STORED_ROUNDS", "BcryptHasher", "is_plain_bcrypt"]

#: bcrypt ignores (pyca/bcrypt 5 rejects) input past this many bytes.
MAX_BCRYPT_BYTES = 72

#: Stored hashes above this cost (or the configured one, if higher) fail verification:
#: cost 16 is ~5 s per check already, and an imported ``$2b$31$`` row would pin a
#: hashing slot for days (finding S11). The other schemes have the same kind of cap.
MAX_STORED_ROUNDS = 16

_PREFIX = "$bcrypt-sha256$"
_BCRYPT64 = r"[./A-Za-z0-9]"
# passlib writes the rounds of both formats without zero padding ("r=4", "2b,4").
_V2 = re.compile(
    rf"^\$bcrypt-sha256\$v=2,t=2b,r=(?P<rounds>\d{{1,2}})"
    rf"\$(?P<salt>{_BCRYPT64}{{22}})\$(?P<digest>{_BCRYPT64}{{31}})\Z"
)
_V1 = re.compile(
    rf"^\$bcrypt-sha256\$(?P<ident>2[ab]),(?P<rounds>\d{{1,2}})"
    rf"\$(?P<salt>{_BCRYPT64}{{22}})\$(?P<digest>{_BCRYPT64}{{31}})\Z"
)
_PLAIN = re.compile(rf"^\$2[aby]\$(?P<rounds>\d{{2}})\${_BCRYPT64}{{53}}\Z")


def is_plain_bcrypt(hash: str) -> bool:
    """Whether ``hash`` is a plain ``$2a$``/``$2b$``/``$2y$`` bcrypt hash."""
    return _PLAIN.match(hash) is not None


class BcryptHasher:
    """bcrypt-sha256 (v2) hashes; verifies v1 and plain bcrypt too.

    Args:
        rounds: the bcrypt cost factor, 4 to 31 (OWASP: 10 or more).
    """

    scheme = "bcrypt"

    def __init__(self, rounds: int) -> None:
        if not 4 <= rounds <= 31:
            raise ValueError(f"bcrypt rounds must be between 4 and 31, got {rounds}")
        self.rounds = rounds
        self.max_rounds = max(MAX_STORED_ROUNDS, rounds)

    def identify(self, hash: str) -> bool:
        """Whether ``hash`` is a bcrypt-sha256 or plain bcrypt hash."""
        return hash.startswith((_PREFIX, "$2a$", "$2b$", "$2y$"))

    def hash(self, password: str) -> str:
        """A new ``$bcrypt-sha256$v=2`` hash of ``password`` (any length)."""
        config = _bcrypt.gensalt(self.rounds, prefix=b"2b").decode("ascii")
        salt = config[-22:]
        key = _v2_key(password.encode("utf-8"), salt)
        digest = _bcrypt.hashpw(key, config.encode("ascii")).decode("ascii")[-31:]
        return f"{_PREFIX}v=2,t=2b,r={self.rounds}${salt}${digest}"

    def verify(self, password: str, hash: str) -> bool:
        """Whether ``password`` matches ``hash``; ``False`` for malformed or too costly hashes."""
        secret = utf8(password)
        if secret is None:
            return False
        if match := _V2.match(hash):
            ident, key = "2b", _v2_key(secret, match["salt"])
        elif match := _V1.match(hash):
            ident, key = match["ident"], _v1_key(secret)
        elif match := _PLAIN.match(hash):
            if len(secret) > MAX_BCRYPT_BYTES or not self._affordable(match):
                return False
            return _checkpw(secret, hash)
        else:
            return False
        if not self._affordable(match):
            return False
        rounds = int(match["rounds"])
        return _checkpw(key, f"${ident}${rounds:02d}${match['salt']}{match['digest']}")

    def too_costly(self, hash: str) -> bool:
        """Whether ``hash`` is a bcrypt hash with a cost past what this hasher verifies."""
        match = _V2.match(hash) or _V1.match(hash) or _PLAIN.match(hash)
        return match is not None and int(match["rounds"]) > self.max_rounds

    def _affordable(self, match: re.Match[str]) -> bool:
        return 4 <= int(match["rounds"]) <= self.max_rounds

    def needs_rehash(self, hash: str) -> bool:
        """True unless ``hash`` is bcrypt-sha256 v2 with the configured rounds."""
        match = _V2.match(hash)
        return match is None or int(match["rounds"]) != self.rounds


def _v2_key(secret: bytes, salt: str) -> bytes:
    # passlib keys the HMAC with the salt *string* (not its decoded bytes) so
    # other implementations need no bcrypt-base64 decoder; base64 keeps the key
    # free of NUL bytes (bcrypt stops at NUL) and under 72 bytes.
    mac = hmac.new(salt.encode("ascii"), secret, hashlib.sha256).digest()
    return base64.b64encode(mac)


def _v1_key(secret: bytes) -> bytes:
    return base64.b64encode(hashlib.sha256(secret).digest())


def _checkpw(secret: bytes, hash: str) -> bool:
    try:
        return _bcrypt.checkpw(secret, hash.encode("ascii"))
    except ValueError:
        # Invalid salt, or a secret past 72 bytes (pyca/bcrypt >= 5).
        return False
