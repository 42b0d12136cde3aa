"""Where authgate's protected request spends its time, measured inside real requests.

Timing the parts of a request in a tight loop understates them (the loop keeps
the interpreter's caches hot: the same store call costs ~1.7x more inside a
request than in a loop). So each part gets its own route in a diagnostic copy
of the authgate app, over the same database, that does that part and nothing
else; a part's cost is its route's time minus the unprotected route's, all
timed in the same rounds. Flask:

* ``/sqlite``: the store's one SQL statement on a private ``sqlite3`` connection;
* ``/pool``: the same through a connection checked out from the store's engine;
* ``/store``: ``auth.store.get_session(digest)``;
* ``/uncached``: ``get_session(token)`` of an ``Auth`` without the session
  cache (``session_cache_ttl=0``) over the same database: what every request
  cost before the cache, and what a cache miss costs;
* ``/flow``: ``auth.get_session(token)``, answered from the session cache;
* ``/guard``: ``guard.check(_api_request(path), Rule.login())``;
* ``/protected``: the real ``@login_required`` route.

FastAPI: ``/hop`` only hops to the thread pool and back (what a cache miss
adds), ``/dependency`` has a do-nothing ``async`` dependency shaped like
``CurrentUser`` (FastAPI's own machinery), ``/inline`` awaits the same check
as ``CurrentUser`` inside the route (no dependency), ``/protected`` is the
real ``CurrentUser`` route.

The same routes are then served by gunicorn and uvicorn (``wsgi()`` and
``asgi()`` below) and loaded like the apps of section 2: a route's cost there
is ``1/rate(route) - 1/rate(/open)``, the server's time per request.
"""

import cProfile
import io
import pstats
import sqlite3
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peers import authgate_fastapi, authgate_flask
from peers.common import KNOWN_EMAIL, PASSWORD, USER_AGENT, database_from_env
from timing import Plan, interleaved
from webclients import AsgiHttp, ServerFailed, ServerHttp, WsgiHttp, drive, servers
from webreport import Anatomy
from websql import SqlCounter

__all__ = [
    "FASTAPI_PARTS",
    "FLASK_PARTS",
    "asgi",
    "diagnose",
    "diagnose_served",
    "served_cost",
    "wsgi",
]

#: route → (what it does, the row it builds on), in the order of the report.
FLASK_PARTS = {
    "/sqlite": ("the store's SQL statement on a bare `sqlite3` connection", None),
    "/pool": (
        "the same through the store's engine (`engine.raw_connection()` checkout, "
        "execute, fetchall, return)",
        "/sqlite",
    ),
    "/store": ("`auth.store.get_session(digest)`", "/pool"),
    "/uncached": (
        "`get_session(token)` without the session cache (`session_cache_ttl=0`): "
        "every request before the cache, a cache miss now",
        "/store",
    ),
    "/flow": ("`auth.get_session(token)`, answered from the session cache", None),
    "/guard": ("`guard.check(_api_request(path), Rule.login())`", "/flow"),
    "/protected": ("the `@login_required` route (the real one)", "/guard"),
}
FASTAPI_PARTS = {
    "/hop": ("`await run_in_threadpool(f)` with an empty `f`: what a cache miss adds", None),
    "/dependency": (
        "a do-nothing `async` dependency taking the request, shaped like `CurrentUser`: "
        "FastAPI's own dependency machinery, no authgate code",
        None,
    ),
    "/inline": (
        "`await` of `CurrentUser`'s check inside the route (translation + session cache), "
        "no dependency",
        None,
    ),
    "/protected": ("the `CurrentUser` route (the real one)", None),
}


def _ok() -> dict[str, Any]:
    return {"email": None}


