"""Web-level benchmarks: authgate beside Flask-Login, Flask-Security-Too, fastapi-users, auth101.

Usage::

    make bench                               # the core benchmarks, then this one
    .venv/bin/python bench/web.py            # this one alone (about 10 minutes)
    .venv/bin/python bench/web.py --quick    # smoke run (a couple of minutes)

The peers are installed into their own environment, ``bench/.venv`` (git
ignored), never into the project's: this script creates it on first use
(``pip install -e .[flask,fastapi]`` plus each peer, one ``pip install`` per
peer so that one failing leaves the others), then runs itself again with that
environment's Python. A stamp file keeps it from reinstalling while the
requirements and ``pyproject.toml`` are unchanged. A peer that cannot be
installed, imported, set up or served is reported with its error; the others
are measured all the same.

What is measured, in ``bench/WEB_RESULTS.md``:

1. the cost of authentication per request: a protected ``GET`` minus the
   same ``GET`` unprotected, in-process (Flask's test client; httpx over
   ``ASGITransport`` for FastAPI), and the SQL statements each runs;
2. protected ÷ unprotected requests per second against a real server on
   127.0.0.1 (gunicorn, one sync worker; uvicorn, one process);
3. both with 1 user and with 100,000 users;
4. FastAPI: the latency of a cheap endpoint while 4 sign-ins hash at once.
"""

from __future__ import annotations

__all__ = ["ensure_environment", "main"]

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_VENV = HERE / ".venv"
DEFAULT_OUTPUT = HERE / "WEB_RESULTS.md"
INSTALL_ERRORS = BENCH_VENV / "install-errors.json"

#: What ``bench/.venv`` gets: authgate from this checkout and the servers/clients...
BASE_REQUIREMENTS = [f"-e{ROOT}[flask,fastapi,jwt]", "gunicorn", "uvicorn", "httpx"]
#: ...and each peer, installed on its own so that one failing leaves the others.
PEER_REQUIREMENTS: dict[str, list[str]] = {
    "Flask-Login": ["flask-login", "Flask-SQLAlchemy"],
    "Flask-Security-Too": ["Flask-Security-Too[fsqla,common]", "Flask-SQLAlchemy"],
    "fastapi-users": ["fastapi-users[sqlalchemy]", "aiosqlite"],
    "auth101": ["auth101"],
}


def say(message: str) -> None:
    print(message, flush=True)


# -- the bench environment ---------------------------------------------------------


def _stamp() -> Path:
    spec = json.dumps([BASE_REQUIREMENTS, PEER_REQUIREMENTS, sys.version_info[:2]])
    spec += (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return BENCH_VENV / f".installed-{hashlib.sha256(spec.encode()).hexdigest()[:16]}"


def _pip(python: Path, requirements: list[str]) -> str | None:
    """``pip install`` them; ``None`` on success, else the end of pip's output."""
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return "\n".join(line for line in lines if "is ignored: it is neither" not in line)[-1500:]


def ensure_environment() -> Path:
    """Create or refresh ``bench/.venv`` if needed; return its Python."""
    python = BENCH_VENV / "bin" / "python"
    stamp = _stamp()
    if python.exists() and stamp.exists():
        return python
    started = time.perf_counter()
    if not python.exists():
        say(f"[web] creating {BENCH_VENV.relative_to(ROOT)} …")
        shutil.rmtree(BENCH_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    say("[web] installing authgate, gunicorn, uvicorn and httpx into the bench environment …")
    error = _pip(python, BASE_REQUIREMENTS)
    if error is not None:
        raise SystemExit(f"cannot install the bench environment's base:\n{error}")
    errors: dict[str, str] = {}
    for library, requirements in PEER_REQUIREMENTS.items():
        say(f"[web] installing {library} ({' '.join(requirements)}) …")
        error = _pip(python, requirements)
        if error is not None:
            errors[library] = f"pip install {' '.join(requirements)} failed:\n{error}"
            say(f"[web] {library} could not be installed; it is reported, not measured")
    INSTALL_ERRORS.write_text(json.dumps(errors, indent=2), encoding="utf-8")
    for old in BENCH_VENV.glob(".installed-*"):
        old.unlink()
    if not errors:  # a failed peer is retried next time
        stamp.touch()
    say(f"[web] bench environment ready in {time.perf_counter() - started:.0f} s")
    return python


def _in_bench_environment() -> bool:
    return Path(sys.prefix).resolve() == BENCH_VENV.resolve()


# -- entry point -------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few, short rounds")
    parser.add_argument("--users", type=int, default=None, help="size of the large user table")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated peer modules (default: all), e.g. authgate_flask,plain_flask",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "RESULTS.md",
        help="the core results file, whose web section is refreshed (default: bench/RESULTS.md)",
    )
    args = parser.parse_args(argv)
    if args.users is not None and args.users < 2:
        parser.error("--users must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not _in_bench_environment():
        parse_args(argv)  # --help and bad arguments before any install
        python = ensure_environment()
        command = [str(python), str(Path(__file__).resolve()), *argv]
        return subprocess.run(command, check=False).returncode
    sys.path.insert(0, str(HERE))
    from webbench import run

    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
