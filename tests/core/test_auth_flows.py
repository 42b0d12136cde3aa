"""The core Python API of SPEC §2 end to end on the in-memory store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth, AuthError
from authgate.errors import (
    AccountDisabled,
    EmailNotConfirmed,
    FeatureDisabled,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    UserExists,
    UserNotFound,
    ValidationError,
)
from authgate.stores.memory import MemoryStore

from .conftest import PASSWORD, Clock

NEW_PASSWORD = "new staple battery horse"


# -- sign-up -------------------------------------------------------------------
def test_sign_up_returns_user_and_working_token(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert r.user.email == "alice@example.com"
    assert r.token
    body = r.to_dict()
    assert body["token"] == r.token
    assert body["user"] == {
        "id": str(r.user.id),
        "email": "alice@example.com",
        "username": None,
        "is_active": True,
        "email_confirmed": False,
        "roles": [],
    }
    s = auth.get_session(r.token)
    assert s.user.email == "alice@example.com"
    assert s.to_dict() == {"user": body["user"]}
    assert auth.verify_token(r.token).id == r.user.id


def test_serialized_user_never_has_secrets(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    text = repr(r.to_dict())
    assert r.user.password_hash and r.user.password_hash not in text
    assert r.user.security_stamp not in text
    assert "password" not in text and "stamp" not in text


def test_sign_up_normalises_domain_keeps_local_case(auth: Auth) -> None:
    r = auth.sign_up("Alice@EXAMPLE.com", PASSWORD)
    assert r.user.email == "Alice@example.com"


@pytest.mark.parametrize(
    ("email", "password", "fields"),
    [
        ("not-an-email", PASSWORD, {"email": "invalid"}),
        ("", PASSWORD, {"email": "required"}),
        (None, PASSWORD, {"email": "required"}),
        (["a@b.com"], PASSWORD, {"email": "invalid"}),
        ("a@example.com", "short", {"password": "too_short"}),
        ("a@example.com", "x" * 1025, {"password": "too_long"}),
        ("a@example.com", "", {"password": "required"}),
        ("a@example.com", 12345678, {"password": "invalid"}),
        ("bad", "short", {"email": "invalid", "password": "too_short"}),
        ("a@example.com", "a@example.com", {"password": "contains_identifier"}),
    ],
)
def test_sign_up_validation(auth: Auth, email: Any, password: Any, fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as info:
        auth.sign_up(email, password)
    assert info.value.fields == fields
    assert info.value.status == 400
    assert auth.users.count_users() == 0


@pytest.mark.parametrize("field", ["roles", "is_active", "email_confirmed_at", "id",
                                   "password_hash", "created_at", "security_stamp"])
def test_sign_up_refuses_privileged_fields(auth: Auth, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        auth.sign_up("mallory@example.com", PASSWORD, **{field: "x"})
    assert info.value.fields == {field: "unknown_field"}
    assert auth.users.count_users() == 0


def test_sign_up_username_refused_when_usernames_off(auth: Auth) -> None:
    with pytest.raises(ValidationError) as info:
        auth.sign_up("a@example.com", PASSWORD, username="alice")
    assert info.value.fields == {"username": "unknown_field"}


def test_duplicate_sign_up_is_user_exists_case_insensitively(auth: Auth) -> None:
    auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(UserExists) as info:
        auth.sign_up("ALICE@Example.COM", PASSWORD)
    assert info.value.code == "USER_EXISTS" and info.value.status == 409
    with pytest.raises(UserExists):
        auth.sign_up("ａｌｉｃｅ@example.com", PASSWORD)  # full-width folds to the same
    assert auth.users.count_users() == 1


def test_confirmable_duplicate_looks_like_a_new_sign_up(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(confirmable=True)
    first = auth.sign_up("alice@example.com", PASSWORD)
    again = auth.sign_up("Alice@example.com", "another fine password")
    assert first.token is None and again.token is None
    assert set(again.to_dict()["user"]) == set(first.to_dict()["user"])
    assert again.to_dict()["user"]["email"] == "Alice@example.com"
    assert again.user.id != first.user.id
    assert auth.users.count_users() == 1
    assert auth.users.get_user(again.user.id) is None  # the look-alike is never stored


def test_registration_switched_off(make_auth: Callable[..., Auth]) -> None:
    with pytest.raises(FeatureDisabled) as info:
        make_auth(registerable=False).sign_up("a@example.com", PASSWORD)
    assert info.value.status == 404


def test_invite_only_refuses_open_sign_up(make_auth: Callable[..., Auth]) -> None:
    with pytest.raises(FeatureDisabled):
        make_auth(invite_only=True).sign_up("a@example.com", PASSWORD)


def test_usernames_sign_up_and_sign_in(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(usernames=True)
    with pytest.raises(ValidationError) as info:
        auth.sign_up("a@example.com", PASSWORD)
    assert info.value.fields == {"username": "required"}
    r = auth.sign_up("a@example.com", PASSWORD, username="Alice_1")
    assert r.user.username == "Alice_1"
    assert auth.sign_in("alice_1", PASSWORD).user.id == r.user.id
    assert auth.sign_in("ALICE_1", PASSWORD, by="username").user.id == r.user.id
    assert auth.sign_in("a@example.com", PASSWORD, by="email").user.id == r.user.id
    with pytest.raises(UserExists) as exists:
        auth.sign_up("b@example.com", PASSWORD, username="alice_1")
    assert exists.value.field == "username"


@pytest.mark.parametrize(("username", "reason"), [("ab", "too_short"), ("a" * 65, "too_long"),
                                                 ("has space", "invalid"), ("a@b", "invalid")])
def test_username_rules(make_auth: Callable[..., Auth], username: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_auth(usernames=True).sign_up("a@example.com", PASSWORD, username=username)
    assert info.value.fields == {"username": reason}


# -- sign-in -------------------------------------------------------------------
def test_sign_in_is_case_insensitive_on_email(auth: Auth) -> None:
    auth.sign_up("alice@example.com", PASSWORD)
    r = auth.sign_in("  ALICE@example.COM ", PASSWORD)
    assert auth.get_session(r.token).user.email == "alice@example.com"


def test_unknown_and_wrong_password_are_indistinguishable(auth: Auth) -> None:
    auth.sign_up("alice@example.com", PASSWORD)
    calls: list[str] = []
    hasher = auth.ctx.hasher
    real_verify, real_dummy = hasher.verify, hasher.dummy_verify

    def verify(*a: Any, **k: Any) -> Any:
        calls.append("verify")
        return real_verify(*a, **k)

    def dummy(*a: Any, **k: Any) -> Any:
        calls.append("dummy")
        return real_dummy(*a, **k)

    hasher.verify, hasher.dummy_verify = verify, dummy  # type: ignore[method-assign]
    errors = []
    for identifier in ["alice@example.com", "nobody@example.com"]:
        calls.clear()
        with pytest.raises(InvalidCredentials) as info:
            auth.sign_in(identifier, "wrong password!")
        assert len(calls) == 1  # exactly one password verification on both paths
        errors.append((info.value.status, info.value.to_dict()))
    assert errors[0] == errors[1]


def test_account_state_revealed_only_after_right_password(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.users.deactivate_user(r.user)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", "wrong password!")
    with pytest.raises(AccountDisabled) as info:
        auth.sign_in("alice@example.com", PASSWORD)
    assert info.value.status == 403


def test_unconfirmed_user_cannot_sign_in_when_confirmable(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(confirmable=True)
    auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", "wrong password!")
    with pytest.raises(EmailNotConfirmed) as info:
        auth.sign_in("alice@example.com", PASSWORD)
    assert info.value.status == 403


def test_login_without_confirmation(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(confirmable=True, login_without_confirmation=True)
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert r.token is not None
    assert auth.sign_in("alice@example.com", PASSWORD).token


def test_sign_in_by_username_needs_the_feature(auth: Auth) -> None:
    with pytest.raises(FeatureDisabled):
        auth.sign_in("alice", PASSWORD, by="username")


@pytest.mark.parametrize(("identifier", "password", "fields"), [
    ("", PASSWORD, {"identifier": "required"}),
    (None, PASSWORD, {"identifier": "required"}),
    (42, PASSWORD, {"identifier": "invalid"}),
    ("a@example.com", "", {"password": "required"}),
    ("a@example.com", None, {"password": "required"}),
    ("a@example.com", ["x"], {"password": "invalid"}),
])  # fmt: skip
def test_sign_in_validation(auth: Auth, identifier: Any, password: Any, fields: Any) -> None:
    with pytest.raises(ValidationError) as info:
        auth.sign_in(identifier, password)
    assert info.value.fields == fields


def test_huge_password_refused_without_hashing(auth: Auth) -> None:
    auth.sign_up("alice@example.com", PASSWORD)
    calls = []
    auth.ctx.hasher.verify = lambda *a, **k: calls.append(1)  # type: ignore[method-assign]
    auth.ctx.hasher.dummy_verify = lambda *a, **k: calls.append(1)  # type: ignore[method-assign]
    with pytest.raises(ValidationError) as info:
        auth.sign_in("alice@example.com", "x" * (1024 * 1024))
    assert info.value.fields == {"password": "too_long"}
    assert calls == []


def test_remember_must_be_boolean(auth: Auth) -> None:
    with pytest.raises(ValidationError):
        auth.sign_in("a@example.com", PASSWORD, remember="yes")  # type: ignore[arg-type]


def test_throttle_blocks_even_the_right_password(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth()
    auth.sign_up("victim@example.com", PASSWORD)
    variants = ["victim@example.com", "VICTIM@EXAMPLE.COM", " Victim@Example.com ",
                "ｖｉｃｔｉｍ@example.com"]  # fmt: skip
    for n in range(10):
        with pytest.raises(InvalidCredentials):
            auth.sign_in(variants[n % len(variants)], "wrong password!", ip=f"10.0.0.{n}")
    with pytest.raises(RateLimited) as info:
        auth.sign_in("victim@example.com", PASSWORD, ip="192.0.2.1")
    assert info.value.status == 429 and info.value.retry_after >= 1


def test_success_resets_the_identity_counter(auth: Auth) -> None:
    auth.sign_up("alice@example.com", PASSWORD)
    for _ in range(9):
        with pytest.raises(InvalidCredentials):
            auth.sign_in("alice@example.com", "wrong password!")
    auth.sign_in("alice@example.com", PASSWORD)
    for _ in range(9):
        with pytest.raises(InvalidCredentials):
            auth.sign_in("alice@example.com", "wrong password!")
    assert auth.sign_in("alice@example.com", PASSWORD).token


def test_trackable_records_sign_ins(auth: Auth, clock: Clock) -> None:
    auth.sign_up("alice@example.com", PASSWORD)
    auth.sign_in("alice@example.com", PASSWORD, ip="192.0.2.1")
    clock.advance(60)
    r = auth.sign_in("alice@example.com", PASSWORD, ip="192.0.2.2", user_agent="UA/2")
    user = auth.users.get_user("alice@example.com")
    assert user.sign_in_count == 2
    assert user.current_sign_in_ip == "192.0.2.2"
    assert user.last_sign_in_ip == "192.0.2.1"
    assert user.current_sign_in_at == clock.now
    assert auth.get_session(r.token).user_agent == "UA/2"


def test_legacy_hash_is_rehashed_on_sign_in(auth: Auth) -> None:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    legacy = PBKDF2PasswordHasher().encode(PASSWORD, "seasalt1234", iterations=1000)
    auth.users.create_user(email="old@example.com", password_hash=legacy)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("old@example.com", "wrong password!")
    assert auth.users.get_user("old@example.com").password_hash == legacy
    auth.sign_in("old@example.com", PASSWORD)
    upgraded = auth.users.get_user("old@example.com").password_hash
    assert upgraded.startswith("$argon2id$")
    assert auth.sign_in("old@example.com", PASSWORD).token


# -- sessions --------------------------------------------------------------------
@pytest.mark.parametrize("token", ["", "nope", None, 42, "x" * 10_000])
def test_bad_tokens(auth: Auth, token: Any) -> None:
    with pytest.raises(InvalidToken) as info:
        auth.get_session(token)
    assert info.value.status == 401
    assert auth.verify_token(token) is None
    assert auth.sign_out(token) is False


def test_sign_out_revokes_server_side(auth: Auth, signals_log: list[Any]) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert auth.sign_out(r.token) is True
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)
    assert auth.verify_token(r.token) is None
    assert auth.sign_out(r.token) is False
    assert [name for name, _ in signals_log].count("user_logged_out") == 1


def test_session_absolute_expiry(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(session_lifetime=3600, session_idle_timeout=None)
    r = auth.sign_up("alice@example.com", PASSWORD)
    clock.advance(3599)
    auth.get_session(r.token)
    clock.advance(1)
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)


def test_idle_timeout_slides_with_activity(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(session_idle_timeout=600)
    r = auth.sign_up("alice@example.com", PASSWORD)
    for _ in range(5):  # active every 500 s: 2500 s in all, never idle for 600
        clock.advance(500)
        auth.get_session(r.token)
    clock.advance(601)
    with pytest.raises(InvalidToken):
        auth.get_session(r.token)


def test_activity_is_not_written_on_every_request(auth: Auth, clock: Clock) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    touches = []
    real = auth.store.touch_session
    auth.store.touch_session = lambda *a: (touches.append(a), real(*a))  # type: ignore[method-assign]
    for _ in range(50):
        auth.get_session(r.token)
        clock.advance(1)
    assert len(touches) <= 2
    clock.advance(400)
    auth.get_session(r.token)
    assert len(touches) <= 3 and touches[-1][1] == clock.now


def test_remember_me(make_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = make_auth(session_idle_timeout=600, remember_lifetime=30 * 86400)
    auth.sign_up("alice@example.com", PASSWORD)
    normal = auth.sign_in("alice@example.com", PASSWORD)
    remembered = auth.sign_in("alice@example.com", PASSWORD, remember=True)
    assert remembered.session is not None
    assert remembered.session.expires_at == clock.now + __import__("datetime").timedelta(days=30)
    clock.advance(8 * 86400)  # beyond session_lifetime and idle timeout
    with pytest.raises(InvalidToken):
        auth.get_session(normal.token)
    assert auth.get_session(remembered.token).remember
    clock.advance(23 * 86400)
    with pytest.raises(InvalidToken):
        auth.get_session(remembered.token)


def test_user_not_found(make_auth: Callable[..., Auth]) -> None:
    class DetachedSessions(MemoryStore):
        """Sessions kept apart from users (as with a Redis session store)."""

        def delete_user(self, user_id: Any) -> bool:
            with self._lock:
                user = self._users.pop(str(user_id))
                self._by_email.pop(user.email_canonical, None)
            return True

    store = DetachedSessions()
    auth = make_auth(store=store)
    r = auth.sign_up("alice@example.com", PASSWORD)
    store.delete_user(r.user.id)
    with pytest.raises(UserNotFound) as info:
        auth.get_session(r.token)
    assert info.value.code == "USER_NOT_FOUND" and info.value.status == 401
    assert auth.verify_token(r.token) is None


def test_list_and_revoke_sessions(auth: Auth, clock: Clock) -> None:
    first = auth.sign_up("alice@example.com", PASSWORD, ip="192.0.2.1", user_agent="A")
    clock.advance(1)
    second = auth.sign_in("alice@example.com", PASSWORD, ip="192.0.2.2", user_agent="B")
    user = first.user
    entries = auth.list_sessions(user, current=second.token)
    assert [e.user_agent for e in entries] == ["B", "A"]
    assert [e.current for e in entries] == [True, False]
    assert set(entries[0].to_dict()) == {
        "id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"
    }  # fmt: skip
    auth.revoke_session(user, entries[1].id)
    with pytest.raises(InvalidToken):
        auth.get_session(first.token)
    assert len(auth.list_sessions(user)) == 1


def test_cannot_revoke_another_users_session(auth: Auth) -> None:
    alice = auth.sign_up("alice@example.com", PASSWORD)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    bob_session = auth.list_sessions(bob.user)[0].id
    with pytest.raises(ValidationError) as info:
        auth.revoke_session(alice.user, bob_session)
    assert info.value.fields == {"session_id": "invalid"}
    assert auth.get_session(bob.token)
    with pytest.raises(ValidationError):
        auth.revoke_session(alice.user, "no-such-session")


def test_revoke_other_sessions_keeps_current(auth: Auth) -> None:
    keep = auth.sign_up("alice@example.com", PASSWORD)
    others = [auth.sign_in("alice@example.com", PASSWORD) for _ in range(3)]
    assert auth.revoke_other_sessions(keep.user, keep.token) == 3
    assert auth.get_session(keep.token)
    for r in others:
        assert auth.verify_token(r.token) is None


def test_revoke_other_sessions_with_someone_elses_token(auth: Auth) -> None:
    alice = auth.sign_up("alice@example.com", PASSWORD)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    with pytest.raises(InvalidToken):
        auth.revoke_other_sessions(alice.user, bob.token)
    assert auth.get_session(alice.token) and auth.get_session(bob.token)


# -- password and username changes -----------------------------------------------
def test_change_password(auth: Auth, signals_log: list[Any]) -> None:
    current = auth.sign_up("alice@example.com", PASSWORD)
    other = auth.sign_in("alice@example.com", PASSWORD)
    auth.change_password(current.user, PASSWORD, NEW_PASSWORD, current_token=current.token)
    assert auth.get_session(current.token)  # the caller's session survives
    assert auth.verify_token(other.token) is None
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", PASSWORD)
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token
    assert ("password_changed" in [name for name, _ in signals_log])


def test_change_password_from_python_ends_every_session(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.change_password(r.user, PASSWORD, NEW_PASSWORD)
    assert auth.verify_token(r.token) is None


def test_change_password_can_keep_other_sessions(auth: Auth) -> None:
    current = auth.sign_up("alice@example.com", PASSWORD)
    other = auth.sign_in("alice@example.com", PASSWORD)
    auth.change_password(current.user, PASSWORD, NEW_PASSWORD, current_token=current.token,
                         revoke_other_sessions=False)
    assert auth.get_session(other.token) and auth.get_session(current.token)


def test_change_password_wrong_current(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.change_password(r.user, "not my password", NEW_PASSWORD)
    assert auth.get_session(r.token)
    assert auth.sign_in("alice@example.com", PASSWORD).token


def test_change_password_policy(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(ValidationError) as info:
        auth.change_password(r.user, PASSWORD, "short")
    assert info.value.fields == {"new_password": "too_short"}
    with pytest.raises(ValidationError) as info:
        auth.change_password(r.user, PASSWORD, "alice@example.com")
    assert info.value.fields == {"new_password": "contains_identifier"}


def test_change_password_switched_off(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(changeable=False)
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(FeatureDisabled):
        auth.change_password(r.user, PASSWORD, NEW_PASSWORD)


def test_change_username(make_auth: Callable[..., Auth], signals_log: list[Any]) -> None:
    auth = make_auth(usernames=True)
    r = auth.sign_up("alice@example.com", PASSWORD, username="alice")
    auth.sign_up("bob@example.com", PASSWORD, username="bob")
    with pytest.raises(InvalidCredentials):
        auth.change_username(r.user, "alicia", "wrong password!")
    with pytest.raises(UserExists):
        auth.change_username(r.user, "BOB", PASSWORD)
    with pytest.raises(ValidationError) as info:
        auth.change_username(r.user, "x", PASSWORD)
    assert info.value.fields == {"new_username": "too_short"}
    user = auth.change_username(r.user, "alicia", PASSWORD)
    assert user.username == "alicia"
    assert auth.sign_in("alicia", PASSWORD).token
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice", PASSWORD)
    assert auth.get_session(r.token)  # a username change is not a credential change
    changed = [kw for name, kw in signals_log if name == "username_changed"]
    assert changed[0]["old_username"] == "alice"


def test_change_username_needs_the_feature(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(FeatureDisabled):
        auth.change_username(r.user, "alice", PASSWORD)


# -- administration -------------------------------------------------------------
def test_create_user_is_active_and_confirmed_by_default(auth: Auth) -> None:
    user = auth.users.create_user(email="admin@example.com", password=PASSWORD, roles=["admin"])
    assert user.is_active and user.email_confirmed
    assert user.role_names == ["admin"]
    assert auth.sign_in("admin@example.com", PASSWORD).user.has_role("admin")
    quiet = auth.users.create_user(email="q@example.com", active=False, confirmed=False)
    assert not quiet.is_active and not quiet.email_confirmed and quiet.password_hash is None


def test_create_user_keeps_foreign_hash(auth: Auth) -> None:
    user = auth.users.create_user(email="x@example.com", password_hash="$2b$12$abc")
    assert user.password_hash == "$2b$12$abc"


def test_create_user_rejects_unknown_fields_and_bad_input(auth: Auth) -> None:
    with pytest.raises(ValidationError) as info:
        auth.users.create_user(email="x@example.com", colour="blue")
    assert info.value.fields == {"colour": "unknown_field"}
    with pytest.raises(ValidationError):
        auth.users.create_user(email="nope")
    with pytest.raises(ValidationError):
        auth.users.create_user(email="x@example.com", password="short")


def test_find_and_get_user(auth: Auth) -> None:
    user = auth.users.create_user(email="Alice@example.com", password=PASSWORD)
    assert auth.users.get_user(user.id).id == user.id
    assert auth.users.get_user(str(user.id)).id == user.id
    assert auth.users.get_user("ALICE@example.com").id == user.id
    assert auth.users.find_user(email="alice@EXAMPLE.com").id == user.id
    assert auth.users.find_user(email="nobody@example.com") is None
    assert auth.users.get_user("no-such-id") is None


def test_deactivate_ends_sessions_and_activate_restores_sign_in(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert auth.users.deactivate_user(r.user) is True
    assert auth.users.deactivate_user(r.user) is False
    assert auth.verify_token(r.token) is None
    assert auth.users.activate_user("alice@example.com") is True
    assert auth.verify_token(r.token) is None  # old sessions stay dead
    assert auth.sign_in("alice@example.com", PASSWORD).token
    assert auth.users.toggle_active(r.user) is False
    assert auth.users.toggle_active(r.user) is True


def test_admin_set_password_ends_sessions(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    auth.users.set_password(r.user, NEW_PASSWORD)
    assert auth.verify_token(r.token) is None
    assert auth.sign_in("alice@example.com", NEW_PASSWORD).token


def test_delete_user(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert auth.users.delete_user(r.user) is True
    assert auth.verify_token(r.token) is None
    assert auth.users.get_user("alice@example.com") is None
    with pytest.raises(UserNotFound):
        auth.users.delete_user("alice@example.com")
    auth.sign_up("alice@example.com", PASSWORD)  # the address is free again


def test_roles_and_permissions(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    role = auth.users.create_role("editor", description="Edits", permissions=["post.edit"])
    assert role.name == "editor" and role.get_permissions() == {"post.edit"}
    with pytest.raises(ValidationError):
        auth.users.create_role("editor")
    assert auth.users.find_or_create_role("editor").name == "editor"
    assert auth.users.find_or_create_role("viewer").name == "viewer"
    assert auth.users.add_role_to_user(r.user, "editor") is True
    assert auth.users.add_role_to_user(r.user, role) is False
    user = auth.get_session(r.token).user  # takes effect on the next request
    assert user.has_role("editor") and user.has_permission("post.edit")
    assert auth.get_session(r.token).to_dict()["user"]["roles"] == ["editor"]
    auth.users.add_permissions_to_role("editor", "post.delete")
    assert auth.get_session(r.token).user.permissions == {"post.edit", "post.delete"}
    assert auth.users.remove_role_from_user(r.user, "editor") is True
    assert auth.users.remove_role_from_user(r.user, "editor") is False
    assert not auth.get_session(r.token).user.has_role("editor")
    assert [x.name for x in auth.users.list_roles()] == ["editor", "viewer"]
    assert auth.users.delete_role("viewer") is True
    assert auth.users.find_role("viewer") is None


def test_hash_and_verify_password(auth: Auth) -> None:
    h = auth.users.hash_password(PASSWORD)
    assert h.startswith("$argon2id$")
    assert auth.users.verify_password(PASSWORD, h)
    assert not auth.users.verify_password("wrong", h)
    user = auth.users.create_user(email="a@example.com", password=PASSWORD)
    assert auth.users.verify_password(PASSWORD, user)
    assert not auth.users.verify_password("x" * 5000, user)


# -- signals ---------------------------------------------------------------------
def test_signals_carry_sender_and_user(auth: Auth, signals_log: list[Any]) -> None:
    received: list[Any] = []
    from authgate import user_registered

    @user_registered.connect_via(auth)
    def on_registered(sender: Any, user: Any, **extra: Any) -> None:
        # sent after the commit: the user is already stored
        received.append((sender, user.email, auth.users.get_user(user.email) is not None))

    r = auth.sign_up("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        auth.sign_in("alice@example.com", "wrong password!", ip="192.0.2.7")
    auth.sign_in("alice@example.com", PASSWORD)
    assert received == [(auth, "alice@example.com", True)]
    names = [name for name, _ in signals_log]
    assert names == ["user_registered", "login_failed", "user_logged_in"]
    failed = signals_log[1][1]
    assert failed["user"].id == r.user.id and failed["ip"] == "192.0.2.7"
    user_registered.disconnect(on_registered)


def test_every_failure_is_an_auth_error(auth: Auth) -> None:
    for call in (lambda: auth.sign_in("x@example.com", "wrong password!"),
                 lambda: auth.get_session("bad"),
                 lambda: auth.sign_up("bad", "x")):  # fmt: skip
        with pytest.raises(AuthError):
            call()


def test_audit_log_one_line_per_attempt_without_secrets(
    auth: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    r = auth.sign_up("alice@example.com", "S3cret-Canary-pass")
    caplog.set_level("INFO", logger="authgate.audit")
    with pytest.raises(InvalidCredentials):
        auth.sign_in("evil\nname\x1b[31m@example.com", "S3cret-Canary-pass", ip="192.0.2.9",
                     user_agent="UA\nforged: line")  # fmt: skip
    auth.sign_in("alice@example.com", "S3cret-Canary-pass", ip="192.0.2.9")
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "authgate.audit"]
    assert len(lines) == 2 and all("\n" not in line and "\x1b" not in line for line in lines)
    failure, success = (json.loads(line) for line in lines)
    assert failure["outcome"] == "failure" and failure["user_id"] is None
    assert failure["ip"] == "192.0.2.9" and failure["user_agent"] == "UA\nforged: line"
    assert success["outcome"] == "success" and success["user_id"] == str(r.user.id)
    text = "".join(lines)
    assert "S3cret-Canary" not in text and (r.token or "") not in text


def test_deleted_users_tokens_say_user_not_found(auth: Auth) -> None:
    r = auth.sign_up("alice@example.com", PASSWORD)
    other = auth.sign_in("alice@example.com", PASSWORD)
    auth.users.delete_user("alice@example.com")
    for token in (r.token, other.token):
        with pytest.raises(UserNotFound) as info:
            auth.get_session(token)
        assert (info.value.code, info.value.status) == ("USER_NOT_FOUND", 401)
        assert auth.verify_token(token) is None
    with pytest.raises(InvalidToken):
        auth.get_session("never-a-session-token")
