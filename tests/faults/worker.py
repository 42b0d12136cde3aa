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
* ``"mail:send"`` — before any email is handed to the mailer;
* ``"signal:<name>"`` — when the blinker signal is sent.

Steps: ``sign_up`` (email, password), ``change_password`` (email, password,
new_password, keep_token) and ``confirm_email`` (token). ``settings`` are
``Auth`` settings; the database is ``database_url``.
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

__all__ = ["Crash", "crash_at"]

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
    auth = Auth(
        spec["secret"], database_url=spec["database_url"], send_email=OutboxMailer(),
        **spec.get("settings", {}),
    )  # fmt: skip
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
    else:
        raise ValueError(f"unknown step {step!r}")
    marker.write_text("finished")


if __name__ == "__main__":
    main(sys.argv[1])
