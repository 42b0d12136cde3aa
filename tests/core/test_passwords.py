"""Password hashing: every scheme, legacy formats, rehash on sign-in, dummy work, Unicode.

Fixtures come from the reference implementations: passlib (pbkdf2, scrypt,
argon2i/d, generated live), Django's PBKDF2 hashers (live) and hard-coded
passlib bcrypt hashes (passlib's bcrypt backend cannot load with pyca/bcrypt 5;
see the comment above ``LONG_PASSWORD``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher

from authgate.passwords import (
    Argon2Hasher,
    BcryptHasher,
    Hasher,
    PasswordHasher,
    Pbkdf2Hasher,
    ScryptHasher,
    normalize_password,
)
from authgate.passwords.base import ab64_decode, b64s_decode
from authgate.passwords.legacy import flask_security_hmac
from authgate.settings import Settings

with warnings.catch_warnings():
    # passlib 1.7.4 imports the stdlib ``crypt`` module (deprecated since 3.11)
    # and reads ``argon2.__version__`` (deprecated by argon2-cffi) on loading.
    warnings.simplefilter("ignore", DeprecationWarning)
    from passlib import hash as passlib_hash

    passlib_hash.argon2.set_backend("argon2_cffi")

FAST: dict[str, Any] = {
    "argon2_memory_cost": 1024,
    "argon2_time_cost": 1,
    "bcrypt_rounds": 4,
    "pbkdf2_iterations": 1000,
    "scrypt_log_n": 4,
}
SCHEMES = ["argon2", "bcrypt", "scrypt", "pbkdf2"]
PREFIXES = {
    "argon2": "$argon2id$v=19$m=1024,t=1,p=1$",
    "bcrypt": "$bcrypt-sha256$v=2,t=2b,r=4$",
    "scrypt": "$scrypt$ln=4,r=8,p=1$",
    "pbkdf2": "$pbkdf2-sha256$1000$",
}
ARGON2ID = re.compile(
    r"^\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<tag>[A-Za-z0-9+/]+)$"
)


# -- hard-coded passlib bcrypt fixtures ---------------------------------------
# passlib 1.7.4's ``bcrypt`` backend crashes on import-time self-tests with
# pyca/bcrypt 5 (it hashes a >72-byte probe and bcrypt 5 raises), so these
# could not be generated live. They were produced once with passlib's own
# pure-Python bcrypt (an implementation independent of pyca/bcrypt)::
#
#     PASSLIB_BUILTIN_BCRYPT=enabled python
#     >>> import passlib.hash as ph
#     >>> ph.bcrypt.set_backend("builtin")
#     >>> ph.bcrypt_sha256.using(rounds=4).hash(LONG_PASSWORD)               # v2
#     >>> ph.bcrypt_sha256.using(version=1, rounds=4).hash(SHORT_PASSWORD)   # v1
#     >>> ph.bcrypt.using(rounds=4).hash(SHORT_PASSWORD)
#     >>> ph.bcrypt.using(rounds=4).hash(LONG_PASSWORD[:72])
#     >>> ph.bcrypt.using(rounds=4).hash(fs_hmac(NFKD(FS_PASSWORD), FS_SALT))
#     >>> ph.bcrypt_sha256.using(rounds=4).hash(fs_hmac(NFKD(FS_PASSWORD), FS_SALT))
#
# where ``fs_hmac`` is Flask-Security's ``get_hmac``:
# ``base64.b64encode(hmac.new(salt.encode(), password.encode(), hashlib.sha512).digest())``.
# The pure-Python bcrypt, like bcrypt < 5, silently used only the first 72 bytes
# of the 88-character HMAC: exactly what Flask-Security stored.

#: 80 ASCII bytes ending in a space (SECURITY §1.1 #4).
LONG_PASSWORD = ("Correct Horse Battery Staple " * 3)[:79] + " "
SHORT_PASSWORD = "correct horse battery staple"

#: Flask-Security's SECURITY_PASSWORD_SALT and a non-ASCII password (FS 4+
#: hashed its NFKD form).
FS_SALT = "fs-password-salt-from-config"
FS_PASSWORD = "P\u00e4ssword-\u00fcber-1"

BCRYPT_SHA256_V2_LONG = (
    "$bcrypt-sha256$v=2,t=2b,r=4$pfdaaZUL0ybZdYhKCM/yIe$mbKuUMvRZGxl.qXdV39ZhYSeRdw3DGi"
)
BCRYPT_SHA256_V1_SHORT = (
    "$bcrypt-sha256$2b,4$5XVRTZxY.bz9OCxggZkZju$PhsbJ.xqOYdOjAQtUqBevuJmGYATmHG"
)
BCRYPT_2B_SHORT = "$2b$04$151aASRFMRjrBUa.eTGb3OHT.Suw.5I5DQ6ACIjAZ7ky0QfsIiaPC"
#: Plain bcrypt of LONG_PASSWORD[:72]: what a truncating system stored for LONG_PASSWORD.
BCRYPT_2B_OF_FIRST_72 = "$2b$04$dhj53ot/ZVvGHZZSPlM7LON1TLWB1DHPGux6fyPuu8e0IPp.ZtRiO"
FS_BCRYPT = "$2b$04$5.9JMKbZEwj62M8qJDhnnuHRfanJfJYHQGIv2b0wlMlXxfvUXViqO"
FS_BCRYPT_SHA256 = (
    "$bcrypt-sha256$v=2,t=2b,r=4$I1PTde/a4Xa2.Tj0yc8ciO$ihNa5uI6karCFdglIM3.HktjhlabaPW"
)


def make_settings(**overrides: Any) -> Settings:
    return Settings(secret="x" * 32, **{**FAST, **overrides})


def make_hasher(**overrides: Any) -> PasswordHasher:
    return PasswordHasher(make_settings(**overrides))


def fs_get_hmac(password: str, salt: str) -> str:
    """Flask-Security's ``get_hmac``, re-typed from ``flask_security/utils.py``."""
    mac = hmac.new(salt.encode("utf-8"), password.encode("utf-8"), hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


class CountingSpy:
    """Wraps a hasher method on one instance and counts the calls."""

    def __init__(self, target: Any, name: str) -> None:
        self.calls = 0
        self._original: Callable[..., Any] = getattr(target, name)
        self._lock = threading.Lock()
        setattr(target, name, self)

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            self.calls += 1
        return self._original(*args)


@pytest.fixture
def hasher() -> PasswordHasher:
    return make_hasher()


# -- every scheme -----------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_hash_then_verify(scheme: str) -> None:
    ph = make_hasher(password_scheme=scheme)
    stored = ph.hash("correct horse battery staple")
    assert stored.startswith(PREFIXES[scheme])
    assert ph.current.scheme == scheme
    assert ph.identify(stored) == scheme
    assert ph.verify("correct horse battery staple", stored) == (True, None)
    assert ph.verify("correct horse battery stapl", stored) == (False, None)
    assert ph.verify("Correct horse battery staple", stored) == (False, None)
    assert ph.needs_rehash(stored) is False
    assert ph.current.needs_rehash(stored) is False


@pytest.mark.parametrize("scheme", SCHEMES)
def test_same_password_gets_different_hashes(scheme: str) -> None:
    ph = make_hasher(password_scheme=scheme)
    first, second = ph.hash("same password"), ph.hash("same password")
    assert first != second
    assert ph.verify("same password", first)[0]
    assert ph.verify("same password", second)[0]


def _corruptions(stored: str) -> list[str]:
    head, _, tail = stored.rpartition("$")
    # The first character is fully significant (the last may hold padding bits).
    flipped = ("A" if tail[0] != "A" else "B") + tail[1:]
    return [
        stored[:-1],
        stored[: len(stored) // 2],
        stored + "$",
        stored + "AAAA",
        head,
        head + "$",
        head + "$" + flipped,
        head + "$!!!!not-base64!!!!",
        stored.replace("$", "$$", 1),
        stored.split("$", 2)[0] + "$" + stored.split("$")[1] + "$",
        " " + stored,
        stored.upper(),
    ]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_malformed_hashes_are_false_never_exceptions(scheme: str) -> None:
    ph = make_hasher(password_scheme=scheme)
    stored = ph.hash("pw-for-corruption")
    for bad in _corruptions(stored):
        assert ph.current.verify("pw-for-corruption", bad) is False, bad
        assert ph.verify("pw-for-corruption", bad) == (False, None), bad
        assert isinstance(ph.needs_rehash(bad), bool)


@pytest.mark.parametrize(
    "garbage",
    [
        "$argon2id$",
        "$argon2id$v=19$m=1024,t=1,p=1$$",
        "$argon2i$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        "$bcrypt-sha256$v=2,t=2b,r=99$" + "a" * 22 + "$" + "b" * 31,
        "$bcrypt-sha256$v=3,t=2b,r=4$" + "a" * 22 + "$" + "b" * 31,
        "$2b$04$short",
        "$2b$99$" + "a" * 53,
        "$2x$04$" + "a" * 53,
        "$scrypt$ln=4,r=8,p=1$",
        "$scrypt$ln=99,r=8,p=1$c2FsdA$" + "A" * 43,
        "$scrypt$ln=4,r=8,p=1$c2FsdA$A",
        "$pbkdf2-sha256$$$",
        "$pbkdf2-sha256$0$c2FsdA$" + "A" * 43,
        "$pbkdf2-sha256$1000$c2FsdA$" + "A" * 10,
        "$pbkdf2-sha512$1000$c2FsdA$" + "A" * 43,
        "$pbkdf2-md5$1000$c2FsdA$" + "A" * 22,
        "pbkdf2_sha256$1000$salt$not-base64!",
        "pbkdf2_sha256$1000$salt$" + "A" * 10,
        "pbkdf2_md5$1000$salt$" + "A" * 22 + "==",
        "plaintext-password",
        "sha1$salt$deadbeef",
        "\x00",
        "$",
        "$$$$",
        "\u00e9\u00e9\u00e9",
    ],
)
def test_garbage_hashes_fail_quietly(hasher: PasswordHasher, garbage: str) -> None:
    assert hasher.verify("whatever password", garbage) == (False, None)
    for scheme_hasher in hasher.hashers.values():
        assert scheme_hasher.verify("whatever password", garbage) is False
    assert hasher.needs_rehash(garbage) is True


def test_every_builtin_hasher_satisfies_the_protocol(hasher: PasswordHasher) -> None:
    assert set(hasher.hashers) == set(SCHEMES)
    for scheme_hasher in hasher.hashers.values():
        assert isinstance(scheme_hasher, Hasher)
    assert isinstance(hasher.current, Argon2Hasher)


def test_scheme_switch_rehashes_to_the_new_scheme() -> None:
    stored = make_hasher().hash("moving to pbkdf2")
    ph = make_hasher(password_scheme="pbkdf2")
    assert ph.needs_rehash(stored)
    ok, new_hash = ph.verify("moving to pbkdf2", stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith("$pbkdf2-sha256$1000$")
    assert ph.verify("moving to pbkdf2", new_hash) == (True, None)


# -- argon2 -----------------------------------------------------------------


def test_default_settings_meet_the_owasp_argon2id_floor() -> None:
    """SECURITY §1.2 #11: PHC argon2id at or above the floors, salt >= 16 bytes, unique."""
    ph = PasswordHasher(Settings(secret="x" * 32))
    alice, bob = ph.hash("shared password!"), ph.hash("shared password!")
    assert alice != bob
    for stored in (alice, bob):
        match = ARGON2ID.match(stored)
        assert match is not None, stored
        m, t, p = int(match["m"]), int(match["t"]), int(match["p"])
        assert m >= 19456
        assert t >= 2
        assert p == 1
        assert (t == 1 and m >= 47104) or (t == 2 and m >= 19456) or (t >= 3 and m >= 12288)
        salt = b64s_decode(match["salt"])
        assert salt is not None
        assert len(salt) >= 16
        assert "shared password" not in stored
    assert ph.verify("shared password!", alice) == (True, None)


def test_argon2_outdated_parameters_rehash_on_success_only() -> None:
    """SECURITY §1.2 #12: wrong password leaves the hash, right one upgrades it."""
    old = make_hasher(argon2_memory_cost=512, argon2_time_cost=1).hash("upgrade me please")
    ph = make_hasher(argon2_memory_cost=1024, argon2_time_cost=2)
    assert ph.needs_rehash(old)
    assert ph.verify("wrong password", old) == (False, None)
    ok, new_hash = ph.verify("upgrade me please", old)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith("$argon2id$v=19$m=1024,t=2,p=1$")
    assert ph.needs_rehash(new_hash) is False
    assert ph.verify("upgrade me please", new_hash) == (True, None)


@pytest.mark.parametrize("variant", ["i", "d"])
def test_passlib_argon2i_and_argon2d_verify_and_upgrade(
    hasher: PasswordHasher, variant: str
) -> None:
    stored = passlib_hash.argon2.using(type=variant, memory_cost=1024, rounds=1).hash("old pw 1")
    assert stored.startswith(f"$argon2{variant}$v=19$")
    assert hasher.identify(stored) == "argon2"
    assert hasher.needs_rehash(stored)
    assert hasher.verify("old pw 2", stored) == (False, None)
    ok, new_hash = hasher.verify("old pw 1", stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["argon2"])


def test_argon2_same_parameters_other_variant_needs_rehash() -> None:
    argon2i = passlib_hash.argon2.using(type="i", memory_cost=1024, rounds=1, parallelism=1)
    stored = argon2i.hash("variant")
    assert stored.startswith("$argon2i$v=19$m=1024,t=1,p=1$")
    assert Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).needs_rehash(stored)


def test_argon2_absurd_stored_parameters_fail_without_the_work(hasher: PasswordHasher) -> None:
    real = hasher.hash("pw")
    salt_and_tag = real.split("$", 4)[4]
    huge = f"$argon2id$v=19$m={8 * 1024 * 1024},t=1,p=1${salt_and_tag}"
    started = time.perf_counter()
    assert hasher.verify("pw", huge) == (False, None)
    assert time.perf_counter() - started < 0.5


# -- bcrypt -----------------------------------------------------------------


def test_bcrypt_new_hashes_use_bcrypt_sha256_v2() -> None:
    ph = make_hasher(password_scheme="bcrypt")
    stored = ph.hash(LONG_PASSWORD)
    assert re.fullmatch(
        r"\$bcrypt-sha256\$v=2,t=2b,r=4\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{31}", stored
    )
    assert ph.verify(LONG_PASSWORD, stored) == (True, None)
    assert make_hasher(password_scheme="bcrypt", bcrypt_rounds=5).needs_rehash(stored)


def test_passlib_bcrypt_sha256_v2_fixture_verifies() -> None:
    ph = make_hasher(password_scheme="bcrypt")
    assert ph.identify(BCRYPT_SHA256_V2_LONG) == "bcrypt"
    assert ph.needs_rehash(BCRYPT_SHA256_V2_LONG) is False
    assert ph.verify(LONG_PASSWORD, BCRYPT_SHA256_V2_LONG) == (True, None)
    assert ph.verify(SHORT_PASSWORD, BCRYPT_SHA256_V2_LONG) == (False, None)


@pytest.mark.parametrize("stored", [BCRYPT_SHA256_V1_SHORT, BCRYPT_2B_SHORT])
def test_bcrypt_legacy_formats_verify_and_upgrade_to_argon2id(stored: str) -> None:
    ph = make_hasher()
    assert ph.identify(stored) == "bcrypt"
    assert ph.needs_rehash(stored)
    assert ph.verify(SHORT_PASSWORD + "!", stored) == (False, None)
    ok, new_hash = ph.verify(SHORT_PASSWORD, stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["argon2"])
    # Even with bcrypt as the current scheme, v1 and plain bcrypt get upgraded.
    ok, new_hash = make_hasher(password_scheme="bcrypt").verify(SHORT_PASSWORD, stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["bcrypt"])


@pytest.mark.parametrize("ident", ["2a", "2y"])
def test_plain_bcrypt_2a_and_2y_verify(hasher: PasswordHasher, ident: str) -> None:
    stored = BCRYPT_2B_SHORT.replace("$2b$", f"${ident}$", 1)
    assert hasher.verify(SHORT_PASSWORD, stored)[0] is True
    assert hasher.verify(SHORT_PASSWORD + "x", stored) == (False, None)


def test_plain_bcrypt_never_truncates_an_80_byte_password(hasher: PasswordHasher) -> None:
    """SECURITY §1.1 #4: a hash of P[:72] (what truncating systems stored) does not accept P."""
    assert len(LONG_PASSWORD.encode()) == 80
    bcrypt_hasher = hasher.hashers["bcrypt"]
    assert bcrypt_hasher.verify(LONG_PASSWORD, BCRYPT_2B_OF_FIRST_72) is False
    assert hasher.verify(LONG_PASSWORD, BCRYPT_2B_OF_FIRST_72) == (False, None)
    assert hasher.verify(LONG_PASSWORD + "tail", BCRYPT_2B_OF_FIRST_72) == (False, None)
    ok, new_hash = hasher.verify(LONG_PASSWORD[:72], BCRYPT_2B_OF_FIRST_72)
    assert ok
    assert new_hash is not None


def test_plain_bcrypt_multibyte_password_over_72_bytes_is_false(hasher: PasswordHasher) -> None:
    password = "\u00e9" * 40  # 40 code points, 80 UTF-8 bytes
    assert hasher.verify(password, BCRYPT_2B_SHORT) == (False, None)


@pytest.mark.parametrize("stored_by", ["argon2", "bcrypt", "passlib-bcrypt-sha256"])
def test_80_byte_password_only_exact_match_passes(stored_by: str) -> None:
    """SECURITY §1.1 #4: P[:72], P.upper(), P.swapcase(), P+"x", P.rstrip() all fail."""
    password = LONG_PASSWORD
    assert len(password.encode("utf-8")) == 80
    if stored_by == "passlib-bcrypt-sha256":
        ph, stored = make_hasher(password_scheme="bcrypt"), BCRYPT_SHA256_V2_LONG
    else:
        ph = make_hasher(password_scheme=stored_by)
        stored = ph.hash(password)
    assert ph.verify(password, stored) == (True, None)
    variants = [password[:72], password.upper(), password.swapcase(), password + "x"]
    variants.append(password.rstrip())
    assert len(set(variants)) == 5
    assert password not in variants
    for variant in variants:
        assert ph.verify(variant, stored) == (False, None), variant


def test_bcrypt_rounds_are_validated() -> None:
    with pytest.raises(ValueError, match="between 4 and 31"):
        BcryptHasher(rounds=3)


# -- scrypt -----------------------------------------------------------------


def test_passlib_scrypt_fixture_verifies_and_upgrades(hasher: PasswordHasher) -> None:
    stored = passlib_hash.scrypt.using(rounds=4).hash("scrypt pw")
    assert stored.startswith("$scrypt$ln=4,r=8,p=1$")
    assert hasher.identify(stored) == "scrypt"
    assert hasher.verify("scrypt pw?", stored) == (False, None)
    ok, new_hash = hasher.verify("scrypt pw", stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["argon2"])


def test_scrypt_hashes_are_passlib_compatible() -> None:
    """passlib uses standard base64 (``+/``) without padding here, not its "ab64"."""
    ph = make_hasher(password_scheme="scrypt")
    stored = ph.hash("compatible?")
    assert passlib_hash.scrypt.verify("compatible?", stored) is True
    assert passlib_hash.scrypt.verify("compatible!", stored) is False
    _, _, params, salt, checksum = stored.split("$")
    assert params == "ln=4,r=8,p=1"
    assert len(b64s_decode(salt) or b"") == 16
    assert len(b64s_decode(checksum) or b"") == 32
    assert "=" not in salt + checksum
    assert "." not in salt + checksum


def test_scrypt_needs_rehash_when_n_changes() -> None:
    stored = ScryptHasher(log_n=4).hash("pw")
    assert ScryptHasher(log_n=4).needs_rehash(stored) is False
    assert ScryptHasher(log_n=5).needs_rehash(stored) is True
    ok, new_hash = make_hasher(password_scheme="scrypt", scrypt_log_n=5).verify("pw", stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith("$scrypt$ln=5,r=8,p=1$")


def test_scrypt_needs_rehash_for_other_r_or_p() -> None:
    stored = passlib_hash.scrypt.using(rounds=4, block_size=4, parallelism=2).hash("pw")
    assert stored.startswith("$scrypt$ln=4,r=4,p=2$")
    scrypt = ScryptHasher(log_n=4)
    assert scrypt.verify("pw", stored) is True
    assert scrypt.needs_rehash(stored) is True


def test_scrypt_absurd_stored_cost_fails_without_the_work(hasher: PasswordHasher) -> None:
    stored = passlib_hash.scrypt.using(rounds=4).hash("pw")
    huge = stored.replace("ln=4,", "ln=28,")
    started = time.perf_counter()
    assert hasher.verify("pw", huge) == (False, None)
    assert time.perf_counter() - started < 0.5


def test_scrypt_default_cost_is_owasp_and_fits_hashlib_maxmem() -> None:
    """N=2**17, r=8 needs 128 MiB, above hashlib's default 32 MiB maxmem."""
    assert Settings(secret="x" * 32).scrypt_log_n == 17
    scrypt = ScryptHasher(log_n=15)  # 32 MiB: already past the default maxmem
    stored = scrypt.hash("big n")
    assert scrypt.verify("big n", stored) is True


# -- pbkdf2 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "prefix"),
    [
        ("pbkdf2_sha512", "$pbkdf2-sha512$1000$"),
        ("pbkdf2_sha256", "$pbkdf2-sha256$1000$"),
        ("pbkdf2_sha1", "$pbkdf2$1000$"),
    ],
)
def test_passlib_pbkdf2_fixtures_verify_and_upgrade(
    hasher: PasswordHasher, handler: str, prefix: str
) -> None:
    stored = getattr(passlib_hash, handler).using(rounds=1000).hash("pbkdf2 pw \u00e9")
    assert stored.startswith(prefix)
    assert hasher.identify(stored) == "pbkdf2"
    assert hasher.needs_rehash(stored)
    assert hasher.verify("pbkdf2 pw e", stored) == (False, None)
    ok, new_hash = hasher.verify("pbkdf2 pw \u00e9", stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["argon2"])


@pytest.mark.parametrize("django_hasher", [PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher])
def test_django_pbkdf2_fixtures_verify_and_upgrade(
    hasher: PasswordHasher, django_hasher: type[PBKDF2PasswordHasher]
) -> None:
    stored = django_hasher().encode("django p\u00e4ss", "n0tAS3cr3tSalt12", 1000)
    assert stored.startswith(f"{django_hasher.algorithm}$1000$n0tAS3cr3tSalt12$")
    assert hasher.identify(stored) == "pbkdf2"
    assert hasher.needs_rehash(stored)
    assert hasher.verify("django pass", stored) == (False, None)
    ok, new_hash = hasher.verify("django p\u00e4ss", stored)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["argon2"])


def test_pbkdf2_hashes_are_passlib_compatible() -> None:
    """passlib's "ab64": standard base64 with ``.`` for ``+``, no padding."""
    ph = make_hasher(password_scheme="pbkdf2")
    stored = ph.hash("ab64?")
    assert passlib_hash.pbkdf2_sha256.verify("ab64?", stored) is True
    assert passlib_hash.pbkdf2_sha256.verify("ab64!", stored) is False
    _, _, rounds, salt, checksum = stored.split("$")
    assert rounds == "1000"
    assert len(ab64_decode(salt) or b"") == 16
    assert len(ab64_decode(checksum) or b"") == 32
    assert "+" not in salt + checksum
    assert "=" not in salt + checksum


def test_pbkdf2_needs_rehash_semantics() -> None:
    pbkdf2 = Pbkdf2Hasher(iterations=1000)
    assert pbkdf2.needs_rehash(Pbkdf2Hasher(iterations=999).hash("pw")) is True
    assert pbkdf2.needs_rehash(Pbkdf2Hasher(iterations=1000).hash("pw")) is False
    assert pbkdf2.needs_rehash(Pbkdf2Hasher(iterations=5000).hash("pw")) is False
    sha512 = passlib_hash.pbkdf2_sha512.using(rounds=5000).hash("pw")
    assert pbkdf2.needs_rehash(sha512) is True
    django = PBKDF2PasswordHasher().encode("pw", "saltsaltsalt", 5000)
    assert pbkdf2.needs_rehash(django) is True


def test_pbkdf2_absurd_stored_rounds_fail_without_the_work(hasher: PasswordHasher) -> None:
    stored = passlib_hash.pbkdf2_sha256.using(rounds=1000).hash("pw")
    huge = stored.replace("$1000$", "$9999999999$")
    started = time.perf_counter()
    assert hasher.verify("pw", huge) == (False, None)
    assert time.perf_counter() - started < 0.5


def test_default_pbkdf2_iterations_are_owasp() -> None:
    assert Settings(secret="x" * 32).pbkdf2_iterations >= 600_000


# -- Flask-Security HMAC mode -----------------------------------------------


def test_flask_security_hmac_matches_get_hmac() -> None:
    assert flask_security_hmac("pw", "salt") == fs_get_hmac("pw", "salt")
    assert len(flask_security_hmac("pw", "salt")) == 88


def _fs_nfkd_hmac(password: str) -> str:
    return fs_get_hmac(unicodedata.normalize("NFKD", password), FS_SALT)


def fs_stored_hash(fs_scheme: str) -> str:
    """What Flask-Security stored for FS_PASSWORD with ``SECURITY_PASSWORD_HASH=fs_scheme``."""
    if fs_scheme == "argon2":
        argon2 = passlib_hash.argon2.using(memory_cost=1024, rounds=1)
        return str(argon2.hash(_fs_nfkd_hmac(FS_PASSWORD)))
    if fs_scheme == "pbkdf2_sha512":
        pbkdf2 = passlib_hash.pbkdf2_sha512.using(rounds=1000)
        return str(pbkdf2.hash(_fs_nfkd_hmac(FS_PASSWORD)))
    return {"bcrypt": FS_BCRYPT, "bcrypt_sha256": FS_BCRYPT_SHA256}[fs_scheme]


FS_SCHEMES = ["argon2", "pbkdf2_sha512", "bcrypt", "bcrypt_sha256"]


@pytest.mark.parametrize("fs_scheme", FS_SCHEMES)
def test_flask_security_hmac_hashes_verify_and_upgrade(fs_scheme: str) -> None:
    stored = fs_stored_hash(fs_scheme)
    ph = make_hasher(legacy_hmac_salt=FS_SALT)
    composed = unicodedata.normalize("NFC", FS_PASSWORD)
    decomposed = unicodedata.normalize("NFD", FS_PASSWORD)
    assert composed != decomposed
    assert ph.verify(FS_PASSWORD + "x", stored) == (False, None), fs_scheme
    for typed in (composed, decomposed):
        ok, new_hash = ph.verify(typed, stored)
        assert ok, (fs_scheme, typed)
        assert new_hash is not None
        assert new_hash.startswith(PREFIXES["argon2"])
        # The upgraded hash is a plain authgate hash: no HMAC, no salt needed.
        assert make_hasher().verify(FS_PASSWORD, new_hash) == (True, None)


@pytest.mark.parametrize("fs_scheme", FS_SCHEMES)
def test_flask_security_hashes_need_the_configured_salt(fs_scheme: str) -> None:
    stored = fs_stored_hash(fs_scheme)
    assert make_hasher().verify(FS_PASSWORD, stored) == (False, None), fs_scheme
    assert make_hasher(legacy_hmac_salt="other salt").verify(FS_PASSWORD, stored) == (False, None)


def test_flask_security_bcrypt_uses_the_first_72_bytes_of_the_hmac() -> None:
    """bcrypt < 5 (and FS >= 5.7 explicitly) cut the 88-char HMAC to 72 bytes."""
    mac = _fs_nfkd_hmac(FS_PASSWORD)
    bcrypt_hasher = BcryptHasher(rounds=4)
    assert bcrypt_hasher.verify(mac[:72], FS_BCRYPT) is True
    assert bcrypt_hasher.verify(mac, FS_BCRYPT) is False


def test_flask_security_3x_unnormalised_hmac_verifies() -> None:
    """Flask-Security before 4.0 did not normalise: the HMAC of the text as typed."""
    typed = "caf\u00e9 cr\u00e8me"
    stored = passlib_hash.pbkdf2_sha512.using(rounds=1000).hash(fs_get_hmac(typed, FS_SALT))
    ok, new_hash = make_hasher(legacy_hmac_salt=FS_SALT).verify(typed, stored)
    assert ok
    assert new_hash is not None


def test_flask_security_hash_with_our_exact_parameters_still_verifies() -> None:
    """An FS argon2id hash with the same parameters as ours is told apart by trying both."""
    mac = _fs_nfkd_hmac(FS_PASSWORD)
    stored = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).hash(mac)
    ph = make_hasher(legacy_hmac_salt=FS_SALT)
    assert ph.needs_rehash(stored) is False
    assert ph.verify("wrong", stored) == (False, None)
    ok, new_hash = ph.verify(FS_PASSWORD, stored)
    assert ok
    assert new_hash is not None
    assert ph.verify(FS_PASSWORD, new_hash) == (True, None)


