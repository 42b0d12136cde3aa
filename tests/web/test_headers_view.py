"""``HeadersView`` over each framework's own header object reads like a copied ``Headers``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate.web.http import Headers, HeadersView

RAW = [("Authorization", "Bearer abc"), ("X-CSRF-Token", "t0k"), ("Accept", "text/html")]


def _werkzeug() -> Any:
    from werkzeug.datastructures import EnvironHeaders

    environ = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in RAW}
    return EnvironHeaders(environ)


def _starlette() -> Any:
    from starlette.datastructures import Headers as StarletteHeaders

    return StarletteHeaders(raw=[(k.lower().encode(), v.encode()) for k, v in RAW])


def _django() -> Any:
    from django.http.request import HttpHeaders

    return HttpHeaders({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in RAW})


def _bottle() -> Any:
    from bottle import WSGIHeaderDict

    return WSGIHeaderDict({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in RAW})


@pytest.mark.parametrize("make", [_werkzeug, _starlette, _django, _bottle], ids=lambda f: f.__name__[1:])
def test_view_reads_like_a_copy(make: Callable[[], Any]) -> None:
    view, copy = HeadersView(make()), Headers(RAW)
    for name in ["authorization", "AUTHORIZATION", "x-csrf-token", "Accept"]:
        assert view[name] == copy[name] and view.get(name) == copy.get(name)
        assert name in view
    assert view.get("cookie") is None and view.get("cookie", "") == ""
    assert "cookie" not in view and 1 not in view
    with pytest.raises(KeyError):
        view["cookie"]
    assert sorted(view) == sorted(copy) and len(view) == len(copy)
    assert dict(view.items()) == dict(copy.items())
