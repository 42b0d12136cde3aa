"""Signing keys of access tokens: loading, generating, ``kid`` thumbprints and the JWKS.

Keys come from the ``jwt_keys`` setting, newest first: the first one signs,
every one verifies, so a key is rotated by putting a new one first and
removing the old one once the tokens it signed have expired. Each entry is a
PEM text, a JWK (JSON) text, or the path of a file holding one; an old key
may be given by its public part alone. ``HS256`` keys are JWKs of type
``oct`` or plain text of 32 bytes or more; without ``jwt_keys`` they are
derived from the ``secret`` (one per secret, so rotating the secret rotates
them), or, with ``auth101_compat``, are the secrets themselves (what auth101
signed with).

Every key's ``kid`` is its RFC 7638 thumbprint (SHA-256 of the required
members of its public JWK), so the same key always has the same ``kid``,
in every process, without configuration.

The cryptography is PyJWT's and ``cryptography``'s (``pip install
"authgate[jwt]"``): nothing here signs or verifies by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'JWT access tokens need PyJWT and cryptography; run `pip install "authgate[jwt]"`'
    ) from exc

from authgate.settings import InsecureSettingWarning, Settings

__all__ = [
    "ALGORITHMS",
    "SigningKey",
    "generate_key",
    "jwks",
    "load_key",
    "load_keys",
    "private_jwk",
    "private_pem",
    "thumbprint",
]

#: The algorithms access tokens may be signed with (a fixed allowlist).
ALGORITHMS = ("EdDSA", "ES256", "HS256")
#: Shortest HS256 key accepted, in bytes (RFC 7518 §3.2: at least the hash size).
MIN_HMAC_KEY = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a JWK: SHA-256 of its required public members, base64url.

    Examples:
        >>> thumbprint({"kty": "oct", "k": "AAAA"})
        'juGfhwtvxgs-pCUrY2O4me_EUqZncxWSUm6eCOkHG9A'
    """
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "oct": ("k", "kty")}
    members = required.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"unsupported key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True)
class SigningKey:
    """One key: what signs (``private``, ``None`` for a verify-only key) and what verifies."""

    kid: str
    algorithm: str
    #: A ``cryptography`` private key, the HMAC key bytes, or ``None`` (verify only).
    private: Any
    #: A ``cryptography`` public key, or the HMAC key bytes.
    public: Any

    def public_jwk(self) -> dict[str, Any] | None:
        """The public JWK for the JWKS (``None`` for HS256: a shared secret is never published)."""
        if self.algorithm == "HS256":
            return None
        jwk = _public_jwk(self.public, self.algorithm)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def _public_jwk(public: Any, algorithm: str) -> dict[str, Any]:
    codec = OKPAlgorithm if algorithm == "EdDSA" else ECAlgorithm
    data: dict[str, Any] = json.loads(codec.to_jwk(public))
    return {k: v for k, v in data.items() if k in ("kty", "crv", "x", "y")}


def _check_type(key: Any, algorithm: str, where: str) -> None:
    """A key of the algorithm's type (Ed25519 for EdDSA, P-256 for ES256)."""
    if algorithm == "EdDSA":
        ok = isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey)
        wanted = "an Ed25519 key"
    else:
        ok = isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and (
            key.curve.name == "secp256r1"
        )
        wanted = "a P-256 (secp256r1) EC key"
    if not ok:
        raise ValueError(f"{where}: jwt_algorithm={algorithm!r} needs {wanted}")


def _read(text: str, where: str) -> str:
    """The key text itself: ``text``, or the content of the file it names."""
    stripped = text.strip()
    if stripped.startswith(("-----BEGIN", "{")):
        return stripped
    if os.path.isfile(stripped):
        with open(stripped, encoding="utf-8") as handle:
            return handle.read().strip()
    return stripped


def load_key(text: str, algorithm: str, where: str = "jwt_keys") -> SigningKey:
    """Parse one key for ``algorithm``.

    Raises:
        ValueError: the text is neither a PEM, a JWK nor a file holding one, or
            the key does not fit the algorithm (the message says which entry).
    """
    content = _read(text, where)
    if algorithm == "HS256":
        return _hmac_key(content, where)
    private: Any = None
    public: Any
    try:
        if content.startswith("{"):
            jwk = json.loads(content)
            if not isinstance(jwk, dict):
                raise ValueError
            codec = OKPAlgorithm if jwk.get("kty") == "OKP" else ECAlgorithm
            key: Any = codec.from_jwk(jwk)
        elif content.startswith("-----BEGIN") and "PRIVATE KEY" in content.split("\n", 1)[0]:
            key = serialization.load_pem_private_key(content.encode(), password=None)
        elif content.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(content.encode())
        else:
            raise ValueError
    except Exception:
        raise ValueError(
            f"{where} is not a key: give PEM text, JWK text or the path of a file holding "
            "one (make one with `authgate keys generate`)"
        ) from None
    _check_type(key, algorithm, where)
    if hasattr(key, "public_key"):
        private, public = key, key.public_key()
    else:
        public = key
    return SigningKey(thumbprint(_public_jwk(public, algorithm)), algorithm, private, public)


