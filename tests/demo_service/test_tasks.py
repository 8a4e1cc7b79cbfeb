"""demo_service's jobs in a real `pgstack worker` process, killed in the middle."""

import asyncio
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.demo_service.conftest import ClientFor
from tests.demo_service.kit import query, workspace
from tests.kit.users import make_user
from tests.kit.waiting import eventually
from tests.kit.workers import FAST_RECOVERY, worker_processes

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def worker_process(db_url: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m deploy worker` processes; any still running are killed afterwards."""
    with worker_processes(db_url, PGSTACK_ENV="test", **FAST_RECOVERY) as processes:
        yield processes.start


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
        user_id = make_user(db_url)
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
