"""Redis (``redis_url``): how soon another process refuses a revoked token, and the request path.

Usage::

    make bench                                      # everything, this included
    .venv/bin/python bench/redis_bench.py           # this alone (a couple of minutes)
    .venv/bin/python bench/redis_bench.py --quick   # smoke run
    .venv/bin/python bench/run.py --redis-only      # the same, through run.py

Two measurements, written as a section of ``bench/RESULTS.md``:

1. **Revocation delay across processes.** Two uvicorn processes (``A`` and
   ``B``) serve the FastAPI quick start (``bench/redis_app.py``) over one
   PostgreSQL database (``authgate_bench_redis``, created and dropped) and
   one Redis (a key prefix of the run, deleted afterwards). Each round signs a
   session in through ``A``, makes ``B`` answer it from its session cache
   (checked through ``GET /bench/cached``), signs it out through ``A``, and
   from the moment ``A``'s answer is read asks ``B`` until ``B`` refuses it:
   the delay is from ``A``'s answer to ``B``'s refusal, so it includes one
   request to ``B``; the round trip of such a request (``B`` refusing an
   unknown token) is given beside it. The same is run without Redis, where
   ``B`` follows within ``session_cache_ttl``.
2. **Request path with and without Redis.** ``get_session`` in-process, over
   PostgreSQL and over SQLite: from the session cache (the common case) with
   and without Redis, and from the stores on a miss (``session_cache_ttl=0``):
   one SQL statement without Redis; one Redis ``HGETALL`` plus the user's
   lookup in the database with it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from timing import Plan, Result, interleaved, machine_line, package_version  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
DATABASE = "authgate_bench_redis"
SECRET = "authgate-bench-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
EMAIL = "revoked.user@example.com"
TTL = 2
TARGET_P99_MS = 10.0
BEGIN = "<!-- redis benchmarks: begin -->"
END = "<!-- redis benchmarks: end -->"


def say(message: str) -> None:
    print(message, flush=True)


class Unavailable(Exception):
    """PostgreSQL or Redis cannot be reached: the section says so."""


# -- the services ---------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database ``authgate_bench_redis`` with authgate's tables; dropped on exit."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from authgate import Auth

    url = make_url(admin_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    except OperationalError as exc:
        admin.dispose()
        raise Unavailable(f"PostgreSQL unavailable at {url.host}:{url.port}") from exc
    database = url.set(database=DATABASE).render_as_string(hide_password=False)
    try:
        # The schema, before two servers race to create it.
        Auth(SECRET, database_url=database, base_url="http://127.0.0.1:8000").close()
        yield database
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        admin.dispose()


@contextlib.contextmanager
def redis_prefix(url: str) -> Iterator[str]:
    """A key prefix of this run on ``url``; its keys are deleted on exit."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise Unavailable(f"Redis unavailable at {url}") from exc
    prefix = f"authgate-bench-{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


# -- 1. revocation delay across processes ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One uvicorn process serving ``bench/redis_app.py`` on its own port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        import httpx

        self.port = _free_port()
        self.log = log
        command = [
            sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "redis_app:app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def wait_ready(self, timeout: float = 30) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/auth/openapi.json").status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"a server did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def status(self, method: str, path: str, token: str) -> int:
        return self.http.request(
            method, path, headers={"Authorization": f"Bearer {token}"}
        ).status_code


@contextlib.contextmanager
def two_servers(settings: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        AUTHGATE_SECRET=SECRET,
        AUTHGATE_SESSION_CACHE_TTL=str(TTL),
        AUTHGATE_THROTTLE_SIGN_IN="false",
        AUTHGATE_NOTIFY_REGISTERED="false",
        AUTHGATE_BASE_URL="http://127.0.0.1:8000",  # no emails here; a deployment sets it
        # Each round signs in once: cheap hashing keeps the rounds short. Hashing is
        # not on the path measured (sign-out, then B's refusal).
        AUTHGATE_ARGON2_MEMORY_COST="1024",
        AUTHGATE_ARGON2_TIME_COST="1",
        **settings,
    )
    servers: list[Server] = []
    with tempfile.TemporaryDirectory() as logs:
        try:
            for name in ("a", "b"):
                servers.append(Server(env, Path(logs) / f"{name}.log"))
            for server in servers:
                server.wait_ready()
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()


@dataclass
class Delays:
    """One configuration's revocation rounds."""

    label: str
    #: Seconds from A's answer to B's first refusal, per round.
    delays: list[float] = field(default_factory=list)
    #: Rounds whose very first request to B after A's answer was refused.
    refused_at_once: int = 0
    #: Seconds of one request B refuses (an unknown token), per round.
    round_trips: list[float] = field(default_factory=list)
    #: Seconds of A's sign-out (it returns once every process confirmed), per round.
    sign_outs: list[float] = field(default_factory=list)
    skipped: str | None = None


