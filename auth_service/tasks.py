"""auth_service's background tasks, registered on the shared Procrastinate app as `auth:*`."""

import logging

import procrastinate
from procrastinate import JobContext

from auth_service.config import SessionLifetimes
from shared import queue

logger = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

# Revoked rows are kept a day: a restarting service reads the recent revocations from them.
_PURGE = """
    WITH sessions AS (
        DELETE FROM user_sessions
        WHERE absolute_expires_at < now()
           OR last_seen_at < now() - make_interval(secs => %(idle)s)
           OR revoked_at < now() - interval '1 day'
        RETURNING 1
    ), failures AS (
        DELETE FROM login_failures WHERE failed_at < now() - interval '1 day' RETURNING 1
    )
    SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM failures) AS failures
"""


@blueprint.periodic(cron="17 * * * *", periodic_id="purge_sessions")
@blueprint.task(name="purge_sessions", pass_context=True, queue="auth")
async def purge_sessions(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete sessions past their expiry (idle or absolute) and day-old login failures."""
    lifetimes = SessionLifetimes()  # AUTH_SESSION_IDLE_TIMEOUT, as the API reads it
    result = await context.app.connector.execute_query_one_async(
        _PURGE, idle=lifetimes.session_idle_timeout.total_seconds()
    )
    purged = {"sessions": int(result["sessions"]), "failures": int(result["failures"])}
    logger.info("purged expired sessions", extra=purged)
    return purged


# Keep last: it registers the tasks defined above, under this service's namespace.
queue.app.add_tasks_from(blueprint, namespace="auth")
