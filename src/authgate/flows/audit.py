"""Record a security event: one JSON log line and one stored event (ASVS 16.3.1).

Each line on the ``authgate.audit`` logger is a JSON object: the event kind,
its outcome, the user id when known, who acted, the client IP and user
agent, a UTC timestamp and the event's details. JSON encoding escapes
newlines and control characters, so a username full of ``\\n`` or ANSI
escapes cannot forge extra lines. The same event is stored through
``ctx.audit`` (:class:`~authgate.audit.AuditTrail`), which never lets a
storage failure reach the flow. Passwords, tokens and hashes are never
passed here; the kinds are listed in :data:`authgate.audit.EVENT_KINDS`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from authgate.context import Client, Context
from authgate.models import SecurityEvent

__all__ = ["record"]

logger = logging.getLogger("authgate.audit")


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def record(
    ctx: Context,
    event: str,
    *,
    outcome: str = "success",
    user: Any = None,
    client: Client | None = None,
    actor: str = "user",
    **details: Any,
) -> None:
    """Log and store one event of kind ``event``; never raises for a storage failure.

    Args:
        ctx: the flows' context.
        event: the kind (a key of :data:`authgate.audit.EVENT_KINDS`).
        outcome: ``"success"`` or ``"failure"``.
        user: the user concerned, if known.
        client: where the request came from.
        actor: ``"user"`` (the person at the client), ``"admin"`` or ``"cli"``.
        **details: small non-secret facts (JSON values): ``reason``, ``factor``, ``role``...
    """
    entry = SecurityEvent(
        kind=event,
        at=ctx.now(),
        outcome=outcome,
        user_id=None if user is None else str(user.id),
        actor=actor,
        ip=_clip(client.ip, 64) if client else None,
        user_agent=_clip(client.user_agent, 512) if client else None,
        details=details,
    )
    if logger.isEnabledFor(logging.INFO):
        line: dict[str, Any] = {
            "event": entry.kind,
            "outcome": entry.outcome,
            "user_id": entry.user_id,
            "actor": entry.actor,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "at": entry.at.isoformat(),
            **details,
        }
        logger.info(json.dumps(line, ensure_ascii=True, default=str))
    ctx.audit.add(entry)
