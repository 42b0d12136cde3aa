"""A software WebAuthn authenticator for the tests: real attestations and assertions.

It makes what a browser hands to a page after ``navigator.credentials.create()``
and ``.get()`` (WebAuthn's JSON, binary values in base64url): ES256 keys from
``cryptography``, "none" attestation, CBOR from ``cbor2`` (a dependency of
``webauthn``). Every part can be bent for negative tests: the origin, the RP
id, the signature counter, the user-verified flag, the user handle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Authenticator", "StoredCredential", "b64", "unb64"]

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("0123456789abcdef0123456789abcdef")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredCredential:
    """One credential the authenticator holds (a resident key)."""

    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({
            1: 2, 3: -7, -1: 1,
            -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big"),
        })  # fmt: skip


@dataclass
class Authenticator:
    """A platform authenticator with resident keys for one origin.

    Args:
        origin: the origin the "browser" reports in client data.
        user_verified: whether assertions and attestations set the UV flag.
        counts: whether it keeps a signature counter (0 forever otherwise).
    """

    origin: str
    user_verified: bool = True
    counts: bool = True
    credentials: list[StoredCredential] = field(default_factory=list)

    # -- navigator.credentials.create() -------------------------------------------------
    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None,
        challenge: bytes | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Answer creation options with a new credential (``attestation: none``)."""
        rp = rp_id or options["rp"]["id"]
        credential = StoredCredential(
            credential_id=secrets.token_bytes(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=options["rp"]["id"],
            user_handle=unb64(options["user"]["id"]),
        )
        client_data = self._client_data(
            "webauthn.create", challenge or unb64(options["challenge"]), origin
        )
        flags = UP | AT | BE | BS | (UV if self.user_verified else 0)
        attested = (
            AAGUID + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id + credential.cose_key()
        )  # fmt: skip
        auth_data = self._auth_data(rp, flags, 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials.append(credential)
        return {
            "id": b64(credential.credential_id),
            "rawId": b64(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    # -- navigator.credentials.get() ----------------------------------------------------
    def get(
        self,
        options: dict[str, Any],
        *,
        credential: StoredCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer request options with an assertion of a credential it holds."""
        if credential is None:
            credential = self.pick(options)
        if sign_count is not None:
            credential.sign_count = sign_count
        elif self.counts:
            credential.sign_count += 1
        client_data = self._client_data("webauthn.get", unb64(options["challenge"]), origin)
        flags = UP | BE | BS | (UV if self.user_verified else 0)
        auth_data = self._auth_data(rp_id or options["rpId"], flags, credential.sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64(credential.credential_id),
            "rawId": b64(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(credential.user_handle if user_handle is None else user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def pick(self, options: dict[str, Any]) -> StoredCredential:
        """The credential a browser would use: one allowed, else a resident one for the RP."""
        allowed = {unb64(c["id"]) for c in options.get("allowCredentials") or []}
        for credential in self.credentials:
            if credential.rp_id == options["rpId"] and (
                not allowed or credential.credential_id in allowed
            ):
                return credential
        raise LookupError("no credential for these options")

    # -- pieces ------------------------------------------------------------------------------
    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        return json.dumps({
            "type": kind, "challenge": b64(challenge), "origin": origin or self.origin,
            "crossOrigin": False,
        }).encode()  # fmt: skip

    @staticmethod
    def _auth_data(rp_id: str, flags: int, count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count)
