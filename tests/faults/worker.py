"""A worker process that runs one authgate step and stops dead at a named barrier.

The parent (:func:`crash_at`) writes a JSON spec, starts
``python -m tests.faults.worker SPEC``, waits for the worker to reach the
barrier (it writes ``"barrier"`` into the marker file and then waits), and
``kill -9``s it: the step really stops between two of its writes, as a
crashed or OOM-killed process would, with no ``finally`` or ``atexit`` run.

Barriers:

* ``"store:<method>"`` — before the store method runs (e.g.
  ``"store:delete_user_sessions"``: after the credential write committed,
  before the sessions are deleted);
* ``"mail:send"`` — before an email with a link is handed to the mail service;
* ``"outbox:<method>"`` — before the outbox method runs (e.g.
  ``"outbox:deliver"``: after the write that stored the notice committed,
  before the notice is handed to the mailer);
* ``"mailer:send"`` — inside the mailer, before it sends anything (a notice
  is then claimed and not sent);
* ``"signal:<name>"`` — when the blinker signal is sent.

Steps: ``sign_up`` (email, password), ``change_password`` (email, password,
new_password, keep_token), ``confirm_email`` (token) and ``flush_outbox``
(no barrier: the ``Auth`` starts, its dispatcher and one more pass send what
is due, and the step ends once the outbox is empty). ``settings`` are ``Auth``
settings; the database is ``database_url``. With ``sent_log``, every email
the worker's mailer takes is appended to that file (one JSON line); with
``gate``, the worker waits for that file to exist before it builds its ``Auth``
(so that several workers start together); with ``peer_logs``, its first
email waits until those logs exist (the other workers sent one each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Crash", "crash_at", "run_together"]

#: How long a worker waits at its barrier for the kill before giving up.
_WAIT = 60.0
_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Crash:
    """What :func:`crash_at` saw."""

    #: ``"barrier"``: killed there; ``"finished"``: the step ended without reaching it.
    reached: str
    returncode: int | None
    stderr: str


def crash_at(spec: dict[str, Any], directory: Path, timeout: float = 60.0) -> Crash:
    """Run ``spec`` in a worker process and SIGKILL it at its barrier.

    Raises:
        AssertionError: the worker died before the barrier, or did not reach it in time.
    """
    marker = directory / "marker"
    marker.unlink(missing_ok=True)
    spec_path = directory / "spec.json"
    spec_path.write_text(json.dumps({**spec, "marker": str(marker)}))
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.worker", str(spec_path)],
        cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            state = marker.read_text() if marker.exists() else ""
            if state == "barrier":
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
                return Crash("barrier", process.returncode, "")
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                if state == "finished":
                    return Crash("finished", process.returncode, stderr)
                raise AssertionError(f"the worker died before its barrier:\n{stderr}")
            time.sleep(0.01)
        raise AssertionError("the worker did not reach its barrier in time")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def run_together(specs: list[dict[str, Any]], directory: Path, timeout: float = 60.0) -> list[str]:
    """Run one worker per spec at the same time (released together) and wait for them all.

    Returns:
        Each worker's state at the end (``"finished"``).

    Raises:
        AssertionError: a worker failed or did not finish in time (its stderr is shown).
    """
    gate = directory / "go"
    gate.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    running = []
    for n, spec in enumerate(specs):
        marker = directory / f"marker-{n}"
        marker.unlink(missing_ok=True)
        path = directory / f"spec-{n}.json"
        path.write_text(json.dumps({**spec, "marker": str(marker), "gate": str(gate)}))
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.worker", str(path)],
            cwd=_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        running.append((process, marker))
    gate.write_text("go")
    states = []
    try:
        for process, marker in running:
            try:
                _, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError("a worker did not finish in time") from None
            state = marker.read_text() if marker.exists() else ""
            assert process.returncode == 0 and state == "finished", stderr.decode()
            states.append(state)
    finally:
        for process, _ in running:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    return states


class _RecordingMailer:
    """Keeps nothing in memory: appends every email it takes to a file (one JSON line).

    After its first email it waits (at most :data:`_WAIT` seconds) until every
    ``peers`` file exists: the other workers have sent one too, so the work
    really is shared whatever the machine's load.
    """

    synchronous = True

    def __init__(self, path: str, delay: float, peers: list[str]) -> None:
        self.path = path
        self.delay = delay
        self.peers = [Path(p) for p in peers]

    def send(self, message: Any) -> None:
        time.sleep(self.delay)
        line = json.dumps({"kind": message.kind, "to": message.to, "pid": os.getpid()})
        with open(self.path, "a") as log:
            log.write(line + "\n")
        deadline = time.monotonic() + _WAIT
        while not all(peer.exists() for peer in self.peers) and time.monotonic() < deadline:
            time.sleep(0.005)


def _barrier(marker: Path) -> None:
    marker.write_text("barrier")
    time.sleep(_WAIT)  # the parent kills us here
    sys.exit(3)


def _install_barrier(auth: Any, name: str, marker: Path) -> None:
    kind, _, target = name.partition(":")
    if kind == "store":
        real = getattr(auth.store, target)

        def stop(*args: Any, **kwargs: Any) -> Any:
            _barrier(marker)
            return real(*args, **kwargs)

        setattr(auth.store, target, stop)
    elif kind == "mail":
        auth.ctx.mail.send = lambda *args, **kwargs: _barrier(marker)
    elif kind == "outbox":
        setattr(auth.outbox, target, lambda *args, **kwargs: _barrier(marker))
    elif kind == "mailer":
        auth.mail.mailer.send = lambda *args, **kwargs: _barrier(marker)
    elif kind == "signal":
        from authgate import signals

        getattr(signals, target).connect(lambda sender, **kw: _barrier(marker), weak=False)
    else:
        raise ValueError(f"unknown barrier {name!r}")


def main(spec_path: str) -> None:
    from authgate import Auth
    from authgate.testing import OutboxMailer

    spec = json.loads(Path(spec_path).read_text())
    marker = Path(spec["marker"])
    gate = spec.get("gate")
    deadline = time.monotonic() + _WAIT
    while gate is not None and not Path(gate).exists():
        assert time.monotonic() < deadline, "the gate never opened"
        time.sleep(0.005)
    mailer: Any = OutboxMailer()
    if spec.get("sent_log"):
        mailer = _RecordingMailer(
            spec["sent_log"], spec.get("send_delay", 0.0), spec.get("peer_logs", [])
        )
    auth = Auth(
        spec["secret"], database_url=spec["database_url"], send_email=mailer,
        **spec.get("settings", {}),
    )  # fmt: skip
    if spec.get("barrier"):
        _install_barrier(auth, spec["barrier"], marker)
    args = spec.get("args", {})
    step = spec["step"]
    if step == "sign_up":
        auth.sign_up(args["email"], args["password"])
    elif step == "change_password":
        user = auth.users.get_user(args["email"])
        auth.change_password(
            user, args["password"], args["new_password"], current_token=args.get("keep_token")
        )
    elif step == "confirm_email":
        auth.confirm_email(args["token"])
    elif step == "flush_outbox":
        while auth.outbox.pending(limit=1):
            auth.outbox.flush()
            time.sleep(0.01)
        auth.close()
    else:
        raise ValueError(f"unknown step {step!r}")
    marker.write_text("finished")


if __name__ == "__main__":
    main(sys.argv[1])
