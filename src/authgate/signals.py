"""Blinker signals sent by authgate, all defined here.

The sender is the :class:`~authgate.Auth` instance and the user comes as the
``user=`` keyword. Every signal is sent *after* the database commit, so a
receiver that reads the database sees the change::

    from authgate.signals import user_registered

    @user_registered.connect_via(auth)
    def welcome(sender, user, **extra):
        print("welcome", user.email)
"""

from __future__ import annotations

from blinker import Namespace

__all__ = [
    "email_changed",
    "login_failed",
    "login_link_sent",
    "mail_failed",
    "password_changed",
    "password_reset",
    "reset_password_instructions_sent",
    "signals",
    "user_confirmed",
    "user_deleted",
    "user_invited",
    "user_loaded_from_cookie",
    "user_loaded_from_request",
    "user_logged_in",
    "user_logged_out",
    "user_registered",
    "user_unauthorized",
    "username_changed",
]

signals = Namespace()

#: A user signed up. Extra keywords: ``token`` (``None`` until confirmed when
#: confirmation is required).
user_registered = signals.signal("user-registered")
#: A user confirmed their email address.
user_confirmed = signals.signal("user-confirmed")
#: A user signed in. Extra keywords: ``session_id``, ``ip``, ``method``
#: (``"password"``, ``"link"``...).
user_logged_in = signals.signal("user-logged-in")
#: A session was signed out. Extra keywords: ``session_id``.
user_logged_out = signals.signal("user-logged-out")
#: A sign-in failed. ``user`` is ``None`` for an unknown identifier; extra
#: keywords: ``identifier`` (canonical form), ``ip``, ``reason``.
login_failed = signals.signal("login-failed")
#: A signed-in user changed their password.
password_changed = signals.signal("password-changed")
#: A password was reset through an emailed link.
password_reset = signals.signal("password-reset")
#: Reset instructions were emailed. Extra keywords: ``token``.
reset_password_instructions_sent = signals.signal("reset-password-instructions-sent")
#: A user changed their username. Extra keywords: ``old_username``.
username_changed = signals.signal("username-changed")
#: A user's email changed. Extra keywords: ``old_email``.
email_changed = signals.signal("email-changed")
#: A magic sign-in link was emailed. Extra keywords: ``token``.
login_link_sent = signals.signal("login-link-sent")
#: Someone was invited. Extra keywords: ``email``, ``invited_by``, ``token``.
user_invited = signals.signal("user-invited")
#: An account was deleted, by its user (``POST /delete-user``,
#: ``auth.delete_account``) or an administrator (``auth.users.delete_user``, the
#: command line); its sessions, role links and extra addresses are gone.
#: ``user`` is the object as it was before deletion: clean up the app's own
#: rows that point at ``user.id``. Extra keywords: ``actor`` (``"user"``,
#: ``"admin"`` or ``"cli"``).
user_deleted = signals.signal("user-deleted")
#: An email could not be delivered (logged too): sent for every failed
#: attempt, including those of a notice the outbox sends again later (and
#: ``user`` may then be ``None``: a resent notice's user may be gone).
#: Extra keywords: ``kind``, ``error``, ``ref`` (the reference in the log line).
mail_failed = signals.signal("mail-failed")

# -- per request (Flask-Login's names) --------------------------------------------------
# Sent while a request is authenticated, by every framework integration, before
# the view runs. Nothing is committed here; keep receivers quick.

#: The request's user was loaded from the session cookie. Extra keywords:
#: ``session_id``.
user_loaded_from_cookie = signals.signal("user-loaded-from-cookie")
#: The request's user was loaded from a credential in the request itself (a
#: bearer token or HTTP Basic). Extra keywords: ``mechanism`` (``"token"``,
#: ``"basic"``), ``session_id`` (``None`` for HTTP Basic).
user_loaded_from_request = signals.signal("user-loaded-from-request")
#: A protected view refused a request for want of a valid credential (a 401, or
#: the page request's redirect to the login page). ``user`` is ``None``.
#: Extra keywords: ``code`` (``"UNAUTHORIZED"``, ``"INVALID_TOKEN"``...).
user_unauthorized = signals.signal("user-unauthorized")
