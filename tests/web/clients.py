"""One test client shape for every framework, with its own cookie jar.

The HTTP contract suite talks to a :class:`ContractClient`; each framework
only provides ``_send`` (a raw in-process request). Cookies are kept here,
like a browser would (``Max-Age=0`` deletes), and sent explicitly, so every
framework is exercised with exactly the same cookies.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            data = self.json()
        except ValueError:
            return None
        return data.get("error", {}).get("code") if isinstance(data, dict) else None


class ContractClient:
    """Base class: JSON helpers and a cookie jar over ``_send``."""

    framework = "base"

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        raise AssertionError("subclasses implement _send")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _MISSING,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: bool = True,
    ) -> Response:
        sent = dict(headers or {})
        payload = body or b""
        if json is not _MISSING:
            payload = jsonlib.dumps(json).encode()
            sent.setdefault("Content-Type", "application/json")
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        status, out_headers, out_body = self._send(method.upper(), path, payload, sent)
        set_cookies = [v for k, v in out_headers if k.lower() == "set-cookie"]
        for raw in set_cookies:
            self._store_cookie(raw)
        return Response(status, out_headers, out_body, set_cookies)

    def _store_cookie(self, raw: str) -> None:
        first, *attrs = [p.strip() for p in raw.split(";")]
        name, _, value = first.partition("=")
        expired = any(a.lower() in {"max-age=0"} for a in attrs) or value == ""
        if expired:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def post_chunked(
        self, path: str, body: bytes, headers: Mapping[str, str], *, dechunked: bool = True
    ) -> Response:
        """POST ``body`` with ``Transfer-Encoding: chunked`` and no ``Content-Length``.

        ``dechunked``: the server de-chunked the body (``wsgi.input_terminated``);
        otherwise the WSGI app gets the chunked encoding itself.
        """
        status, out_headers, out_body = self._send_chunked(path, body, dict(headers), dechunked)
        return Response(status, out_headers, out_body)

    def _send_chunked(
        self, path: str, body: bytes, headers: dict[str, str], dechunked: bool
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        raise AssertionError(f"{self.framework} has no transport for chunked bodies")

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def cookie(self, suffix: str) -> str | None:
        """The value of the cookie whose name ends with ``suffix`` (ignores ``__Host-``)."""
        for name, value in self.cookies.items():
            if name.endswith(suffix):
                return value
        return None


class WSGIClient(ContractClient):
    """Any WSGI app (Flask, Bottle, Django) through Werkzeug's test client, jar disabled."""

    def __init__(self, app: Any, framework: str) -> None:
        super().__init__()
        from werkzeug.test import Client

        self.framework = framework
        self._app = app
        self._client = Client(app, use_cookies=False)

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        response = self._client.open(
            path, method=method, data=body, headers=headers,
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )  # fmt: skip
        return response.status_code, list(response.headers.to_wsgi_list()), response.get_data()

    def _send_chunked(
        self, path: str, body: bytes, headers: dict[str, str], dechunked: bool
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        import io

        from werkzeug.test import EnvironBuilder, run_wsgi_app

        if not dechunked:
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in _pieces(body)) + b"0\r\n\r\n"
        headers = {**headers, "Transfer-Encoding": "chunked"}
        environ = EnvironBuilder(path, method="POST", headers=headers,
                                 input_stream=io.BytesIO(body)).get_environ()  # fmt: skip
        environ.pop("CONTENT_LENGTH", None)
        environ["REMOTE_ADDR"] = "127.0.0.1"
        if dechunked:
            environ["wsgi.input_terminated"] = True
        # Not Client.open: it rebuilds the environ and loses the server's keys.
        app_iter, status, out_headers = run_wsgi_app(self._app, environ, buffered=True)
        return int(status.split()[0]), list(out_headers.to_wsgi_list()), b"".join(app_iter)


def _pieces(body: bytes, size: int = 7) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]


class ASGIClient(ContractClient):
    """An ASGI app (FastAPI) through Starlette's test client, jar cleared on every call."""

    def __init__(self, app: Any, framework: str) -> None:
        super().__init__()
        from starlette.testclient import TestClient

        self.framework = framework
        self._client = TestClient(app, follow_redirects=False, client=("127.0.0.1", 50000))

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        self._client.cookies.clear()
        raw = {k: v.encode("latin-1") for k, v in headers.items()}  # bytes: non-ASCII allowed
        response = self._client.request(method, path, content=body, headers=raw)
        return response.status_code, list(response.headers.multi_items()), response.content

    def _send_chunked(
        self, path: str, body: bytes, headers: dict[str, str], dechunked: bool
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        # ASGI servers always de-chunk; a generator body is sent chunked.
        self._client.cookies.clear()
        response = self._client.post(path, content=iter(_pieces(body)), headers=headers)
        return response.status_code, list(response.headers.multi_items()), response.content
