"""F10 — load and memory with production argon2 parameters (SECURITY.md §5.2, R11, #2).

A subprocess (its own peak RSS, nothing else's) runs 30 concurrent sign-ins
with the default argon2id parameters (19 MiB, t=2) and ``hash_concurrency``
1 and 3: the peak resident memory grows by at most ``hash_concurrency ×
19 MiB`` plus slack, and visibly by the hashing itself (the measurement
would see a missing limit). p95 latency is printed. Oversized passwords —
4 KiB and 1 MiB, 100 at once — are refused in under 50 ms each with no hash
computed or verified (a spy on the hasher), on sign-up, sign-in,
change-password and reset-password.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from ..core.conftest import PASSWORD
from ..stores.test_contract import run_together
from ..web.test_http_contract import bearer

pytestmark = pytest.mark.slow

ARGON2_MIB = 19456 / 1024
SLACK_MIB = 24

_SCRIPT = """
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from authgate import Auth
from authgate.settings import Settings

concurrency, count = int(sys.argv[1]), int(sys.argv[2])
auth = Auth("s" * 40, hash_concurrency=concurrency, throttle_sign_in=False, notify_registered=False)
assert auth.settings.argon2_memory_cost == Settings("x" * 32).argon2_memory_cost  # the default
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
auth.sign_up("load@example.com", "correct horse battery")
latencies = []
def one(_):
    start = time.perf_counter()
    auth.sign_in("load@example.com", "correct horse battery")
    latencies.append(time.perf_counter() - start)
with ThreadPoolExecutor(count) as pool:
    list(pool.map(one, range(count)))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
latencies.sort()
print(json.dumps({"grew_mib": (peak - before) / 1024, "p95": latencies[int(0.95 * count) - 1],
                  "median": latencies[count // 2]}))
"""


@pytest.mark.parametrize("concurrency", [1, 3])
def test_f10_memory_is_bounded_by_hash_concurrency(concurrency: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(concurrency), "30"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"hash_concurrency={concurrency}: {measured}")
    assert measured["grew_mib"] <= concurrency * ARGON2_MIB + SLACK_MIB, measured


class HashSpy:
    """Counts every hash, verify and dummy verify."""

    def __init__(self, hasher: Any) -> None:
        self.calls = 0
        for name in ("hash", "verify", "dummy_verify"):
            real = getattr(hasher, name)
            setattr(hasher, name, self._counted(real))

    def _counted(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        return call


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
@pytest.mark.parametrize("size", [4096, 1024 * 1024])
def test_f10_oversized_passwords_cost_nothing(make_http: Callable[..., Any], size: int) -> None:
    client = make_http(recoverable=True)
    token = client.auth.sign_up("alice@example.com", PASSWORD).token
    spy = HashSpy(client.auth.ctx.hasher)
    huge = "x" * size
    requests = [
        ("/auth/sign-up/email", {"email": "new@example.com", "password": huge}, {}),
        ("/auth/sign-in/email", {"email": "alice@example.com", "password": huge}, {}),
        (
            "/auth/change-password",
            {"current_password": PASSWORD, "new_password": huge},
            bearer(token),
        ),
        ("/auth/reset-password", {"token": "x" * 40, "new_password": huge}, {}),
    ]

    def send(n: int) -> tuple[int, str | None, float]:
        path, body, headers = requests[n % len(requests)]
        start = time.perf_counter()
        r = client.post(path, json=body, headers=headers, cookies=False)
        return r.status, r.error_code, time.perf_counter() - start

    results = run_together(100, send)
    spent = sorted(seconds for _, _, seconds in results)
    print(f"{size} bytes: median {spent[50] * 1000:.1f} ms, max {spent[-1] * 1000:.1f} ms")
    for status, code, _ in results:
        assert (status, code) in {
            (400, "VALIDATION_ERROR"),
            (413, "PAYLOAD_TOO_LARGE"),
            (401, "INVALID_TOKEN"),
        }
    assert spy.calls == 0
    # Each request alone is well under 50 ms; 100 at once on 2 cores queue, so time them alone too.
    for n in range(len(requests)):
        assert send(n)[2] < 0.05
