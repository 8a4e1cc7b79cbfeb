"""Announcing state changes to SSE streams: `NOTIFY job_events` inside the writer's transaction.

job_service streams this channel (`GET /v1/events`); the notification is delivered only if the
transaction commits, so a stream never shows a change that did not happen.
"""

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared import db, sql

CHANNEL = "job_events"
QUERIES = sql.load(__file__)


async def announce(session: AsyncSession, *, user_id: int, type: str, data: dict[str, Any]) -> None:
    """Tell `user_id`'s streams that `type` (e.g. "demo", "platform") changed to `data`."""
    payload = json.dumps({"type": type, "user_id": user_id, **data}, default=str)
    await db.execute(session, QUERIES["announce"], {"channel": CHANNEL, "payload": payload})
