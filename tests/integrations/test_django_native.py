"""authgate's user as Django's user: ``AUTH_USER_MODEL = "authgate.User"``.

The test project (``tests.django_project``) is set up the Django way: the
admin, ``django.contrib.auth`` and sessions installed, ``AuthGateBackend``,
Django's ``AuthenticationMiddleware`` then ``AuthGateMiddleware``. Requests go
through Django's own test client. ``request.user`` is authgate's user (bearer
token, session cookie, or a Django ``login()``, which starts an authgate
session); Django's ``login_required``, ``permission_required``, templates'
``{{ user }}``/``{{ perms }}``, ``createsuperuser`` and the admin work with it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.django_project import empty_tables, setup

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def django_project() -> Iterator[None]:
    setup()
    yield
    empty_tables()


@pytest.fixture
def auth() -> Any:
    from authgate.django import get_auth

    return get_auth()


@pytest.fixture
def client() -> Any:
    from django.test import Client

    return Client()


def create(auth: Any, email: str, *roles: str, **fields: Any) -> Any:
    return auth.users.create_user(email=email, password=PASSWORD, roles=list(roles), **fields)


def bearer(auth: Any, email: str) -> dict[str, str]:
    token = auth.sign_in(email, PASSWORD).token
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# -- the model satisfies Django's contract ----------------------------------------------


def test_the_project_passes_djangos_system_checks() -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "no issues" in out.getvalue()
    from django.contrib.auth import get_user_model

    from authgate.django.models import User

    assert get_user_model() is User


def test_misconfigurations_are_reported_by_checks() -> None:
    from django.test import override_settings

    from authgate.django.checks import check_native_user

    ids = lambda: sorted(e.id for e in check_native_user())  # noqa: E731
    assert ids() == []
    with override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"]):
        assert ids() == ["authgate.E002"]
    with override_settings(AUTHENTICATION_BACKENDS=[]):
        assert ids() == ["authgate.W002"]
    with override_settings(MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "authgate.django.middleware.AuthGateMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]):  # fmt: skip
        assert ids() == ["authgate.E003"]
    with override_settings(AUTH_USER_MODEL="auth.User"):
        assert ids() == []  # a project with its own user model: nothing to say


def test_the_user_model_speaks_djangos_names(auth: Any) -> None:
    from authgate.django.models import User

    user = create(auth, "Alice@Example.com", username="alice")
    assert User.USERNAME_FIELD == "email" and User.REQUIRED_FIELDS == []
    # authgate keeps the local part as typed and lower-cases the domain
    assert user.get_username() == "Alice@example.com" and user.natural_key() == ("Alice@example.com",)
    assert User.objects.get_by_natural_key("alice@example.COM") == user
    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key("nobody@example.com")
    assert user.is_authenticated is True and user.is_anonymous is False
    assert user.get_full_name() == user.get_short_name() == "alice"
    assert User.get_email_field_name() == "email"
    assert user.last_login is None
    auth.sign_in("alice@example.com", PASSWORD)
    assert User.objects.get(pk=user.pk).last_login is not None


def test_passwords_go_through_authgates_hasher_and_stamp(auth: Any) -> None:
    from django.core.exceptions import ValidationError

    from authgate.django.models import User

    user = create(auth, "bob@example.com")
    token = auth.sign_in("bob@example.com", PASSWORD).token
    assert user.check_password(PASSWORD) and not user.check_password("wrong")
    assert not user.check_password("x" * 5000)  # over the limit: refused before hashing
    stamp = user.security_stamp
    user.set_password("a brand new password")  # saved at once: sessions end
    assert user.security_stamp != stamp and user.password_hash.startswith("$argon2id$")
    assert auth.verify_token(token) is None
    assert auth.sign_in("bob@example.com", "a brand new password").token
    with pytest.raises(ValidationError):
        user.set_password("short")
    user.set_unusable_password()
    assert not user.has_usable_password() and not User.objects.get(pk=user.pk).password_hash
    fresh = User(email="new@example.com")  # not stored: set in memory only
    fresh.set_password(PASSWORD)
    assert fresh.check_password(PASSWORD) and not User.objects.filter(email="new@example.com")


def test_a_legacy_hash_is_upgraded_by_check_password(auth: Any) -> None:
    from django.contrib.auth.hashers import make_password

    user = auth.users.create_user(
        email="legacy@example.com", password_hash=make_password(PASSWORD, hasher="default")
    )
    assert user.password_hash.startswith("pbkdf2_sha256$")
    assert user.check_password(PASSWORD)
    assert auth.users.get_user(user.pk).password_hash.startswith("$argon2id$")


def test_saving_the_model_keeps_the_canonical_forms(auth: Any) -> None:
    from authgate.django.models import User

    user = create(auth, "carol@example.com")
    user.email = "Carol.New@Example.com"
    user.save(update_fields=["email"])
    assert User.objects.get(pk=user.pk).email_canonical == "carol.new@example.com"
    assert auth.users.get_user("carol.new@example.com") == user


def test_staff_superuser_and_permissions_come_from_roles(auth: Any) -> None:
    auth.users.create_role("writer", permissions=["blog.add_post", "blog.change_post"])
    writer = create(auth, "writer@example.com", "writer")
    staff = create(auth, "staff@example.com", "staff")
    boss = create(auth, "boss@example.com", "superuser")
    assert (writer.is_staff, writer.is_superuser) == (False, False)
    assert (staff.is_staff, staff.is_superuser) == (True, False)
    assert (boss.is_staff, boss.is_superuser) == (True, True)
    assert writer.has_perm("blog.add_post") and not writer.has_perm("blog.delete_post")
    assert writer.has_perms(["blog.add_post", "blog.change_post"])
    assert writer.has_module_perms("blog") and not writer.has_module_perms("shop")
    assert writer.get_all_permissions() == {"blog.add_post", "blog.change_post"}
    assert boss.has_perm("anything.at_all") and boss.has_module_perms("shop")
    auth.users.deactivate_user(boss)
    boss.refresh_from_db()
    assert not boss.has_perm("anything.at_all")  # inactive: nothing
    auth.users.deactivate_user(writer)
    assert not auth.users.get_user(writer.pk).has_perm("blog.add_post")


# -- request.user, Django's decorators and templates -------------------------------------


def test_request_user_is_the_authgate_user_for_djangos_decorators(client: Any, auth: Any) -> None:
    create(auth, "alice@example.com")
    anonymous = client.get("/native/protected")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    signed = client.get("/native/protected", **bearer(auth, "alice@example.com"))
    assert signed.json() == {"email": "alice@example.com", "same": True}
    assert client.get("/native/protected", HTTP_AUTHORIZATION="Bearer forged").status_code == 302
    # The session cookie of authgate's API counts too.
    response = client.post(
        "/auth/sign-in/email", {"email": "alice@example.com", "password": PASSWORD},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200
    assert client.get("/native/protected").json()["email"] == "alice@example.com"


def test_permission_required_and_templates_see_roles(client: Any, auth: Any) -> None:
    auth.users.create_role("writer", permissions=["blog.add_post"])
    create(auth, "writer@example.com", "writer")
    create(auth, "reader@example.com")
    page = client.get("/native/page").content.decode()
    assert page.startswith("Hello stranger|staff:False|add_post:False")
    writer = bearer(auth, "writer@example.com")
    assert client.get("/native/page", **writer).content.decode().strip() == (
        "Hello writer@example.com|staff:False|add_post:True|blog:yes"
    )
    assert client.get("/native/perm", **writer).json() == {"email": "writer@example.com"}
    assert client.get("/native/perm", **bearer(auth, "reader@example.com")).status_code == 403


def test_an_async_view_reads_request_auser(auth: Any) -> None:
    import asyncio

    from django.http import JsonResponse
    from django.test import AsyncClient, override_settings
    from django.urls import path

    async def whoami(request: Any) -> JsonResponse:
        user = await request.auser()
        return JsonResponse({"email": getattr(user, "email", None)})

    module = type("urls", (), {"urlpatterns": [path("whoami", whoami)]})
    create(auth, "async@example.com")
    token = auth.sign_in("async@example.com", PASSWORD).token
    with override_settings(ROOT_URLCONF=module):
        client = AsyncClient()
        signed = asyncio.run(client.get("/whoami", headers={"Authorization": f"Bearer {token}"}))
        anonymous = asyncio.run(client.get("/whoami"))
    assert signed.json() == {"email": "async@example.com"}
    assert anonymous.json() == {"email": None}


# -- Django's login() and logout() start and end authgate sessions ------------------------


def test_djangos_login_starts_an_authgate_session_and_logout_ends_it(
    client: Any, auth: Any
) -> None:
    user = create(auth, "dave@example.com")
    assert client.get("/native/protected").status_code == 302
    refused = client.post("/native/login", {"email": "dave@example.com", "password": "nope"})
    assert refused.status_code == 401
    logged = client.post("/native/login", {"email": "dave@example.com", "password": PASSWORD})
    assert logged.json() == {"ok": True, "email": "dave@example.com"}
    assert client.get("/native/protected").json()["email"] == "dave@example.com"
    assert len(auth.list_sessions(user)) == 1  # a real authgate session, listed and revocable
    assert auth.audit.events(user, kinds="sign_in")[0].details == {"factor": "app"}
    # authgate's own API sees the same session (GET /auth/session).
    assert client.get("/auth/session").json()["user"]["email"] == "dave@example.com"

    assert client.post("/native/logout").json() == {"ok": True}
    assert auth.list_sessions(user) == []
    assert client.get("/native/protected").status_code == 302


def test_a_revoked_or_stale_session_ends_the_django_login(client: Any, auth: Any) -> None:
    user = create(auth, "erin@example.com")
    assert client.login(email="erin@example.com", password=PASSWORD)  # Django's test client
    assert client.get("/native/protected").status_code == 200
    (entry,) = auth.list_sessions(user)
    auth.users.revoke_session(user, entry.id)
    assert client.get("/native/protected").status_code == 302

    client.force_login(auth.users.get_user(user.pk))
    assert client.get("/native/protected").status_code == 200
    auth.users.set_password(user, "another password 1")  # the stamp rotates
    assert client.get("/native/protected").status_code == 302


def test_unsafe_requests_of_a_django_login_keep_djangos_csrf(auth: Any) -> None:
    from django.test import Client

    create(auth, "frank@example.com")
    client = Client(enforce_csrf_checks=True)
    client.force_login(auth.users.get_user("frank@example.com"))
    # authgate's API: the Django session counts as the session cookie, so an
    # unsafe request needs a CSRF token (Django's here).
    refused = client.post("/auth/sign-out")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "CSRF_FAILED"
    assert client.get("/native/protected").status_code == 200
    client.get("/admin/login/")  # sets Django's csrftoken cookie
    token = client.cookies["csrftoken"].value
    out = client.post("/auth/sign-out", HTTP_X_CSRFTOKEN=token)
    assert out.json() == {"success": True}
    assert client.get("/native/protected").status_code == 302


def test_the_backend_throttles_and_refuses_like_sign_in(auth: Any) -> None:
    from django.contrib.auth import authenticate

    create(auth, "gina@example.com")
    assert authenticate(username="GINA@example.com", password=PASSWORD) is not None
    assert authenticate(email="gina@example.com", password=PASSWORD) is not None
    assert authenticate(username="gina@example.com", password="wrong") is None
    assert authenticate(username="nobody@example.com", password="wrong") is None
    for _ in range(10):
        authenticate(username="gina@example.com", password="wrong")
    assert authenticate(username="gina@example.com", password=PASSWORD) is None  # throttled
    reasons = [e.details.get("reason") for e in auth.audit.events(kinds="sign_in")]
    assert "throttled" in reasons and "password" in reasons
    create(auth, "henry@example.com", is_active=False)
    assert authenticate(username="henry@example.com", password=PASSWORD) is None


# -- createsuperuser ---------------------------------------------------------------------


def test_createsuperuser_non_interactive(auth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    out = io.StringIO()
    call_command("createsuperuser", "--noinput", "--email", "Root@Example.com", stdout=out)
    assert "Superuser created successfully." in out.getvalue()
    root = auth.users.get_user("root@example.com")
    assert root.is_superuser and root.is_staff and root.role_names == ["superuser"]
    assert root.password_hash.startswith("$argon2id$") and root.email_confirmed
    assert auth.sign_in("root@example.com", PASSWORD).token  # authgate's sign-in, same password

    with pytest.raises(CommandError, match="already taken"):
        call_command("createsuperuser", "--noinput", "--email", "root@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "short")
    with pytest.raises(CommandError, match="password"):
        call_command("createsuperuser", "--noinput", "--email", "other@example.com")
    assert auth.users.get_user("other@example.com") is None


def test_the_manager_creates_users_through_authgate(auth: Any) -> None:
    from django.core.exceptions import ValidationError

    from authgate.django.models import User

    staff = User.objects.create_user("staffer@example.com", PASSWORD, is_staff=True)
    assert staff.is_staff and not staff.is_superuser and staff.role_names == ["staff"]
    nopass = User.objects.create_user("nopass@example.com")
    assert not nopass.has_usable_password()
    with pytest.raises(ValidationError, match="already"):
        User.objects.create_user("STAFFER@example.com", PASSWORD)
    with pytest.raises(ValidationError):
        User.objects.create_user("not an email", PASSWORD)


# -- the admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client: Any, auth: Any) -> Any:
    create(auth, "root@example.com", "superuser")
    assert client.login(email="root@example.com", password=PASSWORD)
    return client


def csrf(client: Any, url: str) -> str:
    page = client.get(url).content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def test_the_admin_lists_users_without_secrets(admin_client: Any, auth: Any) -> None:
    alice = create(auth, "alice@example.com", "writer", username="alice")
    page = admin_client.get("/admin/authgate/user/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "alice@example.com" in html and "root@example.com" in html and "writer" in html
    change = admin_client.get(f"/admin/authgate/user/{alice.pk}/change/").content.decode()
    assert '<div class="readonly">argon2</div>' in change  # the scheme, never the hash
    for secret in (alice.password_hash, alice.security_stamp, alice.password_hash[-20:]):
        assert secret not in html and secret not in change
    found = admin_client.get("/admin/authgate/user/", {"q": "alice"}).content.decode()
    root = auth.users.get_user("root@example.com")
    assert f"/admin/authgate/user/{alice.pk}/change/" in found
    assert f"/admin/authgate/user/{root.pk}/change/" not in found
    index = admin_client.get("/admin/").content.decode()
    assert "Security events" in index and "Sessions" in index and "Roles" in index


def test_the_admin_changes_users_through_authgate(admin_client: Any, auth: Any) -> None:
    auth.users.create_role("writer")
    bob = create(auth, "bob@example.com")
    token = auth.sign_in("bob@example.com", PASSWORD).token
    writer = auth.users.find_role("writer")
    url = f"/admin/authgate/user/{bob.pk}/change/"
    form = {
        "csrfmiddlewaretoken": csrf(admin_client, url), "email": "Bob.New@example.com",
        "username": "bobby", "email_confirmed_at_0": "", "email_confirmed_at_1": "",
        "roles": [writer.pk], "new_password": "",
    }  # fmt: skip
    saved = admin_client.post(url, form)  # is_active left out: unticked
    assert saved.status_code == 302, saved.content.decode()[:2000]
    bob = auth.users.get_user(bob.pk)
    assert (bob.email, bob.username, bob.is_active) == ("Bob.New@example.com", "bobby", False)
    assert bob.email_canonical == "bob.new@example.com" and bob.role_names == ["writer"]
    assert bob.email_confirmed_at is None
    assert auth.verify_token(token) is None  # deactivated: the stamp rotated
    kinds = {(e.kind, e.actor) for e in auth.audit.events(bob)}
    assert {("user_deactivate", "admin"), ("role_add", "admin")} <= kinds

    form.update(csrfmiddlewaretoken=csrf(admin_client, url), is_active="on",
                new_password="set by the admin 1", roles=[])  # fmt: skip
    assert admin_client.post(url, form).status_code == 302
    assert auth.sign_in("bob.new@example.com", "set by the admin 1").user.role_names == []


def test_the_admin_refuses_a_taken_or_invalid_email(admin_client: Any, auth: Any) -> None:
    bob = create(auth, "bob@example.com")
    url = f"/admin/authgate/user/{bob.pk}/change/"
    form = {"csrfmiddlewaretoken": csrf(admin_client, url), "email": "ROOT@example.com",
            "is_active": "on", "email_confirmed_at_0": "", "email_confirmed_at_1": ""}  # fmt: skip
    page = admin_client.post(url, form)
    assert page.status_code == 200 and "already exists" in page.content.decode()
    form["email"] = "not-an-address"
    assert admin_client.post(url, form).status_code == 200
    assert auth.users.get_user(bob.pk).email == "bob@example.com"


def test_the_admin_adds_a_user_hashed_by_authgate(admin_client: Any, auth: Any) -> None:
    url = "/admin/authgate/user/add/"
    form = {"csrfmiddlewaretoken": csrf(admin_client, url), "email": "new@example.com",
            "is_active": "on", "email_confirmed_at_0": "", "email_confirmed_at_1": "",
            "new_password": PASSWORD}  # fmt: skip
    added = admin_client.post(url, form)
    assert added.status_code == 302, added.content.decode()[:2000]
    user = auth.users.get_user("new@example.com")
    assert user.password_hash.startswith("$argon2id$")
    assert auth.sign_in("new@example.com", PASSWORD).token
    short = {**form, "email": "other@example.com", "new_password": "short",
             "csrfmiddlewaretoken": csrf(admin_client, url)}  # fmt: skip
    assert admin_client.post(url, short).status_code == 200
    assert auth.users.get_user("other@example.com") is None


def test_the_admin_deletes_a_user_through_authgate(admin_client: Any, auth: Any) -> None:
    carol = create(auth, "carol@example.com")
    token = auth.sign_in("carol@example.com", PASSWORD).token
    url = f"/admin/authgate/user/{carol.pk}/delete/"
    done = admin_client.post(url, {"csrfmiddlewaretoken": csrf(admin_client, url), "post": "yes"})
    assert done.status_code == 302
    assert auth.users.get_user(carol.pk) is None
    from authgate import UserNotFound

    with pytest.raises(UserNotFound):  # the tombstone auth.users.delete_user leaves
        auth.get_session(token)


def test_the_admin_revokes_sessions(admin_client: Any, auth: Any) -> None:
    dave = create(auth, "dave@example.com")
    first = auth.sign_in("dave@example.com", PASSWORD).token
    second = auth.sign_in("dave@example.com", PASSWORD).token
    listing = admin_client.get("/admin/authgate/session/").content.decode()
    assert listing.count("dave@example.com") == 2
    first_id = auth.get_session(first).id
    assert auth.get_session(first).user.email == "dave@example.com"
    assert first_id in listing
    from authgate.django.models import Session

    assert Session.objects.get(pk=first_id).token_hash not in listing
    url = "/admin/authgate/session/"
    revoked = admin_client.post(url, {
        "csrfmiddlewaretoken": csrf(admin_client, url), "action": "revoke_sessions",
        "_selected_action": [first_id],
    })  # fmt: skip
    assert revoked.status_code == 302
    assert auth.verify_token(first) is None and auth.verify_token(second) is not None
    assert [e.actor for e in auth.audit.events(dave, kinds="session_revoke")] == ["admin"]
    assert admin_client.get("/admin/authgate/session/add/").status_code == 403

    users = "/admin/authgate/user/"
    admin_client.post(users, {
        "csrfmiddlewaretoken": csrf(admin_client, users), "action": "revoke_all_sessions",
        "_selected_action": [dave.pk],
    })  # fmt: skip
    assert auth.verify_token(second) is None


def test_security_events_are_read_only_in_the_admin(admin_client: Any, auth: Any) -> None:
    create(auth, "erin@example.com")
    auth.sign_in("erin@example.com", PASSWORD)
    from authgate.django.models import SecurityEvent

    event = SecurityEvent.objects.filter(kind="sign_in").first()
    assert event is not None
    listing = admin_client.get("/admin/authgate/securityevent/").content.decode()
    assert "sign_in" in listing
    base = "/admin/authgate/securityevent"
    assert admin_client.get(f"{base}/add/").status_code == 403
    view = admin_client.get(f"{base}/{event.pk}/change/")
    assert view.status_code == 200 and 'name="kind"' not in view.content.decode()
    assert admin_client.post(f"{base}/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SecurityEvent.objects.filter(pk=event.pk).exists()


def test_staff_see_what_their_roles_grant(client: Any, auth: Any) -> None:
    auth.users.create_role("support", permissions=["authgate.view_user"])
    create(auth, "support@example.com", "staff", "support")
    create(auth, "member@example.com")
    assert not client.login(email="nobody@example.com", password=PASSWORD)
    assert client.login(email="member@example.com", password=PASSWORD)
    assert client.get("/admin/").status_code == 302  # not staff: the admin's login page
    client.logout()
    assert client.login(email="support@example.com", password=PASSWORD)
    assert client.get("/admin/authgate/user/").status_code == 200
    assert client.get("/admin/authgate/session/").status_code == 403
    assert client.get("/admin/authgate/user/add/").status_code == 403


def test_the_admin_manages_roles_through_authgate(admin_client: Any, auth: Any) -> None:
    url = "/admin/authgate/role/add/"
    added = admin_client.post(url, {"csrfmiddlewaretoken": csrf(admin_client, url),
                                    "name": "writer", "description": "Writes",
                                    "permissions": "blog.add_post"})  # fmt: skip
    assert added.status_code == 302
    role = auth.users.find_role("writer")
    assert role.get_permissions() == {"blog.add_post"}
    create(auth, "writer@example.com", "writer")
    token = auth.sign_in("writer@example.com", PASSWORD).token
    assert auth.get_session(token).user.has_perm("blog.add_post")  # now cached
    change = f"/admin/authgate/role/{role.pk}/change/"
    admin_client.post(change, {"csrfmiddlewaretoken": csrf(admin_client, change),
                               "name": "writer", "description": "Writes",
                               "permissions": "blog.add_post, blog.change_post"})  # fmt: skip
    user = auth.get_session(token).user  # the cached session saw the change at once
    assert user.permissions == {"blog.add_post", "blog.change_post"}
    delete = f"/admin/authgate/role/{role.pk}/delete/"
    admin_client.post(delete, {"csrfmiddlewaretoken": csrf(admin_client, delete), "post": "yes"})
    assert auth.users.find_role("writer") is None
    assert auth.get_session(token).user.role_names == []
    events = {e.kind for e in auth.audit.events(kinds=["role_create", "role_delete"])}
    assert events == {"role_create", "role_delete"}
