"""The measurements behind ``bench/web.py``; runs inside ``bench/.venv``.

Order of work: every app is built and seeded twice (1 user and the large
table) on SQLite files in one temporary directory and checked; the in-process
requests are timed, all apps of one framework taking turns batch by batch;
authgate's protected request is taken apart; then every app is served by a
real server at once, and the load runs take turns round by round; last, the
FastAPI servers are probed while sign-ins hash. Each stage of each peer is
guarded: a failure is recorded and reported, and the others go on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peers import PEERS, Peer, load
from peers.common import KNOWN_EMAIL, USER_AGENT, Built
from timing import (
    Plan,
    interleaved,
    load_average,
    machine_line,
    package_version as version,
)
from webclients import AsgiHttp, ServerFailed, ServerHttp, WsgiHttp, drive, probe, servers
from webdiag import diagnose, diagnose_served
from webreport import (
    Anatomy,
    PeerRun,
    Responsiveness,
    WebRun,
    refresh_results_section,
    render,
)
from websql import SqlCounter

__all__ = ["run"]

HERE = Path(__file__).resolve().parent
#: Concurrent sign-ins in the responsiveness test.
SIGN_INS = 4


@dataclass(frozen=True)
class Plans:
    """How much to measure."""

    in_process: Plan
    #: For apps whose requests take more than :data:`SLOW_MS`.
    slow: Plan
    anatomy: Plan
    #: Load runs: seconds per run, rounds, client threads, warm-up seconds per variant.
    load_seconds: float
    load_rounds: int
    load_threads: int
    warmup_seconds: float
    #: Responsiveness: bursts per library, idle probing seconds before each.
    bursts: int
    idle_seconds: float
    #: Protected requests profiled with cProfile for the diagnosis.
    profile_calls: int


FULL = Plans(
    in_process=Plan(rounds=7, calls=200, batch=10, warmup=40),
    slow=Plan(rounds=7, calls=20, batch=2, warmup=4),
    anatomy=Plan(rounds=7, calls=600, batch=10, warmup=100),
    load_seconds=1.0,
    load_rounds=3,
    load_threads=3,
    warmup_seconds=0.3,
    bursts=5,
    idle_seconds=0.5,
    profile_calls=2_000,
)
QUICK = Plans(
    in_process=Plan(rounds=3, calls=40, batch=10, warmup=10),
    slow=Plan(rounds=3, calls=4, batch=2, warmup=1),
    anatomy=Plan(rounds=3, calls=200, batch=10, warmup=20),
    load_seconds=0.3,
    load_rounds=2,
    load_threads=3,
    warmup_seconds=0.1,
    bursts=2,
    idle_seconds=0.2,
    profile_calls=200,
)


def say(message: str) -> None:
    print(message, flush=True)


def _error(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[-1500:]


@dataclass
class App:
    """One peer app over one SQLite file, built in this process."""

    peer: Peer
    module: Any
    size: int
    database: str
    built: Built
    http: WsgiHttp | AsgiHttp
    #: Headers per mechanism (each with the bench's User-Agent).
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    def close(self) -> None:
        if self.built.aclose is not None and isinstance(self.http, AsgiHttp):
            self.http.loop.run_until_complete(self.built.aclose())
        self.http.close()
        self.built.close()


def _with_agent(credentials: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {mech: {**headers, "User-Agent": USER_AGENT} for mech, headers in credentials.items()}


def check(http: Any, credentials: dict[str, dict[str, str]], peer: Peer) -> None:
    """Each credential opens ``/protected``; nothing else does; ``/open`` is open."""
    if peer.baseline:
        if http.request("GET", "/open", credentials["none"]).status != 200:
            raise RuntimeError("/open did not answer 200")
        return
    anonymous = http.request("GET", "/protected", {"User-Agent": USER_AGENT})
    if anonymous.status == 200:
        raise RuntimeError("/protected answered 200 without credentials")
    for mech, headers in credentials.items():
        reply = http.request("GET", "/protected", headers)
        if reply.status != 200 or KNOWN_EMAIL.encode() not in reply.body:
            raise RuntimeError(
                f"/protected with the {mech} credential: {reply.status} {reply.body[:300]!r}"
            )
        if http.request("GET", "/open", headers).status != 200:
            raise RuntimeError(f"/open with the {mech} credential did not answer 200")


def _hash_scheme(hashed: str) -> str:
    if hashed.startswith("$argon2"):
        _, variant, _, parameters, *_ = hashed.split("$")
        return f"{variant} {parameters.replace(',', ', ')}"
    if hashed.startswith("$2"):
        return f"bcrypt, cost {hashed.split('$')[2]}"
    return hashed.split("$", 1)[0].replace(":", " ")


def set_up(
    peers: list[Peer], sizes: tuple[int, ...], directory: Path, runs: dict[str, PeerRun]
) -> dict[tuple[str, int], App]:
    apps: dict[tuple[str, int], App] = {}
    for peer in peers:
        run = runs[peer.key]
        if run.errors:
            continue
        try:
            module = load(peer)
        except Exception as exc:
            run.errors["import"] = _error(exc)
            say(f"[{peer.key}] cannot import: {run.errors['import']}")
            continue
        made: list[App] = []
        try:
            hashed = ""
            for size in (sizes[0],) if peer.baseline else sizes:
                started = time.perf_counter()
                database = str(directory / f"{peer.key}_{size}.db")
                built = module.build(database)
                http: WsgiHttp | AsgiHttp = (
                    WsgiHttp(built.app) if peer.framework == "flask" else AsgiHttp(built.app)
                )
                app = App(peer, module, size, database, built, http)
                made.append(app)
                if not hashed and not peer.baseline:
                    hashed = module.password_hash(built)
                    run.hash_scheme = _hash_scheme(hashed)
                module.seed(built, size, hashed)
                app.credentials = _with_agent(module.login(http))
                check(http, app.credentials, peer)
                say(
                    f"[{peer.key}] {size:,} user{'s' if size > 1 else ''} ready "
                    f"in {time.perf_counter() - started:.1f} s"
                )
        except Exception as exc:
            run.errors["setup"] = _error(exc)
            say(f"[{peer.key}] setup failed: {run.errors['setup']}")
            traceback.print_exc()
            for app in made:
                with contextlib.suppress(Exception):
                    app.close()
            continue
        for app in made:
            apps[peer.key, app.size] = app
    return apps


# -- 1. in-process ------------------------------------------------------------------


#: A request slower than this (ms) puts its app in the slow group, timed with fewer calls.
SLOW_MS = 15.0


def _timed(
    tasks: dict[str, Callable[[], object]],
    keys: dict[str, tuple[App, str, str]],
    plan: Plan,
    runs: dict[str, PeerRun],
) -> dict[str, Any]:
    """``interleaved``, falling back to one app at a time if one fails mid-run."""
    try:
        return interleaved(tasks, plan)
    except Exception as exc:
        say(f"[in-process] {_error(exc)}; timing each app on its own")
    results: dict[str, Any] = {}
    for app in {id(app): app for app, _, _ in keys.values()}.values():
        own = {n: fn for n, fn in tasks.items() if keys[n][0] is app}
        try:
            results.update(interleaved(own, plan))
        except Exception as inner:
            runs[app.peer.key].errors[f"in-process {app.size:,}"] = _error(inner)
    return results


def in_process(
    apps: dict[tuple[str, int], App], runs: dict[str, PeerRun], plan: Plan, slow_plan: Plan
) -> None:
    for framework in ("flask", "fastapi"):
        group = [app for app in apps.values() if app.peer.framework == framework]
        if not group:
            continue
        tasks: dict[str, Callable[[], object]] = {}
        keys: dict[str, tuple[App, str, str]] = {}
        for app in group:
            for mech, headers in app.credentials.items():
                for route in app.peer.routes:
                    name = f"{app.peer.key}|{app.size}|{mech}|{route}"
                    tasks[name] = app.http.getter(f"/{route}", headers)
                    keys[name] = (app, mech, route)
        say(f"[in-process] counting SQL statements ({framework}) …")
        for name, (app, mech, route) in keys.items():
            if app.built.engine is None:
                continue
            counter = SqlCounter(app.built.engine)
            runs[app.peer.key].statements[app.size, mech, route] = counter.count(tasks[name], 5)
        # Apps with very slow requests (Flask-Security-Too over 100,000 users) are
        # timed apart with fewer calls, both routes of an app always in one group.
        slow_apps = set()
        for name, fn in tasks.items():
            start = time.perf_counter()
            for _ in range(3):
                fn()
            if (time.perf_counter() - start) / 3 * 1000 > SLOW_MS:
                slow_apps.add(id(keys[name][0]))
        groups = [
            ({n: f for n, f in tasks.items() if id(keys[n][0]) not in slow_apps}, plan),
            ({n: f for n, f in tasks.items() if id(keys[n][0]) in slow_apps}, slow_plan),
        ]
        started = time.perf_counter()
        for chosen, chosen_plan in groups:
            if not chosen:
                continue
            say(
                f"[in-process] timing {len(chosen)} {framework} requests: {chosen_plan.rounds} "
                f"rounds × {chosen_plan.calls} calls each …"
            )
            for name, result in _timed(chosen, keys, chosen_plan, runs).items():
                app, mech, route = keys[name]
                run = runs[app.peer.key]
                run.in_process[app.size, mech, route] = result
                if chosen_plan is slow_plan:
                    run.slow.add(app.size)
        say(f"[in-process] {framework} done in {time.perf_counter() - started:.0f} s")


# -- 2. real servers, and 4. responsiveness ------------------------------------------------


def _kind(peer: Peer) -> str:
    return "gunicorn" if peer.framework == "flask" else "uvicorn"


def _target(peer: Peer) -> str:
    return f"peers.{peer.key}:{'wsgi' if peer.framework == 'flask' else 'asgi'}"


def served(
    apps: dict[tuple[str, int], App], runs: dict[str, PeerRun], plans: Plans
) -> dict[str, Responsiveness]:
    bin_dir = Path(__file__).resolve().parent / ".venv" / "bin"
    specs = [(_kind(app.peer), _target(app.peer), app.database) for app in apps.values()]
    say(f"[servers] starting {len(specs)} servers (gunicorn -w 1 sync / uvicorn, 1 process) …")
    with servers(specs, bin_dir, HERE) as started:
        ready: dict[tuple[str, int], tuple[int, dict[str, dict[str, str]]]] = {}
        for app in apps.values():
            server = started[_target(app.peer), app.database]
            where = f"server ({app.size:,} user{'s' if app.size > 1 else ''})"
            if isinstance(server, ServerFailed):
                runs[app.peer.key].errors[where] = str(server)
                say(f"[servers] {app.peer.key} {app.size:,}: {server}")
                continue
            client = ServerHttp(server.port)
            try:
                credentials = _with_agent(app.module.login(client))
                check(client, credentials, app.peer)
            except Exception as exc:
                runs[app.peer.key].errors[where] = _error(exc)
                say(f"[servers] {app.peer.key} {app.size:,}: {_error(exc)}")
                continue
            finally:
                client.close()
            ready[app.peer.key, app.size] = (server.port, credentials)
        load_runs(ready, runs, plans)
        say("[responsiveness] probing the FastAPI servers while sign-ins hash …")
        return responsiveness_runs(apps, ready, runs, plans)


def load_runs(
    ready: dict[tuple[str, int], tuple[int, dict[str, dict[str, str]]]],
    runs: dict[str, PeerRun],
    plans: Plans,
) -> None:
    routes = {peer.key: peer.routes for peer in PEERS}
    variants = [
        (key, size, mech, route)
        for (key, size), (_, credentials) in ready.items()
        for mech in credentials
        for route in routes[key]
    ]
    seconds = plans.load_seconds
    say(
        f"[servers] {len(variants)} load runs × {plans.load_rounds} rounds × {seconds:g} s, "
        f"{plans.load_threads} client threads each …"
    )
    started = time.perf_counter()
    for key, size, mech, route in variants:  # warm-up (imports, caches, first connections)
        port, credentials = ready[key, size]
        drive(port, f"/{route}", credentials[mech], plans.warmup_seconds, plans.load_threads)
    for number in range(plans.load_rounds):
        order = variants if number % 2 == 0 else variants[::-1]
        for key, size, mech, route in order:
            port, credentials = ready[key, size]
            result = drive(port, f"/{route}", credentials[mech], seconds, plans.load_threads)
            run = runs[key]
            run.rates.setdefault((size, mech, route), []).append(result.rate)
            if result.errors:
                run.load_errors[size, mech, route] = (
                    run.load_errors.get((size, mech, route), (0, ""))[0] + result.errors,
                    result.first_error,
                )
        say(f"[servers] round {number + 1} done ({time.perf_counter() - started:.0f} s)")


def _burst(port: int, module: Any, limit: float) -> tuple[list[float], list[float], list[str]]:
    """Probe ``/open`` while :data:`SIGN_INS` sign-ins run at once."""
    durations: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    remaining = [SIGN_INS]
    done = threading.Event()
    go = threading.Barrier(SIGN_INS)

    def sign_in() -> None:
        client = ServerHttp(port, timeout=limit)
        try:
            go.wait()
            start = time.perf_counter()
            reply = module.sign_in(client)
            elapsed = time.perf_counter() - start
            with lock:
                if reply.status == 200:
                    durations.append(elapsed)
                else:
                    failures.append(f"{reply.status}: {reply.body[:200]!r}")
        except Exception as exc:
            with lock:
                failures.append(_error(exc))
        finally:
            client.close()
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

    threads = [threading.Thread(target=sign_in, daemon=True) for _ in range(SIGN_INS)]
    for thread in threads:
        thread.start()
    latencies = probe(port, "/open", {"User-Agent": USER_AGENT}, done.is_set, limit)
    for thread in threads:
        thread.join(timeout=limit)
    return latencies, durations, failures


def _control(port: int, seconds: float) -> list[float]:
    """Probe ``/open`` while :data:`SIGN_INS` threads of this process hash for ``seconds``.

    The noise floor: the server's CPUs are as busy as during a burst of sign-ins
    (argon2 releases the GIL, so the threads run in parallel), but nothing is
    asked of the server except the probe.
    """
    from argon2.low_level import Type, hash_secret

    done = threading.Event()
    deadline = time.perf_counter() + seconds

    def burn() -> None:
        while time.perf_counter() < deadline:
            hash_secret(b"noise", b"0123456789abcdef", 2, 19_456, 1, 32, Type.ID)

    threads = [threading.Thread(target=burn, daemon=True) for _ in range(SIGN_INS)]
    for thread in threads:
        thread.start()

    def wait() -> None:
        for thread in threads:
            thread.join()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return probe(port, "/open", {"User-Agent": USER_AGENT}, done.is_set, seconds + 30)


def responsiveness_runs(
    apps: dict[tuple[str, int], App],
    ready: dict[tuple[str, int], tuple[int, dict[str, dict[str, str]]]],
    runs: dict[str, PeerRun],
    plans: Plans,
) -> dict[str, Responsiveness]:
    size = min(size for _, size in ready) if ready else 1
    chosen = [
        app for (key, app_size), app in apps.items()
        if app.peer.signs_in and app_size == size and (key, size) in ready
    ]  # fmt: skip
    found = {app.peer.key: Responsiveness() for app in chosen}
    for number in range(plans.bursts):
        order = chosen if number % 2 == 0 else chosen[::-1]
        for app in order:
            port = ready[app.peer.key, size][0]
            into = found[app.peer.key]
            try:
                into.idle += probe(
                    port, "/open", {"User-Agent": USER_AGENT}, lambda: False, plans.idle_seconds
                )
                into.control += _control(port, plans.idle_seconds)
                latencies, durations, failures = _burst(port, app.module, limit=60.0)
            except Exception as exc:
                runs[app.peer.key].errors["responsiveness"] = _error(exc)
                continue
            into.bursts.append(latencies)
            into.sign_ins += durations
            into.failures += failures
    return found


# -- the run ---------------------------------------------------------------------------


def run(args: Any) -> int:
    started = time.perf_counter()
    plans = QUICK if args.quick else FULL
    large = args.users or (2_000 if args.quick else 100_000)
    sizes = (1, large)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    peers = [peer for peer in PEERS if not chosen or peer.key in chosen]
    runs = {peer.key: PeerRun(peer, version(peer.distribution)) for peer in PEERS}
    install_errors: dict[str, str] = {}
    errors_file = HERE / ".venv" / "install-errors.json"
    if errors_file.exists():
        install_errors = json.loads(errors_file.read_text(encoding="utf-8"))
    for peer in peers:
        if peer.library in install_errors:
            runs[peer.key].errors["install"] = install_errors[peer.library]
    load_start = load_average()
    responsiveness: dict[str, Responsiveness] = {}
    taken_apart: Anatomy | None = None
    flask_db = fastapi_db = None
    with tempfile.TemporaryDirectory(prefix="authgate-web-bench-") as directory:
        apps = set_up(peers, sizes, Path(directory), runs)
        try:
            in_process(apps, runs, plans.in_process, plans.slow)
            try:
                say("[diagnosis] timing the parts of authgate's protected request …")
                flask_db, fastapi_db = (
                    apps[key, sizes[0]].database if (key, sizes[0]) in apps else None
                    for key in ("authgate_flask", "authgate_fastapi")
                )
                if flask_db or fastapi_db:
                    taken_apart = diagnose(
                        flask_db, fastapi_db, plans.anatomy, plans.profile_calls
                    )
            except Exception as exc:
                say(f"[diagnosis] failed: {_error(exc)}")
                traceback.print_exc()
        finally:
            for app in apps.values():
                with contextlib.suppress(Exception):
                    app.close()
        responsiveness = served(apps, runs, plans)
        if taken_apart is not None:
            say("[diagnosis] the same parts behind gunicorn and uvicorn …")
            try:
                diagnose_served(
                    flask_db, fastapi_db, taken_apart, plans.load_seconds,
                    plans.load_rounds + 2, plans.load_threads,
                )  # fmt: skip
            except Exception as exc:
                say(f"[diagnosis] served: {_error(exc)}")
    extra = {
        name: version(name)
        for name in ("Flask", "Werkzeug", "fastapi", "starlette", "gunicorn", "uvicorn", "httpx")
    }
    extra.update(
        {
            peer.library: runs[peer.key].version
            for peer in PEERS
            if not peer.is_authgate and not peer.baseline
        }
    )
    machine = machine_line(extra).replace(" · psycopg not installed", "")
    web_run = WebRun(
        machine=machine,
        quick=args.quick,
        sizes=sizes,
        plans=plans,
        peers=[runs[peer.key] for peer in peers],
        anatomy=taken_apart,
        responsiveness=responsiveness,
        sign_ins=SIGN_INS,
        load=(load_start, load_average()),
        seconds=time.perf_counter() - started,
        date=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    )
    text = render(web_run)
    args.output.write_text(text, encoding="utf-8")
    say("")
    say(text)
    say(f"written to {args.output}")
    if args.results.exists():
        refresh_results_section(args.results, args.output)
        say(f"web section of {args.results} refreshed")
    return 0
