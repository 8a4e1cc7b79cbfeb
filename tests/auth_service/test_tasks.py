"""auth:purge_sessions, run by the real Procrastinate worker on a real database."""

import datetime as dt

import psycopg

from auth_service import tasks
from shared import queue


def seed(db_url: str) -> dict[str, str]:
    """Sessions in every state the purge must tell apart, by label."""
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    rows = {
        "live": (now - day, now + 29 * day, None),
        "past_absolute": (now, now - dt.timedelta(seconds=1), None),
        "idle_for_8_days": (now - 8 * day, now + 20 * day, None),
        "revoked_a_minute_ago": (now, now + 29 * day, now - dt.timedelta(minutes=1)),
        "revoked_two_days_ago": (now, now + 29 * day, now - 2 * day),
    }
    ids = {}
    with psycopg.connect(db_url) as conn:
        (user_id,) = conn.execute(
            "INSERT INTO users (email, hashed_password) VALUES ('purge@example.com', 'x')"
            " RETURNING id"
        ).fetchone() or (0,)
        for label, (last_seen, absolute, revoked) in rows.items():
            (session_id,) = conn.execute(
                "INSERT INTO user_sessions (user_id, secret_hash, auth_method, last_seen_at,"
                " absolute_expires_at, revoked_at) VALUES (%s, '\\x00', 'password', %s, %s, %s)"
                " RETURNING id",
                (user_id, last_seen, absolute, revoked),
            ).fetchone() or (None,)
            ids[str(session_id)] = label
        conn.execute(
            "INSERT INTO login_failures (email, ip, failed_at) VALUES"
            " ('old@example.com', '192.0.2.1', now() - interval '2 days'),"
            " ('new@example.com', '192.0.2.1', now())"
        )
        conn.execute(
            "INSERT INTO registration_attempts (ip, attempted_at) VALUES"
            " ('192.0.2.1', now() - interval '2 days'), ('192.0.2.2', now())"
        )
    return ids


async def test_purge_deletes_expired_sessions_and_old_failures_and_keeps_the_rest(
    db_url: str,
) -> None:
    labels = seed(db_url)
    async with queue.opened(db_url) as app:
        job_id = await app.configure_task("auth:purge_sessions").defer_async(timestamp=0)
        await app.run_worker_async(queues=["auth"], wait=False, install_signal_handlers=False)
    with psycopg.connect(db_url) as conn:
        kept = {labels[str(sid)] for (sid,) in conn.execute("SELECT id FROM user_sessions")}
        emails = {email for (email,) in conn.execute("SELECT email FROM login_failures")}
        registrations = {
            str(ip) for (ip,) in conn.execute("SELECT host(ip) FROM registration_attempts")
        }
        # By id: the worker's periodic deferrer may have queued one of its own meanwhile.
        (status,) = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
        ).fetchone() or (None,)
    assert status == "succeeded"
    assert kept == {"live", "revoked_a_minute_ago"}
    assert emails == {"new@example.com"}
    assert registrations == {"192.0.2.2"}


def test_every_condition_of_the_purge_and_the_session_list_is_served_by_an_index(
    db_url: str,
) -> None:
    """The purge's filters (expiry, idle, revoked, old throttle rows) and the live-session
    count find their rows through indexes: with sequential scans priced out, no plan has one."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SET enable_seqscan = off")
        for statement in (
            "SELECT 1 FROM user_sessions WHERE absolute_expires_at < now()",
            "SELECT 1 FROM user_sessions WHERE last_seen_at < now() - interval '7 days'",
            "SELECT 1 FROM user_sessions WHERE revoked_at < now() - interval '1 day'",
            "SELECT 1 FROM login_failures WHERE failed_at < now() - interval '1 day'",
            "SELECT 1 FROM registration_attempts WHERE attempted_at < now() - interval '1 day'",
            tasks.QUERIES["purge"],
        ):
            explained = conn.execute(f"EXPLAIN {statement}".encode(), {"idle": 604800})
            plan = "\n".join(row[0] for row in explained)
            assert "Seq Scan" not in plan, plan


def test_purge_is_scheduled_hourly() -> None:
    (periodic,) = [
        task
        for task in queue.app.periodic_registry.periodic_tasks.values()
        if task.task.name == tasks.purge_sessions.name
    ]
    assert periodic.cron == "17 * * * *"
