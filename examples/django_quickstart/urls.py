"""The JSON API under /auth/ and one protected view."""

from django.http import JsonResponse
from django.urls import include, path

from authgate.django.decorators import login_required


@login_required
def me(request):
    return JsonResponse({"user": request.auth_user.to_dict()})


urlpatterns = [
    path("auth/", include("authgate.django.urls")),
    path("me", me),
]
