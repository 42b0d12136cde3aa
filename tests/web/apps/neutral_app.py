"""The contract suite's reference "framework": AuthAPI and Guard called directly.

It shows what every integration must reproduce, with no framework in between.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlsplit

from authgate import Auth, AuthError
from authgate.web.api import AuthAPI
from authgate.web.guard import Guard, Preflight, Rule
from authgate.web.http import ApiRequest, ApiResponse, Headers
from authgate.web.pages import AuthPages

from ..clients import ContractClient

RULES: dict[tuple[str, str], Rule | None] = {
    ("GET", "/public"): None,
    ("GET", "/protected"): Rule.login(),
    ("POST", "/protected"): Rule.login(),
    ("GET", "/admin"): Rule.roles("admin"),
    ("GET", "/starving"): Rule.roles("starving", ["artist", "programmer"]),
    ("GET", "/accepted"): Rule.roles_any("editor", "author"),
    ("GET", "/perm"): Rule.permissions("post.edit"),
    ("GET", "/token-only"): Rule.login("token"),
    ("GET", "/session-only"): Rule.login("session"),
    ("GET", "/basic"): Rule.login("basic"),
    ("POST", "/basic"): Rule.login("basic"),
    ("GET", "/anon"): Rule(anonymous=True),
    ("GET", "/scoped"): Rule.scoped("read:reports"),
    ("GET", "/key-only"): Rule.login("api_key"),
}
for _method in ("GET", "OPTIONS"):
    RULES[(_method, "/opt/login")] = Rule.login()
    RULES[(_method, "/opt/admin")] = Rule.roles("admin")
    RULES[(_method, "/opt/perm")] = Rule.permissions("post.edit")
    RULES[(_method, "/opt/token")] = Rule.login("token")


class NeutralClient(ContractClient):
    framework = "neutral"

    def __init__(self, auth: Auth, prefix: str) -> None:
        super().__init__()
        self.api = AuthAPI(auth, prefix)
        self.guard = Guard(self.api)
        #: The pages in front of the API, as Flask, Django and Bottle serve them by default.
        self.site: AuthAPI | AuthPages = AuthPages(self.api) if auth.settings.pages else self.api
        self.prefix = prefix

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urlsplit(path)
        cookie = SimpleCookie()
        cookie.load(headers.get("Cookie", ""))
        request = ApiRequest(
            method=method,
            path=parts.path,
            headers=Headers(headers),
            cookies={k: m.value for k, m in cookie.items()},
            query=dict(parse_qsl(parts.query)),
            body=body,
            remote_addr="127.0.0.1",
        )
        response = self._route(request, path)
        headers_out = [*response.headers, ("Content-Type", response.content_type)]
        return response.status, headers_out, b"" if method == "HEAD" else response.body

    def _route(self, request: ApiRequest, full_path: str) -> ApiResponse:
        if request.path.startswith(self.prefix + "/"):
            request.path = request.path[len(self.prefix) :]
            return self.site.handle(request)
        key = (request.method, request.path)
        if key == ("GET", "/optional"):
            principal = self.guard.principal(request)
            return ApiResponse.json({"email": principal.user.email if principal else None})
        if key not in RULES:
            return ApiResponse.json({"error": "not found"}, 404)
        rule = RULES[key]
        if rule is None:
            return ApiResponse.json({"ok": True})
        try:
            principal = self.guard.check(request, rule)
        except (AuthError, Preflight) as exc:
            return self.guard.deny(request, exc, full_path, rule)
        if principal is None:
            return ApiResponse.json({"ok": True})
        return ApiResponse(body=json.dumps({"email": principal.user.email}).encode())


def build(auth: Auth, prefix: str = "/auth") -> ContractClient:
    return NeutralClient(auth, prefix)