def test_legacy_hash_tries_the_unnormalised_form() -> None:
    """Django/passlib did not normalise: a hash of the decomposed text as typed."""
    typed = "cre\u0300me bru\u0302le\u0301e"
    assert normalize_password(typed) != typed
    stored = passlib_hash.pbkdf2_sha256.using(rounds=1000).hash(typed)
    ok, new_hash = make_hasher().verify(typed, stored)
    assert ok
    assert new_hash is not None
    assert make_hasher().verify(typed, new_hash) == (True, None)
    # The current hash is of NFKC, so the composed spelling works from now on.
    assert make_hasher().verify(normalize_password(typed), new_hash) == (True, None)


# -- Unicode ----------------------------------------------------------------


UNICODE_PASSWORDS = [
    pytest.param("\U0001f510\U0001f984 unicorn vault \U0001f308", id="emoji"),
    pytest.param("\u6b63\u786e\u7684\u9a6c\u7535\u6c60\u8ba2\u4e66\u9489", id="cjk"),
    # Arabic "the correct password", written right to left.
    pytest.param(
        "\u0643\u0644\u0645\u0629 \u0627\u0644\u0633\u0631 "
        "\u0627\u0644\u0635\u062d\u064a\u062d\u0629",
        id="rtl",
    ),
    pytest.param("before\x00after nul", id="nul"),
    pytest.param("caf\u00e9 cr\u00e8me br\u00fbl\u00e9e", id="composed"),
]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("password", UNICODE_PASSWORDS)
def test_unicode_passwords_round_trip(scheme: str, password: str) -> None:
    ph = make_hasher(password_scheme=scheme)
    stored = ph.hash(password)
    assert ph.verify(password, stored) == (True, None)
    assert ph.verify(password[:-1], stored) == (False, None)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_nul_byte_does_not_truncate(scheme: str) -> None:
    ph = make_hasher(password_scheme=scheme)
    stored = ph.hash("before\x00after nul")
    assert ph.verify("before", stored) == (False, None)
    assert ph.verify("before\x00", stored) == (False, None)
    assert ph.verify("before\x00after", stored) == (False, None)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_composed_and_decomposed_forms_verify_identically(scheme: str) -> None:
    ph = make_hasher(password_scheme=scheme)
    composed, decomposed = "r\u00e9sum\u00e9 pass", "re\u0301sume\u0301 pass"
    assert composed != decomposed
    for stored in (ph.hash(composed), ph.hash(decomposed)):
        assert ph.verify(composed, stored) == (True, None)
        assert ph.verify(decomposed, stored) == (True, None)
        assert ph.verify("resume pass", stored) == (False, None)


