"""A private ``redis-server`` a test controls: stop it, kill it, pause it, restart it.

The shared Redis on 127.0.0.1:6379 must never go down (other people's tests
use it); a test that needs Redis to fail starts its own on a free port.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .conftest import service_unavailable

__all__ = ["PrivateRedis", "free_port", "private_redis"]


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """One ``redis-server`` process on a free port, with its data in ``folder``.

    Args:
        folder: its working directory (the append-only file goes there).
        persistent: keep an append-only file written at every change, so a
            restart brings back exactly what was there (``appendfsync always``).
    """

    def __init__(self, folder: Path, *, persistent: bool = False) -> None:
        self.folder = folder
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart) the server and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            service_unavailable("redis-server", FileNotFoundError("redis-server is not installed"))
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always", "--protected-mode", "no", "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"the private redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """``kill -9``: nothing is saved beyond what the append-only file already has."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def unpause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=5)


@contextlib.contextmanager
def private_redis(folder: Path, *, persistent: bool = False) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, killed at the end whatever happens."""
    server = PrivateRedis(folder, persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            with contextlib.suppress(Exception):
                server.unpause()
        server.kill()
