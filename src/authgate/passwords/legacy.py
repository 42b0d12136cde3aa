"""Which secrets to try against a stored hash: normalisation forms and Flask-Security's HMAC mode.

authgate hashes ``NFKC(password)``. The systems users migrate from did not
always do that:

* Django, passlib and Flask-Security before 4.0 hashed the password as typed.
* Flask-Security(-Too) 4.0+ normalises with ``SECURITY_PASSWORD_NORMALIZE_FORM``,
  ``"NFKD"`` by default, before hashing and before verifying.
* Flask-Security with ``SECURITY_PASSWORD_SALT`` set (and a scheme outside
  ``SECURITY_PASSWORD_SINGLE_HASH``, which by default lists only the
  ``django_*`` schemes and ``plaintext``) hashed a pre-hash instead of the
  password. From ``flask_security/utils.py``::

      def get_hmac(password):
          h = hmac.new(encode_string(salt), encode_string(password), hashlib.sha512)
          return base64.b64encode(h.digest())   # 88 ASCII characters

  ``encode_string`` is UTF-8. ``hash_password`` stores
  ``pwd_context.hash(get_hmac(password).decode("ascii"))`` and
  ``verify_password`` checks ``pwd_context.verify(get_hmac(password), hash)``.
  With the plain ``bcrypt`` scheme the 88-character pre-hash was silently cut
  to bcrypt's 72 bytes (by bcrypt < 5; since bcrypt 5 Flask-Security slices
  ``get_hmac(password)[:72]`` itself, PR #1179), so that is what we verify.
  Cutting the pre-hash is not truncating the password: it keeps 432 bits of
  an HMAC of the *whole* password.

Cost: a current-parameters hash costs one verification, or two when
``legacy_hmac_salt`` is set (see :func:`current_candidates`). A legacy hash
costs up to ``2 x 3`` verifications on failure (HMAC and plain, for up to three
distinct normalisation forms; one form for ASCII passwords). Only sign-ins of
users still on legacy hashes pay it, and only until their first successful
sign-in rehashes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

from authgate.passwords.base import normalize_password

__all__ = ["current_candidates", "flask_security_hmac", "legacy_candidates", "password_forms"]


def flask_security_hmac(password: str, salt: str) -> str:
    """Flask-Security's ``get_hmac(password)``: base64 of HMAC-SHA512 keyed with the salt.

    Args:
        password: the password, in the form Flask-Security saw it.
        salt: Flask-Security's ``SECURITY_PASSWORD_SALT``.

    Returns:
        The 88-character base64 text that Flask-Security handed to passlib.
    """
    mac = hmac.new(salt.encode("utf-8"), password.encode("utf-8"), hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def password_forms(password: str) -> list[str]:
    """The distinct forms a legacy system may have hashed: NFKC, as typed, NFKD."""
    forms = [normalize_password(password), password, unicodedata.normalize("NFKD", password)]
    return list(dict.fromkeys(forms))


def current_candidates(password: str, hmac_salt: str | None) -> list[str]:
    """Secrets to try, in order, against a hash with the current scheme and parameters.

    Normally just ``NFKC(password)``. With ``hmac_salt`` set, a Flask-Security
    hash whose parameters happen to equal ours (say an operator had tuned
    Flask-Security's argon2 to the same OWASP values) is indistinguishable
    from an authgate hash, so its pre-hash (of the NFKD form, Flask-Security's
    default) is tried second. ``dummy_verify`` runs the same list, so unknown
    users still cost the same as wrong passwords.
    """
    nfkc = normalize_password(password)
    if not hmac_salt:
        return [nfkc]
    return [nfkc, flask_security_hmac(unicodedata.normalize("NFKD", password), hmac_salt)]


def legacy_candidates(password: str, hmac_salt: str | None, *, plain_bcrypt: bool) -> list[str]:
    """Secrets to try, in order, against a legacy or outdated hash.

    Args:
        password: the password as submitted.
        hmac_salt: ``Settings.legacy_hmac_salt``; when set, Flask-Security's
            pre-hash of each form is tried first (most legacy rows come from it).
        plain_bcrypt: the stored hash is plain ``$2?$`` bcrypt, so the pre-hash
            is cut to 72 bytes as Flask-Security did.

    Returns:
        Distinct secrets, most likely first.
    """
    nfkc, *others = password_forms(password)
    nfkd = unicodedata.normalize("NFKD", password)
    candidates: list[str] = []
    if hmac_salt:
        # Flask-Security 4+ normalised to NFKD; 3.x hashed the text as typed.
        for form in dict.fromkeys([nfkd, password, nfkc]):
            mac = flask_security_hmac(form, hmac_salt)
            candidates.append(mac[:72] if plain_bcrypt else mac)
    candidates.extend([nfkc, *others])
    return list(dict.fromkeys(candidates))
