"""A TCP proxy a test puts in front of PostgreSQL, MariaDB or Redis, and breaks on purpose.

The shared servers are never touched: the code under test connects to the
proxy's port instead, and the test cuts, slows or freezes the proxy.

* :meth:`FaultProxy.cut` — the server is "down": new connections are refused
  (the port stops listening) and live ones are reset (TCP RST).
* :meth:`FaultProxy.freeze` — the server "hangs": connections are accepted
  and held, and no byte is forwarded either way until :meth:`resume`.
* :meth:`FaultProxy.slow` — every forwarded chunk waits ``seconds`` first.
* :meth:`FaultProxy.resume` — back to normal (the same port listens again).

Plain threads and ``select``: every loop wakes at least every 50 ms, so
:meth:`close` always returns promptly, and the ``fault_proxy`` fixture closes
every proxy it made, even when the test fails.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

__all__ = ["FaultProxy"]

_TICK = 0.05
_CHUNK = 65536


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``target`` until told otherwise.

    Args:
        target_host: the real server's host.
        target_port: the real server's port.

    Attributes:
        port: where the proxy listens (chosen by the OS).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._frozen = threading.Event()
        self._stopped = threading.Event()
        self.latency = 0.0
        #: Connections accepted so far (a test can check the client reconnected).
        self.accepted = 0
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()
        self._acceptor = threading.Thread(
            target=self._accept_loop, daemon=True, name="proxy-accept"
        )
        self._acceptor.start()

    def __repr__(self) -> str:
        return f"<FaultProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]}>"

    # -- the switches ---------------------------------------------------------
    @property
    def is_up(self) -> bool:
        """Whether new connections are accepted."""
        return self._listener is not None

    def cut(self) -> None:
        """Refuse new connections and reset every live one."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs = list(self._pairs)
            self._pairs.clear()
        if listener is not None:
            # shutdown() wakes the accept loop's poll at once, so the kernel
            # stops listening now rather than when that poll times out.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    def freeze(self) -> None:
        """Hold every connection, live or new, without forwarding a byte."""
        self._frozen.set()

    def slow(self, seconds: float) -> None:
        """Delay every forwarded chunk by ``seconds`` (0 removes the delay)."""
        self.latency = seconds

    def resume(self) -> None:
        """Undo :meth:`cut`, :meth:`freeze` and :meth:`slow`."""
        self.latency = 0.0
        self._frozen.clear()
        with self._lock:
            if self._listener is None:
                self._listen()

    def close(self) -> None:
        """Stop the proxy and drop every connection."""
        self._stopped.set()
        self._frozen.clear()
        self.cut()
        self._acceptor.join(timeout=2)

    @contextlib.contextmanager
    def down(self) -> Iterator[FaultProxy]:
        """``with proxy.down():`` cut inside the block, resumed after it."""
        self.cut()
        try:
            yield self
        finally:
            self.resume()

    # -- the machinery ----------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after a cut
        listener.listen(64)
        listener.settimeout(_TICK)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(_TICK)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        pair = (client, upstream)
        with self._lock:
            if self._listener is None:  # cut meanwhile
                _reset(client)
                _reset(upstream)
                return
            self._pairs.add(pair)
        peer = {client: upstream, upstream: client}
        try:
            while not self._stopped.is_set():
                if self._frozen.is_set():
                    time.sleep(_TICK)
                    continue
                readable, _, _ = select.select([client, upstream], [], [], _TICK)
                for source in readable:
                    data = source.recv(_CHUNK)
                    if not data:
                        return
                    if self.latency:
                        time.sleep(self.latency)
                    peer[source].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