def measure_revocations(label: str, settings: dict[str, str], rounds: int, warmup: int) -> Delays:
    import httpx

    result = Delays(label)
    clock = time.perf_counter
    email = f"{secrets.token_hex(4)}.{EMAIL}"
    credentials = {"email": email, "password": PASSWORD}
    with two_servers(settings) as (a, b):
        signed_up = a.http.post("/auth/sign-up/email", json=credentials)
        assert signed_up.status_code == 200, signed_up.text
        for number in range(warmup + rounds):
            response = a.http.post("/auth/sign-in/email", json=credentials)
            token = response.json()["token"]
            deadline = clock() + 10
            while True:  # B answers it from its session cache, and hears A's invalidations
                assert b.status("GET", "/me", token) == 200
                state = b.http.get("/bench/cached", headers={"Authorization": f"Bearer {token}"})
                ready = state.json()
                if ready["cached"] and (
                    ready["subscribed"] or "AUTHGATE_REDIS_URL" not in settings
                ):
                    break
                if clock() > deadline:
                    raise RuntimeError("B never answered the session from its cache")
                time.sleep(0.002)
            asked = clock()
            assert a.status("POST", "/auth/sign-out", token) == 200
            answered = clock()
            first = True
            while b.status("GET", "/me", token) != 401:
                first = False
                if clock() - answered > TTL + 5:
                    raise RuntimeError("B still accepts a token signed out through A")
            refused = clock()
            start = clock()
            b.status("GET", "/me", "unknown-" + token)
            round_trip = clock() - start
            if number >= warmup:
                result.delays.append(refused - answered)
                result.refused_at_once += first
                result.round_trips.append(round_trip)
                result.sign_outs.append(answered - asked)
            if number % 100 == 99:
                say(f"[redis] {label}: {number + 1 - warmup} rounds …")
    del httpx
    return result


# -- 2. the request path ---------------------------------------------------------------


@dataclass
class PathRun:
    engine: str
    results: dict[str, Result] = field(default_factory=dict)
    skipped: str | None = None


#: Operation → label, in the order of the table.
OPERATIONS = {
    "hit": "`get_session` from the session cache, no Redis",
    "hit_redis": "`get_session` from the session cache, with Redis",
    "store": "`get_session` from the store, no Redis (`session_cache_ttl=0`: one SQL statement)",
    "store_redis": "`get_session` from the stores, with Redis (`session_cache_ttl=0`: "
    "`HGETALL` + the user from the database)",
}


def measure_path(
    engine: str, database_url: str, redis_url: str, prefix: str, plan: Plan
) -> PathRun:
    from authgate import Auth

    run = PathRun(engine)
    email = f"path-{secrets.token_hex(4)}@example.com"
    common: dict[str, Any] = {
        "database_url": database_url, "throttle_sign_in": False, "notify_registered": False,
        "base_url": "http://127.0.0.1:8000",  # no emails here; a deployment sets it
    }  # fmt: skip
    redis: dict[str, Any] = {"redis_url": redis_url, "redis_prefix": prefix}
    made = {
        "hit": Auth(SECRET, **common),
        "hit_redis": Auth(SECRET, **common, **redis),
        "store": Auth(SECRET, **common, session_cache_ttl=0),
        "store_redis": Auth(SECRET, **common, **redis, session_cache_ttl=0),
    }
    try:
        made["hit"].sign_up(email, PASSWORD)
        tasks: dict[str, Callable[[], object]] = {}
        for name, auth in made.items():
            token = auth.sign_in(email, PASSWORD).token
            assert token is not None
            auth.get_session(token)
            if auth._bus is not None and auth.ctx.session_cache is not None:
                auth._bus.start()
                assert auth._bus.subscribed.wait(10)
            info = auth.get_session(token)
            assert info.user.email == email
            tasks[name] = lambda auth=auth, token=token: auth.get_session(token)
        run.results = interleaved(tasks, plan)
    finally:
        for auth in made.values():
            auth.close()
    return run


# -- the report ---------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f}" if seconds < 0.1 else f"{seconds * 1000:,.0f}"


def _versions() -> dict[str, str]:
    return {"redis-py": package_version("redis"), "uvicorn": package_version("uvicorn")}


