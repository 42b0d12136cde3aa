"""One structured log line per security event (ASVS 16.3.1).

Each line on the ``authgate.audit`` logger is a JSON object: the event,
its outcome, the user id when known, the client IP and user agent, and a UTC
timestamp. JSON encoding escapes newlines and control characters, so a
username full of ``\\n`` or ANSI escapes cannot forge extra lines. Passwords,
tokens and hashes are never passed here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from authgate.context import Client, Context

__all__ = ["record"]

logger = logging.getLogger("authgate.audit")


def record(
    ctx: Context,
    event: str,
    *,
    outcome: str = "success",
    user: Any = None,
    client: Client | None = None,
    **details: Any,
) -> None:
    """Log one event (cheap no-op when the logger is not enabled for INFO)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    entry: dict[str, Any] = {
        "event": event,
        "outcome": outcome,
        "user_id": None if user is None else str(user.id),
        "ip": client.ip if client else None,
        "user_agent": client.user_agent if client else None,
        "at": ctx.now().isoformat(),
        **details,
    }
    logger.info(json.dumps(entry, ensure_ascii=True, default=str))