def _hmac_key(content: str, where: str) -> SigningKey:
    if content.startswith("-----BEGIN"):
        raise ValueError(
            f"{where}: HS256 signs with a shared secret (an oct JWK or text), not a PEM key; "
            "set jwt_algorithm to the key's algorithm (EdDSA or ES256)"
        )
    if content.startswith("{"):
        try:
            jwk = json.loads(content)
            secret = _unb64(jwk["k"]) if jwk.get("kty") == "oct" else b""
        except (ValueError, KeyError, TypeError):
            secret = b""
    else:
        secret = content.encode("utf-8")
    if len(secret) < MIN_HMAC_KEY:
        raise ValueError(f"{where}: an HS256 key needs {MIN_HMAC_KEY} bytes or more")
    return hmac_key(secret)


def hmac_key(secret: bytes) -> SigningKey:
    """An HS256 key from its bytes (its ``kid``: the thumbprint of its ``oct`` JWK)."""
    return SigningKey(thumbprint({"kty": "oct", "k": _b64(secret)}), "HS256", secret, secret)


def load_keys(settings: Settings) -> list[SigningKey]:
    """The signing keys the settings name, newest first (see the module docstring).

    With ``debug`` and no key for EdDSA/ES256, one temporary key is made (with
    a warning): tokens then die with the process.

    Raises:
        ValueError: a bad key, or a first key that cannot sign.
    """
    algorithm = settings.jwt_signing_algorithm
    keys = [load_key(text, algorithm, f"jwt_keys[{i}]") for i, text in enumerate(settings.jwt_keys)]
    if not keys and algorithm == "HS256":
        if settings.auth101_compat:  # auth101 signed with the secret itself
            keys = [hmac_key(secret.encode("utf-8")) for secret in settings.secrets]
        else:
            keys = [hmac_key(_derived(secret)) for secret in settings.secrets]
    if not keys:
        warnings.warn(
            "jwt_access_tokens: no jwt_keys, so a temporary signing key was made for this "
            "process (debug only): access tokens stop working when it ends. Make a key "
            "with `authgate keys generate` and set jwt_keys.",
            InsecureSettingWarning,
            stacklevel=4,
        )
        keys = [load_key(private_pem(generate_key(algorithm)), algorithm)]
    if keys[0].private is None:
        raise ValueError("jwt_keys[0] signs new tokens, so it must be a private key")
    return keys


def _derived(secret: str) -> bytes:
    """The HS256 key of one secret (as :func:`authgate.tokens.derive_key` derives keys)."""
    return hmac.new(secret.encode("utf-8", "surrogatepass"), b"authgate.jwt", "sha256").digest()


def generate_key(algorithm: str = "EdDSA") -> Any:
    """A new private key: Ed25519 (EdDSA), P-256 (ES256), or 32 random bytes (HS256)."""
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "HS256":
        return os.urandom(MIN_HMAC_KEY)
    raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")


def private_pem(key: Any) -> str:
    """A private key as unencrypted PKCS#8 PEM text."""
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
    )


def private_jwk(key: Any) -> dict[str, Any]:
    """A private key as a JWK (with its ``kid`` and ``alg``); HS256 bytes as an ``oct`` JWK."""
    if isinstance(key, bytes):
        jwk: dict[str, Any] = {"kty": "oct", "k": _b64(key)}
        return {**jwk, "kid": thumbprint(jwk), "alg": "HS256"}
    algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    codec = OKPAlgorithm if algorithm == "EdDSA" else ECAlgorithm
    data: dict[str, Any] = json.loads(codec.to_jwk(key))
    kid = thumbprint(_public_jwk(key.public_key(), algorithm))
    return {**data, "kid": kid, "alg": algorithm}


def jwks(keys: Sequence[SigningKey]) -> dict[str, Any]:
    """The JWK set of the public keys (``{"keys": [...]}``; empty for HS256)."""
    published = [jwk for key in keys if (jwk := key.public_jwk()) is not None]
    return {"keys": published}
