"""Framework-neutral request and response.

Integrations translate their framework's request into an :class:`ApiRequest`
and write an :class:`ApiResponse` back; nothing in between knows which
framework is running (Authlib's ``create_oauth2_request`` / ``handle_response``
is the model).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authgate.errors import ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "ApiRequest",
    "ApiResponse",
    "Headers",
    "HeadersView",
    "format_cookie",
]

#: Largest request body the JSON API reads; anything bigger is a VALIDATION_ERROR.
MAX_BODY_BYTES = 64 * 1024

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._data: dict[str, str] = {}
        for key, value in pairs:
            self._data[key.lower()] = value

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data


class HeadersView(Headers):
    """A framework's own case-insensitive request headers, read in place.

    Werkzeug's, Starlette's, Django's and Bottle's header objects all ignore
    case in ``get`` and ``[]``. Authentication reads two or three headers of
    a request; copying every header first cost more than the rest of the
    check, so integrations hand their headers over as they are.
    """

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def __getitem__(self, key: str) -> str:
        value: str = self._headers[key]
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self._headers.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return (key.lower() for key in self._headers.keys())  # noqa: SIM118 - Werkzeug iterates pairs

    def __len__(self) -> int:
        return len(self._headers)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._headers


@dataclass
class ApiRequest:
    """What authgate needs of an HTTP request.

    Attributes:
        method: upper-case HTTP method.
        path: the path below the mount prefix, starting with ``/`` (e.g. ``/sign-in/email``).
        headers: request headers (case-insensitive).
        cookies: request cookies.
        query: query-string parameters (first value of each).
        body: the raw body (integrations refuse to read more than :data:`MAX_BODY_BYTES`).
        remote_addr: the peer address of the connection.
        body_too_large: set by the integration when the body exceeded the limit.
    """

    method: str
    path: str
    headers: Headers = field(default_factory=Headers)
    cookies: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    remote_addr: str | None = None
    body_too_large: bool = False

    @property
    def is_safe(self) -> bool:
        """Whether the method is safe (no state change expected)."""
        return self.method in SAFE_METHODS

    @property
    def wants_html(self) -> bool:
        """A browser page request: it accepts ``text/html`` (SPEC §5)."""
        return "text/html" in self.headers.get("accept", "")

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; ``{}`` when empty.

        Raises:
            ValidationError: oversized body, wrong content type, invalid UTF-8 or
                JSON, or a JSON value that is not an object.
        """
        if self.body_too_large or len(self.body) > MAX_BODY_BYTES:
            raise ValidationError("The request body is too large.", fields={"body": "too_long"})
        if not self.body.strip():
            return {}
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        # JSON only: a cross-site HTML form cannot send application/json without a
        # CORS preflight, which closes login CSRF on the JSON API.
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise ValidationError(
                "The request body must be JSON (Content-Type: application/json).",
                fields={"body": "invalid"},
            )
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationError(
                "The request body is not valid JSON.", fields={"body": "invalid"}
            ) from None
        if not isinstance(data, dict):
            raise ValidationError(
                "The request body must be a JSON object.", fields={"body": "invalid"}
            )
        return data

    @property
    def is_form(self) -> bool:
        """Whether the body is an HTML form post."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        return content_type == "application/x-www-form-urlencoded"

    def form(self) -> dict[str, str]:
        """The body as an urlencoded form (first value of each field)."""
        if self.body_too_large or len(self.body) > MAX_BODY_BYTES:
            raise ValidationError("The request body is too large.", fields={"body": "too_long"})
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                "The form is not valid UTF-8.", fields={"body": "invalid"}
            ) from None
        return dict(parse_qsl(text, keep_blank_values=True))


def format_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    path: str = "/",
    domain: str | None = None,
    secure: bool = True,
    httponly: bool = True,
    samesite: str = "Lax",
) -> str:
    """A ``Set-Cookie`` header value."""
    parts = [f"{name}={value}", f"Path={path}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
        if max_age == 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if domain:
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    parts.append(f"SameSite={samesite}")
    return "; ".join(parts)


@dataclass
class ApiResponse:
    """What an integration writes back: status, headers (``Set-Cookie`` may repeat), body."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()
    ) -> ApiResponse:
        """A JSON response; every auth response is ``Cache-Control: no-store``."""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        response = cls(status=status, body=body, headers=list(headers))
        response.headers.append(("Cache-Control", "no-store"))
        return response

    @classmethod
    def redirect(cls, location: str, status: int = 303) -> ApiResponse:
        """A redirect (the location must already be safe)."""
        return cls(
            status=status, headers=[("Location", location), ("Cache-Control", "no-store")],
            content_type="text/plain",
        )  # fmt: skip

    def set_cookie(self, header_value: str) -> None:
        """Add a ``Set-Cookie`` header."""
        self.headers.append(("Set-Cookie", header_value))

    def data(self) -> Any:
        """The decoded JSON body (for tests and integrations that need it)."""
        return json.loads(self.body) if self.body else None
