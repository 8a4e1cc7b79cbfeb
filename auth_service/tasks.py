"""auth_service's background tasks, registered on the shared Procrastinate app as `auth:*`."""

import logging

import procrastinate
from procrastinate import JobContext

from auth_service.config import SessionLifetimes
from shared import queue, sql

logger = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

QUERIES = sql.load(__file__)


@blueprint.periodic(cron="17 * * * *", periodic_id="purge_sessions")
@blueprint.task(name="purge_sessions", pass_context=True, queue="auth")
async def purge_sessions(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete sessions past their expiry (idle or absolute) and day-old throttle rows."""
    lifetimes = SessionLifetimes()  # AUTH_SESSION_IDLE_TIMEOUT, as the API reads it
    result = await context.app.connector.execute_query_one_async(
        QUERIES["purge"], idle=lifetimes.session_idle_timeout.total_seconds()
    )
    purged = {key: int(result[key]) for key in ("sessions", "failures", "registrations")}
    logger.info("purged expired sessions", extra=purged)
    return purged


# Keep last: it registers the tasks defined above, under this service's namespace.
queue.app.add_tasks_from(blueprint, namespace="auth")
