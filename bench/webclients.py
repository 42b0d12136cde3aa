"""HTTP clients, servers and the load generator of the web benchmarks (no authgate imports).

* :class:`WsgiHttp`: Flask's test client (Werkzeug), no cookie jar.
* :class:`AsgiHttp`: ``httpx.AsyncClient`` over ``httpx.ASGITransport``, driven
  request by request on one private event loop.
* :class:`ServerHttp`: ``http.client`` to a server on 127.0.0.1.
* :class:`Server`: gunicorn (one sync worker) or uvicorn (one process) as a
  subprocess on a free port, stopped on exit.
* :func:`drive`: a bounded load: a few threads, each with its own keep-alive
  connection, sending one request after another until a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.common import DATABASE_ENV, Reply

__all__ = [
    "AsgiHttp",
    "Load",
    "Server",
    "ServerFailed",
    "ServerHttp",
    "WsgiHttp",
    "drive",
    "free_port",
    "probe",
    "servers",
]

HOST = "127.0.0.1"


class WsgiHttp:
    """Flask's test client; ``get`` returns a ready callable for the timing loop."""

    def __init__(self, app: Any) -> None:
        # No cookie jar: every request carries exactly the headers it is given.
        self.client = app.test_client(use_cookies=False)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        response = self.client.open(path, method=method, headers=headers or {}, data=body)
        return Reply(response.status_code, list(response.headers.items()), response.get_data())

    def getter(self, path: str, headers: dict[str, str]) -> Callable[[], object]:
        get = self.client.get
        return lambda: get(path, headers=headers)

    def close(self) -> None:
        pass


class AsgiHttp:
    """``httpx.AsyncClient(transport=ASGITransport(app))`` on a private event loop."""

    def __init__(self, app: Any) -> None:
        import httpx

        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{HOST}"
        )

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        response = self.loop.run_until_complete(
            self.client.request(method, path, headers=headers, content=body or None)
        )
        self.client.cookies.clear()  # no cookie jar: only the headers given are sent
        return Reply(response.status_code, list(response.headers.multi_items()), response.content)

    def getter(self, path: str, headers: dict[str, str]) -> Callable[[], object]:
        run, get = self.loop.run_until_complete, self.client.get
        return lambda: run(get(path, headers=headers))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


class ServerHttp:
    """``http.client`` to a local server (reconnects when the server closes)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        self.connection.request(method, path, body=body or None, headers=headers or {})
        response = self.connection.getresponse()
        data = response.read()
        return Reply(response.status, response.getheaders(), data)

    def close(self) -> None:
        self.connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerFailed(Exception):
    """The server did not come up; the message ends with its stderr."""


class Server:
    """A gunicorn or uvicorn subprocess serving one app over one SQLite file.

    ``target`` is ``module:function`` (run from ``cwd``): gunicorn calls
    ``function()`` for the WSGI app, uvicorn uses it as an app factory.
    """

    def __init__(self, kind: str, target: str, database: str, bin_dir: Path, cwd: Path) -> None:
        self.kind = kind
        self.port = free_port()
        if kind == "gunicorn":
            command = [
                str(bin_dir / "gunicorn"), "--workers", "1", "--worker-class", "sync",
                "--bind", f"{HOST}:{self.port}", "--log-level", "warning", f"{target}()",
            ]  # fmt: skip
        else:
            command = [
                str(bin_dir / "uvicorn"), "--factory", target,
                "--host", HOST, "--port", str(self.port), "--log-level", "warning",
                "--no-access-log",
            ]  # fmt: skip
        env = {**os.environ, DATABASE_ENV: database, "PYTHONPATH": str(cwd)}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.kind} exited ({self.process.returncode}):\n{self.log()}")
            client = ServerHttp(self.port, timeout=5)
            try:
                if client.request("GET", "/open").status == 200:
                    return
            except OSError:
                time.sleep(0.1)
            finally:
                client.close()
        raise ServerFailed(f"{self.kind} not ready after {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()


@contextlib.contextmanager
def servers(specs: Sequence[tuple[str, str, str]], bin_dir: Path, cwd: Path) -> Iterator[
    dict[tuple[str, str], Server | ServerFailed]
]:  # fmt: skip
    """Start one server per ``(kind, target, database)``; a failed start is kept as its error."""
    started: dict[tuple[str, str], Server | ServerFailed] = {}
    running: list[Server] = []
    try:
        for kind, target, database in specs:
            server = Server(kind, target, database, bin_dir, cwd)
            running.append(server)
            started[target, database] = server
        for key, server in list(started.items()):
            assert isinstance(server, Server)
            try:
                server.wait_ready()
            except ServerFailed as exc:
                started[key] = exc
        yield started
    finally:
        for server in running:
            server.stop()


@dataclass
class Load:
    """What one :func:`drive` did."""

    requests: int
    errors: int
    seconds: float
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(
    port: int, path: str, headers: dict[str, str], seconds: float, threads: int = 3
) -> Load:
    """Send GET ``path`` from ``threads`` threads for ``seconds``; count answers that are 200.

    Each thread keeps its own connection (``http.client`` reopens it when a
    server closes it after each answer, as gunicorn's sync worker does).
    Bounded: every thread stops at the deadline, and a request times out after 30 s.
    """
    counts = [0] * threads
    errors = [0] * threads
    first_error: list[str] = []
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        client = ServerHttp(port)
        barrier.wait()
        end = deadline[0]
        try:
            while time.perf_counter() < end:
                try:
                    reply = client.request("GET", path, headers)
                except (OSError, http.client.HTTPException) as exc:
                    errors[index] += 1
                    first_error.append(repr(exc))
                    client.close()
                    client = ServerHttp(port)
                    continue
                if reply.status == 200:
                    counts[index] += 1
                else:
                    errors[index] += 1
                    first_error.append(f"{reply.status}: {reply.body[:200]!r}")
        finally:
            client.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for thread in pool:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - start
    return Load(sum(counts), sum(errors), elapsed, first_error[0] if first_error else "")


def probe(
    port: int, path: str, headers: dict[str, str], until: Callable[[], bool], limit: float
) -> list[float]:
    """Latencies (seconds) of GET ``path``, one after another, until ``until()`` or ``limit``."""
    client = ServerHttp(port)
    latencies: list[float] = []
    end = time.perf_counter() + limit
    try:
        while not until() and time.perf_counter() < end:
            start = time.perf_counter()
            reply = client.request("GET", path, headers)
            latencies.append(time.perf_counter() - start)
            if reply.status != 200:
                raise RuntimeError(f"probe {path} answered {reply.status}")
    finally:
        client.close()
    return latencies
