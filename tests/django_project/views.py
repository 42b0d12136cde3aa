"""The demo views of the HTTP contract, protected with authgate's Django decorators."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import (
    login_required as django_login_required,
    permission_required,
)
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_protect

from authgate.django.decorators import (
    anonymous_required,
    auth_required,
    login_required,
    permissions_required,
    roles_accepted,
    roles_required,
    scopes_required,
)


def _email(request: Any) -> JsonResponse:
    return JsonResponse({"email": request.auth_user.email})


def public(request: Any) -> JsonResponse:
    return JsonResponse({"ok": True})


@login_required
def protected(request: Any) -> JsonResponse:
    return _email(request)


@roles_required("admin")
def admin(request: Any) -> JsonResponse:
    return _email(request)


@roles_required("starving", ["artist", "programmer"])
def starving(request: Any) -> JsonResponse:
    return _email(request)


@roles_accepted("editor", "author")
def accepted(request: Any) -> JsonResponse:
    return _email(request)


@permissions_required("post.edit")
def perm(request: Any) -> JsonResponse:
    return _email(request)


@auth_required("token")
def token_only(request: Any) -> JsonResponse:
    return _email(request)


@scopes_required("read:reports")
def scoped(request: Any) -> JsonResponse:
    return _email(request)


@auth_required("api_key")
def key_only(request: Any) -> JsonResponse:
    return _email(request)


@auth_required("session")
def session_only(request: Any) -> JsonResponse:
    return _email(request)


@auth_required("basic")
def basic(request: Any) -> JsonResponse:
    return _email(request)


@anonymous_required
def anon(request: Any) -> JsonResponse:
    return JsonResponse({"ok": True})


def optional(request: Any) -> JsonResponse:
    user = request.auth_user
    return JsonResponse({"email": user.email if user is not None else None})


# -- Django's own decorators and templates over request.user (AUTH_USER_MODEL) --------


@django_login_required
def native_protected(request: Any) -> JsonResponse:
    user = request.user
    return JsonResponse({"email": user.email, "same": user == request.auth_user})


@permission_required("blog.add_post", raise_exception=True)
def native_perm(request: Any) -> JsonResponse:
    return JsonResponse({"email": request.user.email})


def native_page(request: Any) -> HttpResponse:
    return render(request, "native.html")


@csrf_protect
def native_login(request: Any) -> JsonResponse:
    """An app's own sign-in form: Django's authenticate() and login()."""
    user = authenticate(request, username=request.POST["email"], password=request.POST["password"])
    if user is None:
        return JsonResponse({"ok": False}, status=401)
    login(request, user)
    return JsonResponse({"ok": True, "email": request.user.email})


def native_logout(request: Any) -> JsonResponse:
    logout(request)
    return JsonResponse({"ok": True})