def test_nfkc_compatibility_forms_match(hasher: PasswordHasher) -> None:
    full_width = "\uff30\uff41\uff53\uff53\uff57\uff4f\uff52\uff44"  # "Password"
    stored = hasher.hash(full_width)
    assert hasher.verify("Password", stored) == (True, None)


def test_normalize_password_is_nfkc() -> None:
    assert normalize_password("e\u0301") == "\u00e9"
    assert normalize_password("\ufb01") == "fi"
    assert normalize_password("plain") == "plain"


def test_lone_surrogate_password_fails_quietly(hasher: PasswordHasher) -> None:
    stored = hasher.hash("real password")
    spy = CountingSpy(hasher.current, "verify")
    assert hasher.verify("\ud800", stored) == (False, None)
    assert hasher.verify("\ud800", None) == (False, None)
    assert spy.calls == 2  # still the work of one verification each
    with pytest.raises(ValueError, match="PasswordPolicy"):
        hasher.hash("bad \udfff")


# -- dummy work and unknown hashes -----------------------------------------


@pytest.mark.parametrize(
    "stored",
    [None, "", "unknown$format", "md5$abc$def", "!unusable-password-marker"],
)
def test_unknown_or_missing_hash_costs_exactly_one_verification(
    hasher: PasswordHasher, stored: str | None
) -> None:
    spy = CountingSpy(hasher.current, "verify")
    assert hasher.verify("some password", stored) == (False, None)
    assert spy.calls == 1