def _flask_app(database: str) -> tuple[Any, dict[str, str], Any]:
    from flask import request

    from authgate import Auth
    from authgate.flask import _api_request
    from authgate.tokens import token_digest
    from authgate.web.guard import Rule

    built = authgate_flask.build(database)
    app, auth = built.app, built.extra["auth"]
    token = auth.sign_in(KNOWN_EMAIL, PASSWORD).session_token
    uncached = Auth(auth.settings.secret, store=auth.store, session_cache_ttl=0,
                    base_url=auth.settings.base_url)  # fmt: skip
    digest = token_digest(token)
    counter = SqlCounter(built.engine)
    counter.count(lambda: auth.store.get_session(digest), calls=1)
    if len(counter.sql) != 1:
        raise RuntimeError(f"expected one statement per session lookup, got {counter.sql}")
    sql = counter.sql[0]  # as SQLite ran it: the parameter is filled in
    private = sqlite3.connect(database, check_same_thread=False)
    engine = built.engine
    guard = app.extensions["authgate"].guard
    rule = Rule.login()

    def bare_sqlite() -> dict[str, Any]:
        private.execute(sql).fetchall()
        return _ok()

    def pooled() -> dict[str, Any]:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            cursor.fetchall()
            cursor.close()
        finally:
            connection.close()
        return _ok()

    def store() -> dict[str, Any]:
        auth.store.get_session(digest)
        return _ok()

    def without_cache() -> dict[str, Any]:
        uncached.get_session(token)
        return _ok()

    def flow() -> dict[str, Any]:
        auth.get_session(token)
        return _ok()

    def guarded() -> dict[str, Any]:
        guard.check(_api_request(request.path), rule)
        return _ok()

    def diag_token() -> dict[str, Any]:
        return {"token": token}

    views = {
        "/sqlite": bare_sqlite, "/pool": pooled, "/store": store, "/uncached": without_cache,
        "/flow": flow, "/guard": guarded, "/diag-token": diag_token,
    }  # fmt: skip
    for path, view in views.items():
        app.add_url_rule(path, path, view)
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    return app, headers, lambda: (private.close(), built.close())


def _fastapi_app(database: str) -> tuple[Any, dict[str, str], Any]:
    from typing import Annotated

    from fastapi import Depends
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request

    from authgate.fastapi import _check
    from authgate.web.guard import Rule

    built = authgate_fastapi.build(database)
    app = built.app
    token = built.extra["auth"].sign_in(KNOWN_EMAIL, PASSWORD).session_token
    rule = Rule.login()

    def noop() -> None:
        return None

    @app.get("/hop")
    async def hop() -> dict[str, Any]:
        await run_in_threadpool(noop)
        return _ok()

    async def empty(request: Request) -> Any:
        return None

    @app.get("/dependency")
    async def dependency(user: Annotated[Any, Depends(empty)]) -> dict[str, Any]:
        return _ok()

    @app.get("/inline")
    async def inline(request: Request) -> dict[str, Any]:
        await _check(request, rule)
        return _ok()

    @app.get("/diag-token")
    async def diag_token() -> dict[str, Any]:
        return {"token": token}

    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    return app, headers, built.close


def _profile(fn: Callable[[], object], calls: int, top: int = 30) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    lines = []
    for line in out.getvalue().splitlines():
        shortened = line
        for marker in ("site-packages/", "/src/", "/bench/"):
            if marker in line:
                head, _, tail = line.rpartition(" ")
                shortened = f"{head} {tail.split(marker, 1)[1]}"
                break
        lines.append(shortened)
    text = "\n".join(lines)
    return f"{calls:,} requests\n" + text.split("\n", 4)[-1].strip("\n")