def render(
    revocations: list[Delays], paths: list[PathRun], plan: Plan, minutes: float, quick: bool
) -> list[str]:
    lines = [
        BEGIN,
        "## Redis: revocation across processes, and the request path",
        "",
        f"Written by `make bench` (`bench/redis_bench.py`) in {minutes:.1f} min"
        + (" (quick run: few rounds)." if quick else "."),
        "",
        f"**Machine:** {machine_line(_versions())}",
        "",
        "### How soon does another process refuse a revoked token?",
        "",
        "Two uvicorn processes A and B serve the FastAPI quick start over one PostgreSQL "
        "database; each round signs a session in through A, has B answer it from its session "
        f"cache (`session_cache_ttl={TTL}`), signs it out through A, then asks B from the moment "
        "A's answer is read until B refuses it. The delay includes that request to B; the "
        "round trip of one request B refuses is given beside it. With Redis, A's sign-out "
        "returns once every process has confirmed the invalidation (`session_bus`): its own "
        "duration is in the last column.",
        "",
        "| configuration | rounds | very next request through B refused | delay median ms | "
        "p95 | p99 | max | a refused request to B, median ms | A's sign-out, median (p99) ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in revocations:
        if run.skipped:
            lines.append(f"| {run.label} | skipped: {run.skipped} | | | | | | | |")
            continue
        n = len(run.delays)
        lines.append(
            f"| {run.label} | {n} | {run.refused_at_once} of {n} | "
            f"{_ms(statistics.median(run.delays))} | {_ms(percentile(run.delays, 0.95))} | "
            f"{_ms(percentile(run.delays, 0.99))} | {_ms(max(run.delays))} | "
            f"{_ms(statistics.median(run.round_trips))} | "
            f"{_ms(statistics.median(run.sign_outs))} ({_ms(percentile(run.sign_outs, 0.99))}) |"
        )
    with_redis = next((r for r in revocations if r.delays and "with Redis" in r.label), None)
    if with_redis is not None:
        p99 = percentile(with_redis.delays, 0.99) * 1000
        verdict = "**PASS**" if p99 < TARGET_P99_MS else "**FAIL**"
        lines += [
            "",
            f"Target: p99 under {TARGET_P99_MS:.0f} ms with Redis — {verdict} ({p99:.2f} ms).",
        ]
    lines += [
        "",
        "### What Redis costs per authenticated request",
        "",
        f"`get_session` in-process, {plan.rounds} rounds × {plan.calls:,} calls (timed "
        f"{plan.batch} at a time, {plan.warmup} warm-up calls), the four operations taking turns; "
        "median µs (min–max of the round medians). A request answered from the session cache "
        "does the same work with or without Redis; a miss with Redis reads the session from "
        "Redis and the user from the database.",
        "",
        "| operation | " + " | ".join(p.engine for p in paths) + " |",
        "|---|" + "---|" * len(paths),
    ]
    for key, label in OPERATIONS.items():
        cells = []
        for path in paths:
            result = path.results.get(key)
            cells.append(
                f"skipped: {path.skipped}" if path.skipped or result is None else result.text()
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, "", END]


def refresh_results(results: Path, block: list[str]) -> None:
    """Replace (or append) this section of ``RESULTS.md``."""
    text = results.read_text(encoding="utf-8") if results.exists() else "# authgate benchmarks\n"
    section = "\n".join(block)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    results.write_text(text, encoding="utf-8")


# -- entry point ---------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few rounds")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help=f"admin connection; database {DATABASE} is created and dropped "
                        "through it (default: %(default)s)")  # fmt: skip
    parser.add_argument("--redis-url", default=DEFAULT_REDIS,
                        help="the Redis to use; keys go under a prefix of the run, deleted "
                        "afterwards (default: %(default)s)")  # fmt: skip
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md",
                        help="the results file whose Redis section is refreshed")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    rounds, warmup = (50, 10) if args.quick else (500, 50)
    ttl_rounds = 3 if args.quick else 10
    plan = (
        Plan(rounds=3, calls=200, batch=10, warmup=50)
        if args.quick
        else Plan(rounds=7, calls=1_000, batch=10, warmup=200)
    )
    revocations: list[Delays] = []
    paths: list[PathRun] = []
    try:
        with (
            postgres_database(args.postgres_url) as database,
            redis_prefix(args.redis_url) as prefix,
        ):
            say(f"[redis] revocation delay with Redis: {rounds} rounds …")
            revocations.append(measure_revocations(
                "with Redis (`redis_url`)",
                {"AUTHGATE_DATABASE_URL": database, "AUTHGATE_REDIS_URL": args.redis_url,
                 "AUTHGATE_REDIS_PREFIX": prefix},
                rounds, warmup,
            ))  # fmt: skip
            say(
                f"[redis] revocation delay without Redis: {ttl_rounds} rounds (up to {TTL} s each)"
            )
            revocations.append(measure_revocations(
                "without Redis (the ttl)", {"AUTHGATE_DATABASE_URL": database}, ttl_rounds, 1,
            ))  # fmt: skip
            say("[redis] request path over PostgreSQL …")
            paths.append(measure_path("PostgreSQL", database, args.redis_url, prefix, plan))
            with tempfile.TemporaryDirectory() as folder:
                say("[redis] request path over SQLite …")
                sqlite = f"sqlite:///{Path(folder) / 'path.db'}"
                paths.append(
                    measure_path("SQLite (file, WAL)", sqlite, args.redis_url, prefix, plan)
                )
    except Unavailable as exc:
        say(f"[redis] skipped: {exc}")
        revocations = [Delays("with Redis (`redis_url`)", skipped=str(exc))]
        paths = [PathRun("PostgreSQL", skipped=str(exc))]
    block = render(revocations, paths, plan, (time.perf_counter() - started) / 60, args.quick)
    refresh_results(args.results, block)
    say("")
    say("\n".join(block))
    say(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
