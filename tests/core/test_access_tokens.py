"""Access tokens, signing keys and their settings (SPEC §10), through the Python API."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import jwt
import pytest

from authgate import Auth
from authgate.keys import generate_key, load_key, private_jwk, private_pem, thumbprint
from authgate.settings import InsecureSettingWarning, Settings

SECRET = "core-secret-" + "x" * 32
PASSWORD = "correct horse battery"
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
KEY = private_pem(generate_key("EdDSA"))


def make(**settings: Any) -> Auth:
    return Auth(SECRET, **{**FAST, "jwt_access_tokens": True, "jwt_keys": [KEY], **settings})


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# -- settings -------------------------------------------------------------------------
def test_no_key_is_refused_outside_debug_with_the_remedy() -> None:
    with pytest.raises(ValueError, match="authgate keys generate"):
        Auth(SECRET, jwt_access_tokens=True)


def test_debug_makes_a_temporary_key_with_a_warning() -> None:
    with pytest.warns(InsecureSettingWarning, match="temporary signing key"):
        auth = Auth(SECRET, jwt_access_tokens=True, debug=True, **FAST)
    result = auth.sign_up("alice@example.com", PASSWORD)
    assert auth.verify_token(result.token) is not None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jwt_keys": ["not a key"]}, "jwt_keys\\[0\\] is not a key"),
        ({"jwt_keys": [private_pem(generate_key("ES256"))]}, "needs an Ed25519 key"),
        ({"jwt_keys": [KEY], "jwt_algorithm": "ES256"}, "P-256"),
        ({"jwt_algorithm": "RS256"}, "must be one of"),
        ({"jwt_algorithm": "none"}, "must be one of"),
        ({"jwt_algorithm": "HS256", "jwt_keys": ["short"]}, "32 bytes"),
        ({"jwt_algorithm": "HS256", "jwt_keys": [KEY]}, "not a PEM key"),
        ({"auth101_compat": True, "jwt_keys": [KEY]}, "not a PEM key"),
        ({"access_token_lifetime": 0}, "greater than 0"),
        ({"access_token_lifetime": 2 * 86400}, "at most a day"),
        ({"refresh_token_lifetime": -1}, "greater than 0"),
        ({"refresh_reuse_grace": 3600}, "between 0 and 300"),
        ({"jwt_issuer": " "}, "non-empty"),
    ],
)
def test_bad_token_settings_are_refused_at_set_up(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**settings)


def test_the_first_key_must_be_able_to_sign() -> None:
    public = load_key(KEY, "EdDSA").public
    from cryptography.hazmat.primitives import serialization

    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ValueError, match="must be a private key"):
        make(jwt_keys=[pem])
    make(jwt_keys=[KEY, pem])  # an old key may be public only


def test_keys_from_files_jwk_text_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(KEY)
    jwk = json.dumps(private_jwk(generate_key("EdDSA")))
    auth = make(jwt_keys=[str(path), jwk])
    kids = [k["kid"] for k in auth.jwks()["keys"]]
    assert kids == [load_key(KEY, "EdDSA").kid, json.loads(jwk)["kid"]]
    for raw in (
        json.dumps({"keys": [json.loads(jwk)]}),  # a JWK set
        KEY + "\n" + private_pem(generate_key("EdDSA")),  # PEM blocks
        f"{path}, {path}",  # paths
    ):
        environ = {"AUTHGATE_JWT_ACCESS_TOKENS": "1", "AUTHGATE_JWT_KEYS": raw}
        settings = Settings.from_mapping({"AUTHGATE_SECRET": SECRET, **environ})
        assert settings.jwt_keys and all(isinstance(k, str) for k in settings.jwt_keys)
        auth = Auth.from_config({}, environ=environ, defaults={"secret": SECRET})
        assert auth.ctx.access_tokens is not None


def test_kid_is_the_rfc7638_thumbprint() -> None:
    from joserfc.jwk import OKPKey

    key = load_key(KEY, "EdDSA")
    jwk = key.public_jwk()
    assert jwk is not None
    assert key.kid == OKPKey.import_key(jwk).thumbprint() == thumbprint(jwk)
    # RFC 7638 §3.1's example key.
    rsa_free = {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}
    assert thumbprint(rsa_free) == thumbprint({**rsa_free, "kid": "ignored", "use": "sig"})


# -- rotation ---------------------------------------------------------------------------
def test_rotating_keys_keeps_old_tokens_valid() -> None:
    old = make()
    token = old.sign_up("alice@example.com", PASSWORD).token
    new_key = private_pem(generate_key("EdDSA"))
    rotated = make(jwt_keys=[new_key, KEY], store=old.store)
    assert rotated.verify_token(token) is not None  # signed by the old key, still listed
    fresh = rotated.sign_in("alice@example.com", PASSWORD).token
    assert jwt.get_unverified_header(fresh)["kid"] == load_key(new_key, "EdDSA").kid
    removed = make(jwt_keys=[new_key], store=old.store)
    assert removed.verify_token(token) is None  # its key removed: refused


def test_hs256_keys_derive_from_the_secret_and_rotate_with_it() -> None:
    auth = Auth(SECRET, jwt_access_tokens=True, jwt_algorithm="HS256", **FAST)
    token = auth.sign_up("alice@example.com", PASSWORD).token
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):  # not the secret itself
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="authgate")
    assert auth.jwks() == {"keys": []}
    rotated = Auth(["new-" + SECRET, SECRET], jwt_access_tokens=True, jwt_algorithm="HS256",
                   store=auth.store, **FAST)  # fmt: skip
    assert rotated.verify_token(token) is not None
    assert Auth("other-" + SECRET, jwt_access_tokens=True, jwt_algorithm="HS256",
                store=auth.store, **FAST).verify_token(token) is None  # fmt: skip


def test_es256_tokens() -> None:
    key = private_pem(generate_key("ES256"))
    auth = make(jwt_algorithm="ES256", jwt_keys=[key])
    token = auth.sign_up("alice@example.com", PASSWORD).token
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    public = load_key(key, "ES256").public
    assert jwt.decode(token, public, algorithms=["ES256"], audience="authgate")["sub"]
    (jwk,) = auth.jwks()["keys"]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and "d" not in jwk


# -- claims and the token user ----------------------------------------------------------------
def test_claims_and_defaults() -> None:
    auth = make(base_url="https://app.example", usernames=True)
    auth.users.create_role("editor", permissions=["post.edit", "post.read"])
    auth.users.create_user(email="bob@example.com", username="bob", password=PASSWORD,
                           roles=["editor"])  # fmt: skip
    result = auth.sign_in("bob@example.com", PASSWORD)
    data = claims(result.token)
    assert data["iss"] == data["aud"] == "https://app.example"
    assert data["username"] == "bob" and data["email_verified"] is True
    assert data["roles"] == ["editor"] and data["permissions"] == ["post.edit", "post.read"]
    assert result.session is not None and data["sid"] == result.session.id
    custom = make(jwt_issuer="https://id.example", jwt_audience="api")
    data = claims(custom.sign_up("carol@example.com", PASSWORD).token)
    assert (data["iss"], data["aud"]) == ("https://id.example", "api")


def test_token_user_has_the_interface_views_use() -> None:
    auth = make()
    auth.users.create_role("editor", permissions=["post.edit"])
    auth.users.create_user(email="bob@example.com", password=PASSWORD, roles=["editor"])
    token = auth.sign_in("bob@example.com", PASSWORD).token
    assert auth.ctx.access_tokens is not None
    user = auth.ctx.access_tokens.verify(token).user
    stored = auth.users.get_user("bob@example.com")
    assert user.to_dict() == stored.to_dict()
    assert user.id == stored.id and user.get_id() == str(stored.id)
    assert user.has_role("editor") and not user.has_role("admin")
    assert user.has_permission("post.edit") and user.roles[0] == "editor"
    assert user.is_authenticated and user.is_active and not user.is_anonymous
    assert user.roles[0].get_permissions() == set()


def test_a_verified_token_is_remembered_only_until_it_expires() -> None:
    now = [dt.datetime.now(dt.timezone.utc)]
    auth = make(clock=lambda: now[0], access_token_lifetime=60)
    token = auth.sign_up("alice@example.com", PASSWORD).token
    tokens = auth.ctx.access_tokens
    assert tokens is not None
    assert tokens.verify(token) is tokens.verify(token)  # the second time from memory
    now[0] += dt.timedelta(seconds=60)
    from authgate.errors import InvalidToken

    with pytest.raises(InvalidToken):
        tokens.verify(token)
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_results_say_which_token_is_which() -> None:
    auth = make()
    result = auth.sign_up("alice@example.com", PASSWORD)
    assert result.to_dict()["token"] == result.token != result.session_token
    assert auth.get_session(result.session_token).id == result.session.id
    plain = Auth(SECRET, **FAST).sign_up("bob@example.com", PASSWORD)
    assert plain.session_token == plain.token and plain.refresh_token is None
    assert set(plain.to_dict()) == {"user", "token"}


# -- auth101 compatibility ------------------------------------------------------------------
def auth101_token(secret: str, email: str, **extra: Any) -> str:
    """A token as auth101 0.2/0.3 signs one (``create_token``): HS256 with the raw secret."""
    now = dt.datetime.now(dt.timezone.utc)
    payload = {"sub": "their-id", "iat": now, "exp": now + dt.timedelta(minutes=60),
               "email": email, **extra}  # fmt: skip
    return jwt.encode(payload, secret, algorithm="HS256")


def test_auth101_compat_answers_what_its_clients_read() -> None:
    auth = Auth(SECRET, auth101_compat=True, **FAST)
    assert auth.settings.jwt_enabled and auth.settings.jwt_signing_algorithm == "HS256"
    body = auth.sign_up("alice@example.com", PASSWORD).to_dict()
    assert body["access_token"] == body["token"]  # auth101 0.3 reads access_token
    assert {"refresh_token", "expires_in", "token_type"} <= set(body)
    # What auth101's own verify_token did still verifies it: the secret, HS256, no audience.
    decoded = jwt.decode(body["token"], SECRET, algorithms=["HS256"])
    assert decoded["email"] == "alice@example.com" and decoded["type"] == "access"
    assert "aud" not in decoded


def test_auth101_compat_accepts_tokens_auth101_signed() -> None:
    auth = Auth(SECRET, auth101_compat=True, **FAST)
    auth.sign_up("alice@example.com", PASSWORD)
    from authgate.web.api import AuthAPI
    from authgate.web.http import ApiRequest, HeadersView

    api = AuthAPI(auth)

    def who(token: str) -> Any:
        request = ApiRequest(method="GET", path="/x", headers=HeadersView({
            "authorization": f"Bearer {token}"}), cookies={}, query={}, body=b"",
            remote_addr="127.0.0.1")  # fmt: skip
        try:
            principal = api.credentials.authenticate(request)
        except Exception as exc:
            return type(exc).__name__
        return None if principal is None else principal.user.email

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns of the short HMAC key in the last case
        assert who(auth101_token(SECRET, "alice@example.com")) == "alice@example.com"
        assert who(auth101_token(SECRET, "alice@example.com", type="access")) == (
            "alice@example.com"
        )
        assert who(auth101_token(SECRET, "alice@example.com", type="refresh",
                                 jti="x")) == "InvalidToken"  # fmt: skip
        assert who(auth101_token(SECRET, "nobody@example.com")) == "InvalidToken"
        assert who(auth101_token("another-secret-" + "y" * 32, "alice@example.com")) == (
            "InvalidToken"
        )
    # Without compatibility, the same tokens are nothing.
    plain = make()
    assert plain.verify_token(auth101_token(SECRET, "alice@example.com")) is None
