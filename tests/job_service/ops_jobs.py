"""Jobs in every state an operator looks at, made by a real worker process on one database:
succeeded, failed, waiting, and stuck (its worker SIGKILLed while it ran)."""

import signal
import time
import uuid
from dataclasses import dataclass

import jwt
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.job_service import job_test_tasks
from tests.kit import workers
from tests.kit.jobs import enqueue, status_is
from tests.kit.passports import PassportKey
from tests.kit.users import make_user, unique_email
from tests.kit.waiting import eventually


@dataclass(frozen=True)
class OpsJobs:
    succeeded: uuid.UUID
    failed: uuid.UUID
    stuck: uuid.UUID
    waiting: uuid.UUID
    failed_owner: str  # the email of the failed job's owner


def operator_passport(
    key: PassportKey, user_id: int, *, roles: object = ("operator",)
) -> dict[str, str]:
    """Headers with a passport as auth_service mints it for an operator (`roles`)."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "sid": str(uuid.uuid4()),
        "aud": "pgstack",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "roles": list(roles) if isinstance(roles, tuple) else roles,
    }
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    return {"Authorization": f"Bearer {token}"}


async def make_ops_jobs(db_url: str, engine: AsyncEngine, tmp: str) -> OpsJobs:
    """Run a worker process through a succeeded, a failed and a long job, kill it (the long
    job is left `running` on a dead worker), then enqueue one more that waits."""
    user = make_user(db_url)
    failed_owner = unique_email("owner")
    owner = make_user(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET email = %s WHERE id = %s", (failed_owner, owner))
    with workers.worker_processes(
        db_url, WORKER_IMPORT_PATHS=job_test_tasks.__name__, WORKER_HEARTBEAT="0.5"
    ) as processes:
        worker = processes.start()
        succeeded = await enqueue(engine, "test:steps", user, {"steps": 1})
        failed = await enqueue(engine, "test:broken", owner, {"message": "the disk is full"})
        stuck = await enqueue(engine, "test:wait_for_file", user, {"path": f"{tmp}/never"})
        await eventually(status_is(db_url, succeeded.id, "succeeded"), within=60)
        await eventually(status_is(db_url, failed.id, "failed"), within=60)
        await eventually(status_is(db_url, stuck.id, "running"), within=60)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    waiting = await enqueue(engine, "test:steps", user, {"steps": 1})
    return OpsJobs(succeeded.id, failed.id, stuck.id, waiting.id, failed_owner)