def test_wrong_password_and_unknown_user_cost_the_same(hasher: PasswordHasher) -> None:
    stored = hasher.hash("the real one")
    spy = CountingSpy(hasher.current, "verify")
    hasher.verify("not the real one", stored)
    known = spy.calls
    hasher.dummy_verify("not the real one")
    assert known == 1
    assert spy.calls - known == 1


def test_dummy_verify_uses_current_parameters_and_never_matches(hasher: PasswordHasher) -> None:
    hash_spy = CountingSpy(hasher.current, "hash")
    seen: list[str] = []
    original = hasher.current.verify

    def recording_verify(password: str, stored: str) -> bool:
        seen.append(stored)
        return original(password, stored)

    hasher.current.verify = recording_verify  # type: ignore[method-assign]
    hasher.dummy_verify("guess")
    hasher.dummy_verify("")
    assert hash_spy.calls == 1  # made once, lazily
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert seen[0].startswith(PREFIXES["argon2"])
    assert hasher.needs_rehash(seen[0]) is False


def test_dummy_hash_is_made_once_under_concurrency(hasher: PasswordHasher) -> None:
    hash_spy = CountingSpy(hasher.current, "hash")
    threads = [threading.Thread(target=hasher.dummy_verify, args=("x",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hash_spy.calls == 1


def test_with_hmac_salt_wrong_password_and_dummy_both_cost_two() -> None:
    ph = make_hasher(legacy_hmac_salt=FS_SALT)
    stored = ph.hash("current hash")
    spy = CountingSpy(ph.current, "verify")
    assert ph.verify("wrong", stored) == (False, None)
    assert spy.calls == 2
    assert ph.verify("wrong", None) == (False, None)
    assert spy.calls == 4
    assert ph.verify("current hash", stored) == (True, None)
    assert spy.calls == 5  # success on the first try


def test_oversized_password_is_refused_before_any_hashing(hasher: PasswordHasher) -> None:
    stored = hasher.hash("short and fine")
    spies = [CountingSpy(h, "verify") for h in hasher.hashers.values()]
    huge = "x" * (1024 * 1024)
    started = time.perf_counter()
    assert hasher.verify(huge, stored) == (False, None)
    assert hasher.verify(huge, None) == (False, None)
    assert time.perf_counter() - started < 0.05
    assert all(spy.calls == 0 for spy in spies)
    with pytest.raises(ValueError, match="PasswordPolicy"):
        hasher.hash("x" * 1025)
    assert hasher.hash("x" * 1024).startswith(PREFIXES["argon2"])


def test_non_string_password_is_a_quiet_failure(hasher: PasswordHasher) -> None:
    stored = hasher.hash("12345678")
    assert hasher.verify(12345678, stored) == (False, None)  # type: ignore[arg-type]
    assert hasher.verify(None, stored) == (False, None)  # type: ignore[arg-type]


# -- identify / needs_rehash ------------------------------------------------


def test_identify_every_format(hasher: PasswordHasher) -> None:
    assert hasher.identify(hasher.hash("pw")) == "argon2"
    assert hasher.identify(BCRYPT_SHA256_V2_LONG) == "bcrypt"
    assert hasher.identify(BCRYPT_SHA256_V1_SHORT) == "bcrypt"
    assert hasher.identify(BCRYPT_2B_SHORT) == "bcrypt"
    assert hasher.identify("$scrypt$ln=4,r=8,p=1$abc$def") == "scrypt"
    assert hasher.identify("$pbkdf2$1000$abc$def") == "pbkdf2"
    assert hasher.identify("$pbkdf2-sha512$1000$abc$def") == "pbkdf2"
    assert hasher.identify("pbkdf2_sha1$1000$abc$def") == "pbkdf2"
    for unknown in ("", "plaintext", "md5$x$y", "$1$abc$def", "$5$rounds=5000$x$y"):
        assert hasher.identify(unknown) is None
        assert hasher.needs_rehash(unknown) is True


def test_for_tests_uses_the_cheapest_parameters() -> None:
    ph = PasswordHasher.for_tests(Settings(secret="x" * 32))
    stored = ph.hash("quick")
    assert stored.startswith(PREFIXES["argon2"])
    assert ph.verify("quick", stored) == (True, None)
    bcrypt_ph = PasswordHasher.for_tests(Settings(secret="x" * 32, password_scheme="bcrypt"))
    assert bcrypt_ph.hash("quick").startswith(PREFIXES["bcrypt"])


def test_extra_hashers_verify_and_are_upgraded() -> None:
    class ReversedHasher:
        """A toy legacy format, ``rev$<reversed password>``, to exercise the plug point."""

        scheme = "reversed"

        def identify(self, hash: str) -> bool:
            return hash.startswith("rev$")

        def hash(self, password: str) -> str:
            return "rev$" + password[::-1]

        def verify(self, password: str, hash: str) -> bool:
            return hmac.compare_digest(hash, "rev$" + password[::-1])

        def needs_rehash(self, hash: str) -> bool:
            return True

    ph = PasswordHasher(make_settings(), extra_hashers=[ReversedHasher()])
    assert ph.identify("rev$olleh") == "reversed"
    assert ph.verify("nope", "rev$olleh") == (False, None)
    ok, new_hash = ph.verify("hello", "rev$olleh")
    assert ok
    assert new_hash is not None
    assert new_hash.startswith(PREFIXES["argon2"])


def test_a_raising_plugged_in_hasher_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenHasher:
        scheme = "broken"

        def identify(self, hash: str) -> bool:
            return hash.startswith("broken$")

        def hash(self, password: str) -> str:
            raise RuntimeError("unused")

        def verify(self, password: str, hash: str) -> bool:
            raise RuntimeError("library bug")

        def needs_rehash(self, hash: str) -> bool:
            return True

    ph = PasswordHasher(make_settings(), extra_hashers=[BrokenHasher()])
    with caplog.at_level("WARNING", logger="authgate.passwords"):
        assert ph.verify("secret-password", "broken$x") == (False, None)
    assert "broken hasher raised" in caplog.text
    assert "secret-password" not in caplog.text


# -- concurrency ------------------------------------------------------------


def test_hash_concurrency_bounds_parallel_work() -> None:
    ph = make_hasher(hash_concurrency=2)
    active = 0
    peak = 0
    lock = threading.Lock()
    original = ph.current.verify

    def slow_verify(password: str, stored: str) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return original(password, stored)

    stored = ph.hash("parallel")
    ph.current.verify = slow_verify  # type: ignore[method-assign]
    threads = [threading.Thread(target=ph.verify, args=("parallel", stored)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2
