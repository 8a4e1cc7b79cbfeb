"""Announcing state changes to SSE streams: `NOTIFY job_events` inside the writer's transaction.

job_service streams this channel (`GET /v1/events`); the notification is delivered only if the
transaction commits, so a stream never shows a change that did not happen.
"""

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "job_events"


async def announce(session: AsyncSession, *, user_id: int, type: str, data: dict[str, Any]) -> None:
    """Tell `user_id`'s streams that `type` (e.g. "demo", "platform") changed to `data`."""
    payload = json.dumps({"type": type, "user_id": user_id, **data}, default=str)
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )
