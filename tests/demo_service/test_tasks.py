"""demo_service's jobs in a real `pgstack worker` process, killed in the middle."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.demo_service.conftest import ClientFor
from tests.demo_service.kit import create_user, eventually, query, workspace

ROOT = Path(__file__).resolve().parents[2]

# Heartbeats and recovery in seconds rather than tens of seconds.
FAST_RECOVERY = {
    "WORKER_HEARTBEAT": "0.5",
    "WORKER_STALLED_AFTER": "2",
    "WORKER_RECOVER_CRON": "* * * * * *",
    "WORKER_POLL_SECONDS": "0.5",
}

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def worker_process(db_url: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m deploy worker` processes; any still running are killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "WARNING",
            "PGSTACK_ENV": "test",
            **FAST_RECOVERY,
            **extra,
        }
        process = subprocess.Popen([sys.executable, "-m", "deploy", "worker"], cwd=ROOT, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


async def enable_job(db_url: str, user_id: int) -> tuple[str, int, int]:
    """(status, progress, attempts) of the user's demo:enable job."""
    rows = await query(
        db_url,
        "SELECT status, progress_percent, attempts FROM background_jobs"
        " WHERE user_id = %s AND kind = 'demo:enable'",
        user_id,
    )
    return rows[0] if rows else ("none", 0, 0)


class TestCrash:
    async def test_a_worker_killed_mid_enable_is_recovered_into_exactly_oneworkspace(
        self,
        db_url: str,
        client_for: ClientFor,
        worker_process: Callable[..., subprocess.Popen[bytes]],
    ) -> None:
        user_id = await create_user(db_url)
        first = worker_process(DEMO_STEP_DELAY="1")  # about 5 s: time to kill it mid-way
        response = await client_for(user_id).post("/v1/demo/enable")
        assert response.status_code == 202

        async def mid_way() -> bool:  # platforms made, metrics under way
            status, progress, _ = await enable_job(db_url, user_id)
            return status == "running" and 20 <= progress < 100

        await eventually(mid_way, within=30)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        platforms, rows = await workspace(db_url, user_id)
        assert (platforms, rows < 360) == (4, True)  # a partial workspace was left behind

        worker_process(DEMO_STEP_DELAY="0")  # recovers the dead worker's job after 2 s

        async def enabled() -> bool:
            status = await query(
                db_url, "SELECT demo_mode_status FROM users WHERE id = %s", user_id
            )
            return status == [("enabled",)]

        await eventually(enabled, within=60)
        assert await workspace(db_url, user_id) == (4, 360)

        async def succeeded() -> bool:
            return (await enable_job(db_url, user_id))[0] == "succeeded"

        await eventually(succeeded, within=10)
        assert (await enable_job(db_url, user_id))[2] == 2
