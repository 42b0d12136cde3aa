"""authgate in Django's admin: users, roles, sessions (with revoke) and security events.

Loaded by the admin's autodiscovery when ``django.contrib.admin`` is installed.
Every change goes through authgate (``auth.users``, the flows' store), not
around it: creating a user validates and hashes as ``auth.users.create_user``
does, deactivating or setting a password rotates the security stamp and ends
the sessions, role changes reach the session caches, deleting a user leaves
the tombstones that make their tokens answer ``USER_NOT_FOUND``, and every
change is in the audit trail (actor ``"admin"``). No page shows a password
hash, a session token's digest or a security stamp. Security events are
read-only.

Who may do what is Django's permission system: superusers everything,
others what their roles grant (``authgate.view_user``, ``authgate.change_user``,
``authgate.view_session``, ``authgate.delete_session``...).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple

from authgate.django import get_auth
from authgate.django.models import Role, SecurityEvent, Session, User
from authgate.errors import AuthError, ValidationError as AuthValidationError
from authgate.flows.validation import valid_email, valid_username

__all__ = ["RoleAdmin", "SecurityEventAdmin", "SessionAdmin", "UserAdmin"]


def _message(error: AuthError) -> str:
    fields = getattr(error, "fields", None) or {}
    details = ", ".join(f"{name}: {reason}" for name, reason in fields.items())
    return f"{error.message} ({details})" if details else error.message


class UserForm(forms.ModelForm):  # type: ignore[misc]
    """A user's fields, its roles and an optional new password, validated by authgate."""

    roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.all(),
        required=False,
        widget=FilteredSelectMultiple("roles", is_stacked=False),
    )
    new_password = forms.CharField(
        label="New password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the password. Setting one ends every session.",
    )

    class Meta:
        model = User
        fields = ("email", "username", "is_active", "email_confirmed_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["roles"].initial = list(self.instance.roles)
        else:
            self.fields["new_password"].label = "Password"
            self.fields["new_password"].help_text = "Leave empty for a user without a password."

    def _authgate(self, name: str, check: Any) -> Any:
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return None
        try:
            return check(value)
        except AuthValidationError as error:
            raise forms.ValidationError(_message(error)) from None

    def clean_email(self) -> str:
        """A valid address, not another user's (compared canonically)."""
        email: str = self._authgate("email", valid_email)
        other = get_auth().users.get_user(email)
        if other is not None and str(other.pk) != str(self.instance.pk):
            raise forms.ValidationError("A user with this email already exists.")
        return email

    def clean_username(self) -> str | None:
        """A valid username (when given), not another user's."""
        username: str | None = self._authgate("username", valid_username)
        if username is not None:
            other = get_auth().users.find_user(username=username)
            if other is not None and str(other.pk) != str(self.instance.pk):
                raise forms.ValidationError("A user with this username already exists.")
        return username

    def clean_new_password(self) -> str | None:
        """A password within authgate's length policy (when given)."""
        password = self.cleaned_data.get("new_password") or None
        if password is not None:
            try:
                get_auth().ctx.policy.check_length(password)
            except AuthValidationError as error:
                raise forms.ValidationError(_message(error)) from None
        return password


@admin.register(User)
class UserAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Users: list, search, create, change (through ``auth.users``), deactivate, revoke."""

    form = UserForm
    list_display = (
        "email", "username", "is_active", "email_confirmed", "role_list", "created_at",
        "last_sign_in_at",
    )  # fmt: skip
    list_filter = ("is_active", "assigned_roles")
    search_fields = ("email", "username")
    ordering = ("-created_at",)
    readonly_fields = (
        "id", "password_scheme", "created_at", "password_changed_at", "last_sign_in_at",
        "current_sign_in_at", "last_sign_in_ip", "current_sign_in_ip", "sign_in_count",
    )  # fmt: skip
    actions = ("deactivate_users", "activate_users", "revoke_all_sessions")

    def get_fieldsets(self, request: Any, obj: Any = None) -> Any:
        """The account, its roles and password, then what authgate records."""
        account = ("email", "username", "is_active", "email_confirmed_at", "roles")
        if obj is None:
            return ((None, {"fields": (*account, "new_password")}),)
        return (
            (None, {"fields": ("id", *account)}),
            ("Password", {"fields": ("password_scheme", "new_password", "password_changed_at")}),
            ("Sign-ins", {"fields": self.readonly_fields[4:]}),
            (None, {"fields": ("created_at",)}),
        )

    def get_queryset(self, request: Any) -> Any:
        """Users with their roles (one more query per page, not per row)."""
        return super().get_queryset(request).prefetch_related("assigned_roles")

    @admin.display(boolean=True, description="confirmed")
    def email_confirmed(self, user: Any) -> bool:
        """Whether the email address is confirmed."""
        return user.email_confirmed_at is not None

    @admin.display(description="roles")
    def role_list(self, user: Any) -> str:
        """The role names."""
        return ", ".join(sorted(role.name for role in user.assigned_roles.all()))

    @admin.display(description="password")
    def password_scheme(self, user: Any) -> str:
        """How the password is stored (the scheme, never the hash)."""
        stored = user.password_hash
        if not stored:
            return "no password"
        return get_auth().ctx.hasher.identify(stored) or "unknown scheme"

    # -- writes, through authgate -----------------------------------------------------
    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        """Create or change the user through ``auth.users`` (validated, audited)."""
        users = get_auth().users
        data = form.cleaned_data
        roles = sorted(role.name for role in data.get("roles") or ())
        if not change:
            created = users.create_user(
                email=data["email"], username=data.get("username"),
                password=data.get("new_password"), is_active=data.get("is_active", True),
                email_confirmed_at=data.get("email_confirmed_at"),
                confirmed=data.get("email_confirmed_at") is not None, roles=roles,
            )  # fmt: skip
            obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db
            return
        user = users.get_user(obj.pk)
        if user is None:  # deleted meanwhile
            return
        changes = {
            name: data.get(name)
            for name in ("email", "username", "email_confirmed_at")
            if name in form.changed_data
        }
        if changes:
            get_auth().ctx.users.update_user(user.pk, changes)
        if "is_active" in form.changed_data:
            (users.activate_user if data["is_active"] else users.deactivate_user)(user)
        if data.get("new_password"):
            users.set_password(user, data["new_password"])
        current = {role.name for role in user.roles}
        for name in sorted(set(roles) - current):
            users.add_role_to_user(user, name)
        for name in sorted(current - set(roles)):
            users.remove_role_from_user(user, name)

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        """Nothing more: roles were given through ``auth.users`` in :meth:`save_model`."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: Any, obj: Any) -> None:
        """Delete through ``auth.users.delete_user`` (sessions, links, tombstones, audit)."""
        get_auth().users.delete_user(obj.pk)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        """Each user through :meth:`delete_model`."""
        for user in queryset:
            self.delete_model(request, user)

    @admin.action(description="Deactivate the selected users (ends their sessions)",
                  permissions=["change"])  # fmt: skip
    def deactivate_users(self, request: Any, queryset: Any) -> None:
        """Deactivate: the stamp rotates, every session and emailed link stops working."""
        users = get_auth().users
        count = sum(bool(users.deactivate_user(user.pk)) for user in queryset)
        self.message_user(request, f"{count} user(s) deactivated.", messages.SUCCESS)

    @admin.action(description="Activate the selected users", permissions=["change"])
    def activate_users(self, request: Any, queryset: Any) -> None:
        """Activate the selected users."""
        users = get_auth().users
        count = sum(bool(users.activate_user(user.pk)) for user in queryset)
        self.message_user(request, f"{count} user(s) activated.", messages.SUCCESS)

    @admin.action(description="Sign the selected users out everywhere", permissions=["change"])
    def revoke_all_sessions(self, request: Any, queryset: Any) -> None:
        """Revoke every session of the selected users."""
        users = get_auth().users
        count = sum(users.revoke_sessions(user.pk) for user in queryset)
        self.message_user(request, f"{count} session(s) revoked.", messages.SUCCESS)


class RoleForm(forms.ModelForm):  # type: ignore[misc]
    """A role's name, description and comma-separated permissions."""

    class Meta:
        model = Role
        fields = ("name", "description", "permissions")
        widgets = {"permissions": forms.Textarea(attrs={"rows": 3})}


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Roles; changes go through authgate's store so cached sessions see them at once."""

    form = RoleForm
    list_display = ("name", "description", "permissions", "created_at")
    search_fields = ("name", "description", "permissions")

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        """Create with ``auth.users.create_role``; change through the store (caches dropped)."""
        auth = get_auth()
        data = form.cleaned_data
        permissions = [p.strip() for p in (data.get("permissions") or "").split(",") if p.strip()]
        try:
            if not change:
                role = auth.users.create_role(data["name"], data.get("description"), permissions)
                obj.pk, obj._state.adding, obj._state.db = role.pk, False, role._state.db
                return
            old = Role.objects.get(pk=obj.pk).name
            auth.ctx.roles.update_role(
                old, {"name": data["name"].strip(), "description": data.get("description"),
                      "permissions": permissions},
            )  # fmt: skip
        except AuthError as error:
            self.message_user(request, _message(error), messages.ERROR)

    def delete_model(self, request: Any, obj: Any) -> None:
        """Delete with ``auth.users.delete_role`` (its links to users go too)."""
        get_auth().users.delete_role(obj.name)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        """Each role through :meth:`delete_model`."""
        for role in queryset:
            self.delete_model(request, role)


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Live and recent sessions; revoke (the action, or delete) ends them at once."""

    list_display = ("user", "created_at", "last_seen_at", "expires_at", "ip", "user_agent",
                    "remember")  # fmt: skip
    list_filter = ("remember",)
    search_fields = ("user__email", "ip", "user_agent")
    ordering = ("-last_seen_at",)
    list_select_related = ("user",)
    fields = ("id", "user", "created_at", "last_seen_at", "expires_at", "authenticated_at",
              "remember", "ip", "user_agent")  # fmt: skip
    readonly_fields = fields
    actions = ("revoke_sessions",)

    def has_add_permission(self, request: Any) -> bool:
        """Sessions start by signing in, never here."""
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        """Sessions are not edited (viewing them needs ``view_session``)."""
        return False

    @admin.action(description="Revoke the selected sessions", permissions=["delete"])
    def revoke_sessions(self, request: Any, queryset: Any) -> None:
        """Revoke each selected session (``auth.users.revoke_session``)."""
        count = self._revoke(queryset)
        self.message_user(request, f"{count} session(s) revoked.", messages.SUCCESS)

    def _revoke(self, sessions: Any) -> int:
        users = get_auth().users
        return sum(
            bool(users.revoke_session(session.user_id, session.pk))
            for session in sessions.select_related(None)
        )

    def delete_model(self, request: Any, obj: Any) -> None:
        """Deleting a session revokes it."""
        get_auth().users.revoke_session(obj.user_id, obj.pk)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        """Deleting sessions revokes them."""
        self._revoke(queryset)


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """The audit trail, read-only (``auth.audit.purge()`` keeps it short)."""

    list_display = ("at", "kind", "outcome", "user_id", "actor", "ip")
    list_filter = ("kind", "outcome", "actor")
    search_fields = ("user_id", "ip", "kind")
    ordering = ("-at",)
    fields = ("at", "kind", "outcome", "user_id", "actor", "ip", "user_agent", "details")
    readonly_fields = fields

    def has_add_permission(self, request: Any) -> bool:
        """Events are recorded by authgate only."""
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        """Events are never edited."""
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        """Events leave by ``auth.audit.purge()`` (their retention), not one by one."""
        return False
