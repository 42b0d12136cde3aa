"""The messages the flows and the web layer raise, listed for translation.

``make messages`` extracts every ``N_("...")`` of the package (and the
templates' text) into ``locale/authgate.pot``. The flows raise their
:class:`~authgate.errors.AuthError` messages as plain strings, so that they
read naturally where they are raised; they are listed here once to be
extracted, and translated when an answer is rendered
(:func:`authgate.errors.localized_message`). A test checks that every
literal message raised anywhere in the package is in the catalog.
"""

from __future__ import annotations

from authgate.i18n import N_

__all__ = ["MESSAGES"]

MESSAGES = (
    N_("Access tokens are not enabled."),
    N_("This API key does not grant the scopes this needs."),
    N_("API keys are not accepted here."),
    N_("Access and refresh tokens are not enabled."),
    N_("Personal API keys are not enabled."),
    N_("Each scope is 1 to 64 letters, digits or : . _ - / * (e.g. read:reports)."),
    N_("allowed_ips: addresses or networks such as 203.0.113.7 or 10.0.0.0/8."),
    N_("No such API key."),
    N_("Passkeys are not enabled."),
    N_("No such passkey."),
    N_("The passkey could not be verified."),
    N_("This passkey is registered already."),
    N_("Already signed in."),
    N_("Changing the email address is not enabled."),
    N_("Changing the password is not enabled."),
    N_("Email confirmation is not enabled."),
    N_("Give either password or password_hash, not both."),
    N_("Malformed Basic credentials."),
    N_("Malformed chunked body."),
    N_("Multiple email addresses are not enabled."),
    N_("Only a confirmed address of yours can become primary."),
    N_("Pages take HTML forms (urlencoded)."),
    N_("Password recovery is not enabled."),
    N_("Sign-in by email link is not enabled."),
    N_("Sign-in by username is not enabled."),
    N_("Sign-up is by invitation only."),
    N_("Sign-up is not enabled."),
    N_("Text may not contain NUL characters or lone surrogates."),
    N_("That address is no longer available."),
    N_("That is already your address."),
    N_("The form is not valid UTF-8."),
    N_("The password could not be checked right now. Please try again shortly."),
    N_("The request body is nested too deeply."),
    N_("The request body is not valid JSON."),
    N_("The request body is not valid UTF-8."),
    N_("The request body must be a JSON object."),
    N_("This store keeps no audit trail (events are only logged)."),
    N_("Usernames are not enabled."),
    N_("Your account changed meanwhile; please try again."),
    # second factor (flows/two_factor.py, flows/signin.py)
    N_("This account signs in with a second factor; HTTP Basic is not accepted for it."),
    N_("Two-factor authentication is not enabled."),
    N_("This store keeps no second factors."),
    N_("This store keeps no passkeys."),
    N_("Authenticator apps are not enabled."),
    N_("Emailed codes are not enabled."),
    N_("Start the set-up first."),
    N_("Set up a second factor first."),
)
