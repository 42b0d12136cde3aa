"""The demo views of the HTTP contract, protected with authgate's Django decorators."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

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
