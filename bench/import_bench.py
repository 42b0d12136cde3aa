"""Import 100,000 users from another library's tables: time and peak memory.

Usage::

    make bench                                     # the other benchmarks, then this one
    .venv/bin/python bench/import_bench.py         # this one alone (several minutes)
    .venv/bin/python bench/import_bench.py --quick # 2,000 users
    .venv/bin/python bench/run.py --import-only    # the same, through run.py

The source is a Django project's database (``auth_user``, groups and their
links, Django's own PBKDF2 hash format) written straight into a SQLite file;
the users are imported with ``authgate.importers.import_from`` into a fresh
authgate database on SQLite and on PostgreSQL, each in a process of its own,
which reports the wall time of the import and its peak resident memory. A
second run over the same source (nothing to import: every user is there)
is timed too, and one imported user signs in with the old password. The
results are a section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "authgate_import_bench"
BEGIN = "<!-- import benchmark: begin -->"
END = "<!-- import benchmark: end -->"
PASSWORD = "correct horse battery"
SECRET = "import-bench-secret-" + "x" * 32
GROUPS = ("editors", "authors", "staffers")


def say(message: str) -> None:
    print(message, flush=True)


def django_hash(password: str, salt: str = "benchsalt0123456", iterations: int = 20_000) -> str:
    """Django's ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` format."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def build_source(path: Path, users: int) -> str:
    """A Django-shaped database of ``users`` users; returns its URL."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    user = sa.Table(
        "auth_user", meta,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("password", sa.String(128)),
        sa.Column("last_login", sa.DateTime, nullable=True),
        sa.Column("is_superuser", sa.Boolean), sa.Column("username", sa.String(150)),
        sa.Column("first_name", sa.String(150)), sa.Column("last_name", sa.String(150)),
        sa.Column("email", sa.String(254)), sa.Column("is_staff", sa.Boolean),
        sa.Column("is_active", sa.Boolean), sa.Column("date_joined", sa.DateTime),
    )  # fmt: skip
    group = sa.Table("auth_group", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String(150)))  # fmt: skip
    links = sa.Table(
        "auth_user_groups", meta, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer), sa.Column("group_id", sa.Integer),
    )  # fmt: skip
    meta.create_all(engine)
    stored = django_hash(PASSWORD)
    now = dt.datetime(2025, 1, 1)
    with engine.begin() as connection:
        connection.execute(group.insert(), [{"id": i + 1, "name": n} for i, n in enumerate(GROUPS)])
        for start in range(0, users, 10_000):
            rows, memberships = [], []
            for n in range(start + 1, min(users, start + 10_000) + 1):
                rows.append({
                    "id": n, "password": stored, "last_login": None, "is_superuser": n == 1,
                    "username": f"user{n}", "first_name": "First" if n % 10 == 0 else "",
                    "last_name": "", "email": f"user{n}@example.com", "is_staff": n % 100 == 0,
                    "is_active": n % 50 != 0, "date_joined": now,
                })  # fmt: skip
                memberships += [{"user_id": n, "group_id": 1 + n % 3}]
                if n % 7 == 0:
                    memberships.append({"user_id": n, "group_id": 1 + (n + 1) % 3})
            connection.execute(user.insert(), rows)
            connection.execute(links.insert(), memberships)
    engine.dispose()
    return url


@contextlib.contextmanager
def postgres_target(admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for authgate, dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 5})  # fmt: skip
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    try:
        yield sa.make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.dispose()


def child(source: str, target: str) -> None:
    """Run in a process of its own: import, re-import, sign one user in; print JSON."""
    from authgate import Auth
    from authgate.importers import import_from

    auth = Auth(SECRET, database_url=target, base_url="http://127.0.0.1:8000")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = import_from(auth, "django", source)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    again = import_from(auth, "django", source)
    again_seconds = time.perf_counter() - started
    signed = auth.sign_in("user12345@example.com" if report.seen >= 12345 else "user2@example.com",
                          PASSWORD)  # fmt: skip
    assert signed.token and again.imported == 0 and again.existing == report.imported
    assert auth.users.count_users() == report.imported
    auth.close()
    print(json.dumps({
        "seconds": seconds, "again_seconds": again_seconds, "baseline_kb": baseline,
        "peak_kb": peak, "report": report.lines(), "imported": report.imported,
        "again": again.lines()[0],
    }))  # fmt: skip


def run_child(source: str, target: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", source, target],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def section(users: int, results: dict[str, dict[str, Any] | str], seconds: float) -> list[str]:
    lines = [
        BEGIN,
        f"## Import: {users:,} users from Django's tables",
        "",
        "`bench/import_bench.py`: a Django project's database (`auth_user`, three groups, "
        "about 1.14 group links per user, Django's PBKDF2 hashes) imported with "
        "`authgate.importers.import_from(auth, \"django\", url)`, each target in a fresh "
        "process. *Time* is the import's wall time; *peak RSS* the process's peak resident "
        "memory (*baseline*: before the import, with Python, SQLAlchemy and authgate loaded). "
        "*Again*: the same import run a second time (nothing imported twice). Every user goes "
        "through `auth.users.create_user` (validated, its hash checked, one audit event) in "
        "a transaction of its own, four at a time on PostgreSQL (one on SQLite); the source "
        "is read 1,000 users per query.",
        "",
        "| authgate database | users imported | time | users/s | peak RSS | baseline | again |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        if isinstance(result, str):
            lines.append(f"| {name} | skipped: {result} | | | | | |")
            continue
        rate = result["imported"] / result["seconds"] if result["seconds"] else 0
        lines.append(
            f"| {name} | {result['imported']:,} | {result['seconds']:.1f} s | {rate:,.0f} | "
            f"{result['peak_kb'] / 1024:.0f} MiB | {result['baseline_kb'] / 1024:.0f} MiB | "
            f"{result['again_seconds']:.1f} s |"
        )
    first = next((r for r in results.values() if not isinstance(r, str)), None)
    if first is not None:
        lines += ["", "The report of the import:", "", "```", *first["report"], "```"]
    lines += ["", f"Run took {seconds:.0f} s.", "", END]
    return lines


def refresh_results(results: Path, block: list[str]) -> None:
    """Replace (or append) this section of ``RESULTS.md``."""
    text = results.read_text(encoding="utf-8") if results.exists() else "# authgate benchmarks\n"
    new = "\n".join(block)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + new + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + new + "\n"
    results.write_text(text, encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2,000 users instead of 100,000")
    parser.add_argument("--users", type=int, default=None, help="how many users to import")
    parser.add_argument("--only", default="sqlite,postgres",
                        help="comma-separated targets (default: %(default)s)")  # fmt: skip
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help=f"admin connection; database {DATABASE} is created and dropped "
                        "through it (default: %(default)s)")  # fmt: skip
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md",
                        help="the results file whose import section is refreshed")  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    users = args.users or (2_000 if args.quick else 100_000)
    started = time.perf_counter()
    results: dict[str, dict[str, Any] | str] = {}
    with tempfile.TemporaryDirectory(prefix="authgate-import-bench-") as folder:
        say(f"[import] writing {users:,} Django users …")
        source = build_source(Path(folder) / "django.db", users)
        for name in [n.strip() for n in args.only.split(",") if n.strip()]:
            say(f"[import] importing into {name} …")
            try:
                if name == "sqlite":
                    results["SQLite (file)"] = run_child(source, f"sqlite:///{folder}/authgate.db")
                elif name == "postgres":
                    with postgres_target(args.postgres_url) as target:
                        results["PostgreSQL"] = run_child(source, target)
                else:
                    raise SystemExit(f"unknown target {name!r}")
            except (RuntimeError, sa.exc.OperationalError) as exc:
                results[name] = str(exc).splitlines()[0][:200]
                say(f"[import] {name}: {results[name]}")
                continue
            result = next(reversed(results.values()))
            assert not isinstance(result, str)
            say(f"[import] {name}: {result['imported']:,} users in {result['seconds']:.1f} s, "
                f"peak RSS {result['peak_kb'] / 1024:.0f} MiB")  # fmt: skip
    block = section(users, results, time.perf_counter() - started)
    refresh_results(args.results, block)
    say("\n".join(block))
    say(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
