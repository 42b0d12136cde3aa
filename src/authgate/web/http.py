"""Framework-neutral request and response.

Integrations translate their framework's request into an :class:`ApiRequest`
and write an :class:`ApiResponse` back; nothing in between knows which
framework is running (Authlib's ``create_oauth2_request`` / ``handle_response``
is the model).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authgate.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "ApiRequest",
    "ApiResponse",
    "Headers",
    "HeadersView",
    "format_cookie",
    "parse_json_object",
    "read_at_most",
    "still_chunked",
]

#: Largest request body the JSON API reads; anything bigger is ``PAYLOAD_TOO_LARGE`` (413).
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

    @property
    def wants_json(self) -> bool:
        """The client asks for JSON by name (``Accept: application/json``, q > 0).

        ``*/*``, no ``Accept`` and ``text/html`` do not: that is what browsers,
        mail scanners and link previews send (see :mod:`authgate.web.links`).
        """
        accept = self.headers.get("accept", "")
        if "json" not in accept:
            return False
        for media_range in accept.lower().split(","):
            media_type, *params = (part.strip() for part in media_range.split(";"))
            if media_type == "application/json" and all(_q(p) > 0 for p in params):
                return True
        return False

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-case, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def _checked_body(self) -> bytes:
        if self.body_too_large or len(self.body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes.")
        return self.body

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; ``{}`` when empty.

        Strict: UTF-8 only, no duplicate keys, no ``NaN``/``Infinity`` (nor numbers
        too large for a float), no lone surrogates or NUL characters in strings,
        and no nesting deeper than the parser's recursion limit.

        Raises:
            PayloadTooLarge: the body is over :data:`MAX_BODY_BYTES`.
            UnsupportedMediaType: a body of another content type than JSON.
            ValidationError: invalid UTF-8 or JSON, or a value that is not an object.
        """
        body = self._checked_body()
        if not body.strip():
            return {}
        content_type = self.content_type
        # JSON only: a cross-site HTML form cannot send application/json without a
        # CORS preflight, which closes login CSRF on the JSON API.
        if content_type != "application/json" and not (
            content_type.startswith("application/") and content_type.endswith("+json")
        ):
            raise UnsupportedMediaType()
        return parse_json_object(body)

    @property
    def is_form(self) -> bool:
        """Whether the body is an HTML form post."""
        return self.content_type == "application/x-www-form-urlencoded"

    def form(self) -> dict[str, str]:
        """The body as an urlencoded form (first value of each field).

        Raises:
            PayloadTooLarge: the body is over :data:`MAX_BODY_BYTES`.
            ValidationError: not UTF-8, or a field holds a NUL character.
        """
        try:
            text = self._checked_body().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                "The form is not valid UTF-8.", fields={"body": "invalid"}
            ) from None
        form: dict[str, str] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                raise ValidationError(fields={key.replace("\x00", "") or "body": "invalid"})
            form.setdefault(key, value)
        return form


def _q(param: str) -> float:
    """The weight an ``Accept`` parameter gives (1 for parameters other than ``q``)."""
    name, _, value = param.partition("=")
    if name.strip() != "q":
        return 1.0
    try:
        return float(value.strip())
    except ValueError:
        return 0.0


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: one value per key (parsers disagree on which one wins)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadJSON("A key appears twice in an object.", key)
            seen.add(key)
    return obj


def _finite(text: str) -> float:
    """``parse_float``: numbers beyond a float's range would become infinity."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _BadJSON("A number is out of range.")
    return value


def _no_constant(name: str) -> Any:
    """``parse_constant``: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON."""
    raise _BadJSON(f"{name} is not valid JSON.")


class _BadJSON(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = _field_name(field)


def _field_name(key: str | None) -> str:
    """``key`` as the name of a failing field, or ``"body"`` when it is not fit to echo."""
    if key is None or not key or len(key) > 64 or not key.isprintable() or _bad_string(key):
        return "body"
    return key


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_no_constant
)
#: Escapes that may decode to strings no database accepts (NUL, lone surrogates).
_SUSPECT_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _bad_string(value: Any) -> bool:
    """Whether ``value`` holds, at any depth, a string with NUL or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_bad_string(k) or _bad_string(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_string(v) for v in value)
    return False


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be one JSON object, strictly (see :meth:`ApiRequest.json`).

    Raises:
        ValidationError: with ``fields={"body": "invalid"}``, or the top-level
            field that holds a NUL character or a lone surrogate.
    """
    try:
        data = _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError(
            "The request body is not valid UTF-8.", fields={"body": "invalid"}
        ) from None
    except _BadJSON as exc:
        raise ValidationError(exc.message, fields={exc.field: "invalid"}) from None
    except RecursionError:
        raise ValidationError(
            "The request body is nested too deeply.", fields={"body": "invalid"}
        ) from None
    except ValueError:
        raise ValidationError(
            "The request body is not valid JSON.", fields={"body": "invalid"}
        ) from None
    if not isinstance(data, dict):
        raise ValidationError("The request body must be a JSON object.", fields={"body": "invalid"})
    if _SUSPECT_ESCAPES.search(body):
        bad = [key for key, value in data.items() if _bad_string(key) or _bad_string(value)]
        if bad:
            fields = {_field_name(key): "invalid" for key in bad}
            raise ValidationError(
                "Text may not contain NUL characters or lone surrogates.", fields=fields
            )
    return data


def read_at_most(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of a file-like ``stream`` (a WSGI input), however it chunks them."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def still_chunked(environ: Mapping[str, Any]) -> bool:
    """A WSGI request whose chunked body the server passed on without de-chunking it.

    Servers that de-chunk (Gunicorn, Werkzeug, mod_wsgi) say so with
    ``wsgi.input_terminated``; without it, and without ``Content-Length``, the
    body cannot be read safely (Flask and Django would read it as empty).
    """
    return (
        "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        and not environ.get("CONTENT_LENGTH")
        and not environ.get("wsgi.input_terminated")
    )


#: The answer to a body :func:`still_chunked` says cannot be read.
CHUNKED_UNSUPPORTED = (
    "This server passes chunked request bodies on undecoded; send Content-Length instead."
)


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
