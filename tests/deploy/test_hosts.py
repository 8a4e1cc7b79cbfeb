"""Across hosts: three network namespaces on this machine, a worker process in each, one
Postgres on the bridge between them. Cutting the link of the host running a job hands the job
to another host after WORKER_STALLED_AFTER; it ends once, and nothing is left running."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import tests.deploy.host_tasks  # noqa: F401  (registers hosts:hold for enqueueing)
from deploy import migrate
from shared import jobs
from shared.settings import sqlalchemy_url
from tests.deploy.hosts import Hosts, hosts, private_cluster
from tests.deploy.processes import Processes

FAST = {
    "WORKER_IMPORT_PATHS": "tests.deploy.host_tasks",
    "WORKER_QUEUES": "hosts,jobs",
    "WORKER_CONCURRENCY": "1",
    "WORKER_HEARTBEAT": "0.5",
    "WORKER_STALLED_AFTER": "3",
    "WORKER_RECOVER_CRON": "* * * * * *",
    "WORKER_POLL_SECONDS": "0.5",
    "WORKER_SHUTDOWN_GRACE": "2",
    "LOG_LEVEL": "WARNING",
    "PGSTACK_ENV": "test",
}


@pytest.fixture
def network() -> Iterator[Hosts]:
    with hosts(3) as made:
        yield made


@pytest.fixture
def cluster(network: Hosts) -> Iterator[str]:
    """A URL template (`{host}`) of a migrated database on the bridge's Postgres."""
    with private_cluster(network.gateway, f"{network.gateway}/24") as url:
        migrate.upgrade(url.format(host="127.0.0.1"))
        yield url


@pytest.fixture
def processes(cluster: str) -> Iterator[Processes]:
    """Workers, stopped before the cluster and the namespaces go."""
    started = Processes()
    yield started
    started.stop()


def job_row(url: str, job_id: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(
            "SELECT status, attempts, result, finished_at FROM background_jobs WHERE id = %s",
            (job_id,),
        )
        row = cursor.fetchone()
        assert row is not None
        return dict(zip(("status", "attempts", "result", "finished_at"), row, strict=True))


def starts(log: Path) -> list[str]:
    return log.read_text().split()[1::2] if log.exists() else []


def wait_until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def bridge_backends(url: str, network: Hosts) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE client_addr <<= %s::inet",
            (f"{network.gateway}/24",),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(240)
async def test_a_job_on_a_cut_off_host_is_taken_up_by_another_and_ends_once(
    network: Hosts, cluster: str, processes: Processes, tmp_path: Path
) -> None:
    local = cluster.format(host="127.0.0.1")
    for index in range(network.count):
        env = {
            **FAST,
            "DATABASE_URL": cluster.format(host=network.gateway),
            "PGSTACK_TEST_HOST": f"host-{index}",
        }
        processes.start("worker", env=env, prefix=network.exec_prefix(index))
    wait_until(lambda: bridge_backends(local, network) >= 3, "the workers never reached Postgres")

    log, release = tmp_path / "starts", tmp_path / "release"
    engine = create_async_engine(sqlalchemy_url(local))
    async with AsyncSession(engine, expire_on_commit=False) as session:
        job = await jobs.enqueue(
            session, "hosts:hold", None, {"log": str(log), "release": str(release)}
        )
        await session.commit()
    await engine.dispose()

    wait_until(lambda: len(starts(log)) == 1, "no host started the job")
    (first,) = starts(log)
    cut = int(first.removeprefix("host-"))
    network.cut(cut)
    # Its heartbeat stops; after WORKER_STALLED_AFTER another host's recovery requeues it.
    wait_until(lambda: len(starts(log)) == 2, "the job was never taken up elsewhere")
    second = starts(log)[1]
    assert second != first

    release.touch()
    wait_until(lambda: job_row(local, job.id)["status"] == "succeeded", "the job never ended")
    ended = job_row(local, job.id)
    assert ended["result"] == second
    assert ended["attempts"] == 2

    # The cut host comes back: its worker's copy of the job (which also saw `release`) cannot
    # end the job a second time.
    network.mend(cut)
    await asyncio.sleep(3)
    assert job_row(local, job.id) == ended
    assert starts(log) == [first, second]

    processes.stop()
    assert [p.returncode for p in processes.started if p.returncode is None] == []
    assert [network.pids(i) for i in range(network.count)] == [[], [], []]
    wait_until(
        lambda: bridge_backends(local, network) == 0,
        "connections of the stopped workers stayed open",
        timeout=20,
    )
