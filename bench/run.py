"""Benchmark sign_in, get_session and verify_token on every store; write RESULTS.md.

Usage::

    make bench                                   # full run: core, Redis, then web (~15 minutes)
    .venv/bin/python bench/run.py --quick        # smoke run (a few minutes)
    .venv/bin/python bench/run.py --only sqlite,postgres --profile --no-web --no-redis
    .venv/bin/python bench/run.py --web-only     # only bench/web.py (authgate vs its peers)
    .venv/bin/python bench/run.py --redis-only   # only bench/redis_bench.py
    .venv/bin/python bench/run.py --import-only  # only bench/import_bench.py

The claim checked: ``get_session`` from the store (the session cache off)
costs the same with 100,000 users as with one (one indexed lookup, no scan)
and stays within 3x of a bare indexed primary-key lookup on the same engine.
``get_session`` answered from the session cache (the default) is timed beside
it. See ``bench/RESULTS.md``.

Then ``bench/redis_bench.py`` measures, with two real processes over
PostgreSQL and Redis, how soon a revocation through one is refused by the
other, and what Redis costs per request (its own section of ``RESULTS.md``).

Then ``bench/import_bench.py`` imports 100,000 users from a Django project's
tables into authgate (SQLite and PostgreSQL): time and peak memory, in its own
section of ``RESULTS.md``.

Then ``bench/web.py`` measures authgate beside Flask-Login, Flask-Security-Too,
fastapi-users and auth101 through real web requests (in its own environment,
``bench/.venv``) and writes ``bench/WEB_RESULTS.md``; its verdicts are copied
into a section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backends import (
    KNOWN_EMAIL,
    PASSWORD,
    SECRET,
    BackendUnavailable,
    Setup,
    State,
    memory_setup,
    postgres_setup,
    sqlite_setup,
)
from diagnosis import (
    ANATOMY_JOINED,
    NESTED_JOINEDLOAD,
    explain,
    get_session_anatomy,
    profile,
)
from report import BackendRun, Run, render
from timing import Plan, StatementCounter, interleaved, load_average, machine_line

from authgate import Auth

BACKENDS = ("memory", "sqlite", "postgres")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_OUTPUT = Path(__file__).with_name("RESULTS.md")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: few iterations and 1,000 instead of 100,000 users",
    )
    parser.add_argument(
        "--only",
        default=",".join(BACKENDS),
        help="comma-separated backends to measure (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the Markdown report (default: bench/RESULTS.md)",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES,
        help="admin connection; database authgate_bench is created and dropped through it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--users", type=int, default=None, help="size of the large table (overrides the default)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of get_session on each SQL backend (stdout only)",
    )
    web = parser.add_mutually_exclusive_group()
    web.add_argument("--no-web", action="store_true", help="skip the web benchmarks (web.py)")
    web.add_argument("--web-only", action="store_true", help="run only the web benchmarks")
    web.add_argument(
        "--redis-only",
        action="store_true",
        help="run only the Redis benchmarks (redis_bench.py: revocation across processes)",
    )
    parser.add_argument(
        "--no-redis", action="store_true", help="skip the Redis benchmarks (redis_bench.py)"
    )
    parser.add_argument(
        "--no-import", action="store_true", help="skip the import benchmark (import_bench.py)"
    )
    web.add_argument(
        "--import-only",
        action="store_true",
        help="run only the import benchmark (import_bench.py: 100,000 users imported)",
    )
    args = parser.parse_args(argv)
    if args.users is not None and args.users < 2:
        parser.error("--users must be at least 2")
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown or not chosen:
        parser.error(f"--only takes a comma-separated subset of {', '.join(BACKENDS)}")
    args.only = [name for name in BACKENDS if name in chosen]
    return args


def say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def open_backend(
    name: str, counts: list[int], password_hash: str, args: argparse.Namespace
) -> Iterator[Setup]:
    if name == "memory":
        with memory_setup(counts, password_hash) as setup:
            yield setup
    elif name == "sqlite":
        with sqlite_setup(counts, password_hash) as setup:
            yield setup
    else:
        with postgres_setup(counts, password_hash, args.postgres_url) as setup:
            yield setup


def check(state: State) -> None:
    """Every measured call must do what it claims before it is timed."""
    info = state.auth.get_session(state.token)
    assert info.user.email == KNOWN_EMAIL and info.user.role_names == ["member"]
    user = state.auth.verify_token(state.token)
    assert user is not None and user.id == state.user_id
    found: Any = state.baseline()
    assert found is not None and (found.id if hasattr(found, "id") else found[0]) == state.user_id
    assert state.auth.users.count_users() == state.users


def measure_backend(
    name: str,
    counts: list[int],
    password_hash: str,
    args: argparse.Namespace,
    plans: dict[str, Plan],
) -> BackendRun:
    started = time.perf_counter()
    run = BackendRun(name, counts=counts)
    say(f"[{name}] loading {' and '.join(f'{n:,}' for n in counts)} users …")
    try:
        with open_backend(name, counts, password_hash, args) as setup:
            say(f"[{name}] loaded in {time.perf_counter() - started:.1f} s")
            load = load_average()
            measure(run, setup, plans, args)
            run.load = (load, load_average())
    except BackendUnavailable as exc:
        run.skipped = str(exc)
        say(f"[{name}] skipped: {exc}")
        return run
    run.seconds = time.perf_counter() - started
    say(f"[{name}] done in {run.seconds:.1f} s")
    return run


def measure(
    run: BackendRun, setup: Setup, plans: dict[str, Plan], args: argparse.Namespace
) -> None:
    run.notes = setup.notes
    for state in setup.states:
        state.sign_in_known_user()
        check(state)

    tasks: dict[str, Callable[[], object]] = {}
    for operation in ("get_session", "get_session_cached", "verify_token", "baseline"):
        for state in setup.states:
            tasks[f"{operation}:{state.users}"] = _operation(state, operation)
    say(f"[{run.name}] timing get_session (store, session cache), verify_token, bare lookup …")
    for key, result in interleaved(tasks, plans["session"]).items():
        operation, users = key.split(":")
        run.results[operation, int(users)] = result

    say(f"[{run.name}] timing sign_in …")
    sign_ins = {f"sign_in:{s.users}": _operation(s, "sign_in") for s in setup.states}
    for key, result in interleaved(sign_ins, plans["sign_in"]).items():
        run.results["sign_in", int(key.split(":")[1])] = result

    large = setup.states[-1]
    if large.engine is not None:
        diagnose(run, large, plans, args)


def _operation(state: State, operation: str) -> Callable[[], object]:
    auth, token = state.auth, state.token
    if operation == "get_session":
        return lambda: auth.get_session(token)
    if operation == "get_session_cached":
        cached = state.cached
        assert cached is not None, "sign_in_known_user() first"
        return lambda: cached.get_session(token)
    if operation == "verify_token":
        return lambda: auth.verify_token(token)
    if operation == "sign_in":
        return lambda: auth.sign_in(KNOWN_EMAIL, PASSWORD)
    return state.baseline


def diagnose(
    run: BackendRun, state: State, plans: dict[str, Plan], args: argparse.Namespace
) -> None:
    """Count statements, take query plans and time the parts of get_session."""
    counter = StatementCounter(state.engine)
    for operation in ("get_session", "get_session_cached", "verify_token", "baseline"):
        run.statements[operation] = counter.count(_operation(state, operation))
    counter.count(_operation(state, "get_session"), calls=1)
    run.plans = [(sql, explain(state.engine, sql, params)) for sql, params in counter.sql]

    say(f"[{run.name}] timing the parts of get_session …")
    anatomy = get_session_anatomy(state)
    for label, fn in anatomy.items():
        run.anatomy_statements[label] = counter.count(fn, calls=2)
    nested = anatomy.pop(NESTED_JOINEDLOAD)
    run.anatomy = interleaved(anatomy, plans["anatomy"])
    run.anatomy_users = state.users
    run.nested = interleaved({NESTED_JOINEDLOAD: nested}, plans["nested"])[NESTED_JOINEDLOAD]
    for label, fn in ((ANATOMY_JOINED, anatomy[ANATOMY_JOINED]), (NESTED_JOINEDLOAD, nested)):
        counter.count(fn, calls=1)
        run.variant_plans[label] = [
            (sql, explain(state.engine, sql, params)) for sql, params in counter.sql
        ]
    if args.profile:
        calls = plans["anatomy"].calls * 2
        say(f"[{run.name}] cProfile of {calls:,} get_session calls ({state.users:,} users):")
        say(profile(_operation(state, "get_session"), calls))


def run_web(args: argparse.Namespace) -> int:
    """``bench/web.py`` in its own environment; it refreshes the web section of ``args.output``."""
    web = Path(__file__).with_name("web.py")
    command = [sys.executable, str(web), "--results", str(args.output)]
    if args.quick:
        command.append("--quick")
    say("")
    say("web benchmarks (bench/web.py): authgate beside its peers …")
    returncode = subprocess.run(command, check=False).returncode
    if returncode != 0:
        say(f"bench/web.py failed (exit status {returncode}); the core results stand")
    return returncode


def run_redis(args: argparse.Namespace) -> int:
    """``bench/redis_bench.py``; it refreshes the Redis section of ``args.output``."""
    script = Path(__file__).with_name("redis_bench.py")
    command = [sys.executable, str(script), "--results", str(args.output),
               "--postgres-url", args.postgres_url]  # fmt: skip
    if args.quick:
        command.append("--quick")
    say("")
    say("Redis benchmarks (bench/redis_bench.py): revocation across processes …")
    returncode = subprocess.run(command, check=False).returncode
    if returncode != 0:
        say(f"bench/redis_bench.py failed (exit status {returncode}); the other results stand")
    return returncode


def run_import(args: argparse.Namespace) -> int:
    """``bench/import_bench.py``; it refreshes the import section of ``args.output``."""
    script = Path(__file__).with_name("import_bench.py")
    command = [sys.executable, str(script), "--results", str(args.output),
               "--postgres-url", args.postgres_url]  # fmt: skip
    if args.quick:
        command.append("--quick")
    say("")
    say("import benchmark (bench/import_bench.py): 100,000 users from Django's tables …")
    returncode = subprocess.run(command, check=False).returncode
    if returncode != 0:
        say(f"bench/import_bench.py failed (exit status {returncode}); the other results stand")
    return returncode


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.web_only:
        return run_web(args)
    if args.redis_only:
        return run_redis(args)
    if args.import_only:
        return run_import(args)
    started = time.perf_counter()
    large = args.users or (1_000 if args.quick else 100_000)
    counts = [1, large]
    if args.quick:
        plans = {
            "session": Plan(rounds=3, calls=200, batch=10, warmup=50),
            "sign_in": Plan(rounds=2, calls=2, batch=1, warmup=1),
            "anatomy": Plan(rounds=2, calls=100, batch=10, warmup=20),
            "nested": Plan(rounds=2, calls=3, batch=1, warmup=1),
            "hash": Plan(rounds=2, calls=2, batch=1, warmup=1),
        }
    else:
        plans = {
            "session": Plan(rounds=7, calls=2_000, batch=10, warmup=300),
            "sign_in": Plan(rounds=5, calls=5, batch=1, warmup=2),
            "anatomy": Plan(rounds=5, calls=600, batch=10, warmup=200),
            "nested": Plan(rounds=3, calls=10, batch=1, warmup=1),
            "hash": Plan(rounds=5, calls=5, batch=1, warmup=1),
        }

    # One hash for every user of every store (the default argon2id parameters).
    hasher = Auth(SECRET, base_url="http://127.0.0.1:8000")
    password_hash = hasher.users.hash_password(PASSWORD)
    parameters = password_hash.split("$")[3]
    say(f"password hash computed once ({parameters}); timing one verification …")
    hash_result = interleaved(
        {"verify": lambda: hasher.users.verify_password(PASSWORD, password_hash)}, plans["hash"]
    )["verify"]

    backends = [measure_backend(name, counts, password_hash, args, plans) for name in args.only]
    extra = {}
    for backend in backends:
        if "server" in backend.notes:
            extra["server"] = backend.notes["server"]
    run = Run(
        machine=machine_line(extra),
        quick=args.quick,
        session_plan=plans["session"],
        sign_in_plan=plans["sign_in"],
        anatomy_plan=plans["anatomy"],
        hash_result=hash_result,
        hash_parameters=f"argon2id {parameters.replace(',', ', ')}",
        backends=backends,
        seconds=time.perf_counter() - started,
    )
    text = render(run)
    args.output.write_text(text, encoding="utf-8")
    say("")
    say(text)
    say(f"written to {args.output}")
    failed = 0 if args.no_redis else run_redis(args)
    failed = (0 if args.no_import else run_import(args)) or failed
    return (0 if args.no_web else run_web(args)) or failed


if __name__ == "__main__":
    sys.exit(main())
