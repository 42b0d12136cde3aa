"""``django.contrib.auth.login()`` and ``logout()`` start and end authgate sessions.

With ``AUTH_USER_MODEL = "authgate.User"``, Django's own ways of signing in
(the admin's login page, ``LoginView``, a view calling ``login(request, user)``,
the test client's ``login()``/``force_login()``) start a real authgate
session: fresh, listed with the user's sessions, revocable from the admin or
``POST /auth/revoke-session``, ended by a password change, bound to the
security stamp. Its token is kept in the Django session (server-side) under
:data:`~authgate.django.views.SESSION_TOKEN_KEY`, and a request carrying that
Django session is authenticated as if it carried authgate's session cookie
(CSRF rules included). ``logout()`` revokes it.

Connected by the app config when ``django.contrib.auth`` is installed.
"""

from __future__ import annotations

from typing import Any

from authgate.django import get_auth
from authgate.django.views import SESSION_TOKEN_KEY, django_client, django_session_token
from authgate.errors import AuthError

__all__ = ["connect", "on_login", "on_logout"]


def _is_authgate_user(user: Any) -> bool:
    meta = getattr(user, "_meta", None)
    return meta is not None and meta.label == "authgate.User"


def on_login(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """Receiver of Django's ``user_logged_in``: start the authgate session."""
    session = getattr(request, "session", None)
    if session is None or not _is_authgate_user(user):
        return
    auth = get_auth()
    previous = django_session_token(request)
    if previous is not None:  # signing in again in the same Django session
        auth.sign_out(previous)
    client = django_client(auth, request)
    try:
        result = auth.login_user(user, ip=client.ip, user_agent=client.user_agent)
    except AuthError:  # deactivated or deleted meanwhile: no half sign-in
        session.flush()
        return
    session[SESSION_TOKEN_KEY] = result.token
    request.auth_user = result.user


def on_logout(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """Receiver of Django's ``user_logged_out``: revoke the session ``login()`` started."""
    token = django_session_token(request)
    if token is not None:
        get_auth().sign_out(token)
        request.session.pop(SESSION_TOKEN_KEY, None)


def connect() -> None:
    """Connect the receivers to ``django.contrib.auth``'s signals (once)."""
    from django.contrib.auth.signals import user_logged_in, user_logged_out

    user_logged_in.connect(on_login, dispatch_uid="authgate.django.login.on_login")
    user_logged_out.connect(on_logout, dispatch_uid="authgate.django.login.on_logout")