def diagnose(
    flask_database: str | None, fastapi_database: str | None, plan: Plan, profile_calls: int
) -> Anatomy:
    """Time the diagnostic routes of apps over these databases (each holding the known user)."""
    result = Anatomy()
    tasks: dict[str, Callable[[], object]] = {}
    cleanups: list[Callable[[], object]] = []
    clients: list[Any] = []
    try:
        if flask_database is not None:
            app, headers, close = _flask_app(flask_database)
            cleanups.append(close)
            client = WsgiHttp(app)
            clients.append(client)
            for path in ("/open", *FLASK_PARTS):
                reply = client.request("GET", path, headers)
                if reply.status != 200:
                    raise RuntimeError(f"diagnostic Flask route {path}: {reply.status}")
                tasks[f"flask|{path}"] = client.getter(path, headers)
            protected = client.getter("/protected", headers)
            auth = app.extensions["authgate"].api.auth
            counter = SqlCounter(auth.store.engine)
            auth.ctx.session_cache.clear()  # a miss: the store's statement
            counter.count(protected, calls=1)
            result.sql = list(counter.sql)
        if fastapi_database is not None:
            app, headers, close = _fastapi_app(fastapi_database)
            cleanups.append(close)
            aclient = AsgiHttp(app)
            clients.append(aclient)
            for path in ("/open", *FASTAPI_PARTS):
                reply = aclient.request("GET", path, headers)
                if reply.status != 200:
                    raise RuntimeError(f"diagnostic FastAPI route {path}: {reply.status}")
                tasks[f"fastapi|{path}"] = aclient.getter(path, headers)
        for framework in ("flask", "fastapi"):  # each framework's routes take turns
            group = {n: fn for n, fn in tasks.items() if n.startswith(f"{framework}|")}
            for name, measured in interleaved(group, plan).items():
                result.parts[framework, name.split("|", 1)[1]] = measured
        if flask_database is not None:
            result.profile = _profile(protected, profile_calls)
    finally:
        for client in clients:
            client.close()
        for close in cleanups:
            close()
    return result


def wsgi() -> Any:
    """The diagnostic Flask app for gunicorn (``webdiag:wsgi()``)."""
    return _flask_app(database_from_env())[0]


def asgi() -> Any:
    """The diagnostic FastAPI app for uvicorn (``--factory webdiag:asgi``)."""
    return _fastapi_app(database_from_env())[0]


def diagnose_served(
    flask_database: str | None,
    fastapi_database: str | None,
    result: Anatomy,
    seconds: float,
    rounds: int,
    threads: int,
) -> None:
    """Load the diagnostic routes behind real servers; rates go to ``result.served``."""
    here = Path(__file__).resolve().parent
    specs = []
    if flask_database is not None:
        specs.append(("gunicorn", "webdiag:wsgi", flask_database))
    if fastapi_database is not None:
        specs.append(("uvicorn", "webdiag:asgi", fastapi_database))
    routes = {"flask": ("/open", *FLASK_PARTS), "fastapi": ("/open", *FASTAPI_PARTS)}
    with servers(specs, here / ".venv" / "bin", here) as started:
        variants = []
        for kind, target, database in specs:
            server = started[target, database]
            if isinstance(server, ServerFailed):
                raise server
            client = ServerHttp(server.port)
            try:
                token = client.request("GET", "/diag-token").json()["token"]
            finally:
                client.close()
            headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
            framework = "flask" if kind == "gunicorn" else "fastapi"
            for route in routes[framework]:
                variants.append((framework, route, server.port, headers))
        for framework, route, port, headers in variants:  # warm-up, and each must answer 200
            load = drive(port, route, headers, 0.2, threads)
            if load.errors:
                raise RuntimeError(f"diagnostic {framework} {route}: {load.first_error}")
        for number in range(rounds):
            for framework, route, port, headers in variants if number % 2 == 0 else variants[::-1]:
                rate = drive(port, route, headers, seconds, threads).rate
                result.served.setdefault((framework, route), []).append(rate)


def served_cost(result: Anatomy, framework: str, route: str) -> tuple[float, float, float] | None:
    """Server time per request of ``route`` over ``/open``, µs: median, min, max over rounds."""
    rates, base = result.served.get((framework, route)), result.served.get((framework, "/open"))
    if not rates or not base:
        return None
    costs = [1e6 / r - 1e6 / b for r, b in zip(rates, base, strict=True) if r and b]
    return statistics.median(costs), min(costs), max(costs)
