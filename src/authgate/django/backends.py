"""``AuthGateBackend``: Django's ``authenticate()`` and permission checks over authgate.

With ``AUTH_USER_MODEL = "authgate.User"``::

    AUTHENTICATION_BACKENDS = ["authgate.django.backends.AuthGateBackend"]

``django.contrib.auth.authenticate(request, username=email, password=...)``
(the admin's login form, ``LoginView``, the test client's ``login()``) then
checks the password the way authgate's sign-in does: throttled per account
and client address, the same cost for unknown addresses, account state told
only once the password is right, old hashes rehashed, failures in the audit
trail. ``django.contrib.auth.login()`` then starts an authgate session (see
:mod:`authgate.django.middleware`). Permissions are those of the user's roles.

Django's ``ModelBackend`` reads ``user_permissions`` and ``groups``, which
authgate's user does not have: use this backend instead of it (the system
check ``authgate.E002`` says so).
"""

from __future__ import annotations

from typing import Any

from authgate.django import get_auth
from authgate.django.views import django_client
from authgate.errors import AuthError, RateLimited

__all__ = ["AuthGateBackend"]


class AuthGateBackend:
    """A Django authentication backend for authgate's user model."""

    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any | None:
        """The user whose email (or username) and password these are, or ``None``.

        Raises:
            django.core.exceptions.PermissionDenied: too many failures (Django
                then stops asking other backends).
        """
        from django.core.exceptions import PermissionDenied

        from authgate.flows.signin import authenticate

        identifier = username if username is not None else kwargs.get("email")
        if identifier is None or password is None:
            return None
        auth = get_auth()
        try:
            return authenticate(auth.ctx, identifier, password, client=django_client(auth, request))
        except RateLimited:
            raise PermissionDenied("Too many failed sign-ins; try again later.") from None
        except AuthError:
            return None

    def get_user(self, user_id: Any) -> Any | None:
        """The active user with this id, or ``None``."""
        user = get_auth().users.get_user(user_id)
        return user if user is not None and user.is_active else None

    def user_can_authenticate(self, user: Any) -> bool:
        """Only active users sign in."""
        return bool(getattr(user, "is_active", False))

    # -- permissions: those of the user's roles ------------------------------------
    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        """The permissions the user's roles grant (none for inactive users or objects)."""
        if obj is not None or not getattr(user_obj, "is_active", False):
            return set()
        if getattr(user_obj, "is_anonymous", True):
            return set()
        return set(getattr(user_obj, "permissions", ()))

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        """None: authgate grants permissions through roles only."""
        return set()

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        """The same as :meth:`get_user_permissions`."""
        return self.get_user_permissions(user_obj, obj)

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        """Whether the user's roles grant ``perm``."""
        return perm in self.get_user_permissions(user_obj, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        """Whether the user's roles grant any permission of ``app_label``."""
        prefix = f"{app_label}."
        return any(p.startswith(prefix) for p in self.get_user_permissions(user_obj))
