"""The public surface is explicit: ``__all__`` lists exactly the exported names (httpx-style)."""

from __future__ import annotations

import importlib

import pytest

import authgate

MODULES = [
    "authgate", "authgate.errors", "authgate.signals", "authgate.settings", "authgate.models",
    "authgate.mail", "authgate.testing", "authgate.stores", "authgate.flask", "authgate.fastapi",
    "authgate.bottle", "authgate.importers", "authgate.flask_security",
    "authgate.flask_security.models.fsqla_v3", "authgate.web.protect",
]  # fmt: skip


def test_exported_members() -> None:
    import types

    public = {
        name
        for name in dir(authgate)
        if not name.startswith("_") and not isinstance(getattr(authgate, name), types.ModuleType)
    }
    assert set(authgate.__all__) - {"signals"} == public
    assert isinstance(authgate.signals, types.ModuleType)
    for name in authgate.__all__:
        assert getattr(authgate, name) is not None


@pytest.mark.parametrize("module", MODULES)
def test_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    assert names, f"{module} has no __all__"
    for name in names:
        assert hasattr(mod, name), f"{module}.{name} is listed in __all__ but missing"


def test_spec_names() -> None:
    from authgate import Auth, AuthError, RoleMixin, UserMixin, signals

    for name in ["user_registered", "user_confirmed", "user_logged_in", "user_logged_out",
                 "login_failed", "password_changed", "password_reset",
                 "reset_password_instructions_sent", "username_changed", "email_changed",
                 "login_link_sent", "user_invited"]:  # fmt: skip
        assert getattr(signals, name) is getattr(authgate, name)
    for method in ["sign_up", "sign_in", "sign_out", "get_session", "verify_token",
                   "confirm_email", "send_confirmation", "forgot_password", "reset_password",
                   "change_password", "change_username", "change_email", "send_login_link",
                   "sign_in_with_link", "invite", "list_sessions", "revoke_session",
                   "revoke_other_sessions", "verify_two_factor", "send_two_factor_code",
                   "totp_setup", "totp_enable", "enroll_two_factor", "disable_two_factor",
                   "regenerate_recovery_codes", "two_factor_status", "forget_trusted_devices",
                   "reset_two_factor"]:  # fmt: skip
        assert callable(getattr(Auth, method))
    assert issubclass(AuthError, Exception) and UserMixin and RoleMixin
