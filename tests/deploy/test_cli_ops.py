"""`pgstack status` and `pgstack jobs` against a real stack: the three services as `pgstack
serve` processes, worker processes (one SIGKILLed with a job running), jobs in each state."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import sqlalchemy_url
from tests.job_service import job_test_tasks
from tests.job_service.ops_jobs import OpsJobs, make_ops_jobs
from tests.kit.jobs import enqueue, job_row, status_is
from tests.kit.passports import PassportKey
from tests.kit.processes import ROOT, Cluster, Processes, free_port
from tests.kit.waiting import eventually, wait_for


@dataclass(frozen=True)
class Stack:
    cluster: Cluster
    processes: Processes
    jobs: OpsJobs

    def pgstack(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        """`pgstack <args>` as an operator runs it beside the stack."""
        return subprocess.run(
            [sys.executable, "-m", "deploy", *args],
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": self.cluster.url,
                "PGSTACK_ENV": "development",
                "AUTH_URL": self.processes.url("auth"),
                "DEMO_URL": self.processes.url("demo"),
                "JOBS_URL": self.processes.url("jobs"),
                # A heartbeat a second old is stale: the killed worker's job is stuck at once.
                "JOBS_WORKER_HEARTBEAT_FRESH_SECONDS": "1",
                "WORKER_IMPORT_PATHS": job_test_tasks.__name__,
                "COLUMNS": "200",
                **env,
            },
        )

    def status(self, **env: str) -> tuple[int, dict[str, Any]]:
        done = self.pgstack("status", "--json", **env)
        return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    root = ROOT / ".pgstack" / "ops" / uuid.uuid4().hex[:12]
    cluster = Cluster(root)
    logs = tmp_path_factory.mktemp("logs")
    processes = Processes(
        cluster,
        logs,
        PassportKey(),
        JOBS_READY_WITHOUT_WORKERS="true",
        WORKER_IMPORT_PATHS=job_test_tasks.__name__,
    )
    engine = create_async_engine(sqlalchemy_url(cluster.url))
    try:
        jobs = await make_ops_jobs(cluster.url, engine, str(tmp_path_factory.mktemp("ops")))
        processes.start_services()
        yield Stack(cluster, processes, jobs)
    finally:
        await engine.dispose()
        processes.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def live_worker(stack: Stack) -> None:
    """A worker that runs from here on (the stack stops it): it recovers the stuck job and
    runs retried ones."""
    stack.processes.start_worker()


class TestStatus:
    def test_a_stuck_job_and_no_live_worker_make_status_unhealthy(self, stack: Stack) -> None:
        """Every service is ready, but the killed worker's job is stuck and no heartbeat is
        fresh: exit status 1, and the JSON says why and counts each queue's jobs."""
        code, report = stack.status()
        assert code == 1
        assert report["healthy"] is False
        assert {name: s["ready"] for name, s in report["services"].items()} == {
            "auth": True,
            "demo": True,
            "jobs": True,
        }
        assert "no worker has a fresh heartbeat" in report["problems"]
        assert "1 stuck job(s) on queue test" in report["problems"]
        [test_queue] = [q for q in report["queues"] if q["queue"] == "test"]
        assert (test_queue["waiting"], test_queue["running"], test_queue["stuck"]) == (1, 1, 1)
        assert (test_queue["succeeded_last_hour"], test_queue["failed_last_hour"]) == (1, 1)
        assert [(w["fresh"], w["running"]) for w in report["workers"]] == [(False, 1)]

    def test_the_table_shows_each_service_worker_and_queue(self, stack: Stack) -> None:
        done = stack.pgstack("status")
        assert done.returncode == 1
        for text in ("Services", "Workers", "Queues", "unhealthy: 1 stuck job(s) on queue test"):
            assert text in done.stdout, done.stdout

    def test_with_a_live_worker_the_stack_is_healthy_until_a_service_is_down(
        self, stack: Stack, live_worker: None
    ) -> None:
        """The worker recovers the stuck job (it runs again on a live worker): exit 0. A
        service that does not answer makes it 1 again."""

        def healthy() -> dict[str, Any] | None:
            code, report = stack.status()
            return report if code == 0 else None

        wait_for(healthy, within=60, what="a healthy stack")
        code, down = stack.status(DEMO_URL=f"http://127.0.0.1:{free_port()}")
        assert code == 1
        assert down["problems"] == ["demo is not ready"]


class TestJobs:
    def test_ls_finds_a_users_failed_job_by_email_status_and_kind(self, stack: Stack) -> None:
        done = stack.pgstack(
            "jobs", "ls", "--user", stack.jobs.failed_owner, "--status", "failed", "--json"
        )
        assert done.returncode == 0, done.stderr
        [job] = json.loads(done.stdout)
        assert (job["id"], job["kind"], job["user_email"]) == (
            str(stack.jobs.failed),
            "test:broken",
            stack.jobs.failed_owner,
        )
        other_kind = stack.pgstack("jobs", "ls", "--kind", "test:steps", "--since", "1h", "--json")
        assert str(stack.jobs.failed) not in other_kind.stdout
        assert str(stack.jobs.succeeded) in other_kind.stdout
        future = stack.pgstack("jobs", "ls", "--since", "2999-01-01", "--json")
        assert json.loads(future.stdout) == []
        bad = stack.pgstack("jobs", "ls", "--since", "yesterday")
        assert bad.returncode == 2
        assert "neither a duration" in bad.stderr

    def test_show_prints_the_error_message(self, stack: Stack) -> None:
        done = stack.pgstack("jobs", "show", str(stack.jobs.failed))
        assert done.returncode == 0, done.stderr
        assert "the disk is full (final)" in done.stdout
        missing = stack.pgstack("jobs", "show", str(uuid.uuid4()))
        assert missing.returncode == 1

    async def test_bulk_retry_asks_first_and_retries_on_yes(
        self, stack: Stack, live_worker: None
    ) -> None:
        """Answering no leaves the failed job alone; yes (or --yes) sends it back to the
        queue, and the worker runs it (it fails again)."""
        args = ["jobs", "retry", "--user", stack.jobs.failed_owner]
        refused = stack.pgstack(*args, stdin="n\n")
        assert refused.returncode == 1
        assert "retry 1 job(s)?" in refused.stdout
        assert job_row(stack.cluster.url, stack.jobs.failed)["status"] == "failed"
        accepted = stack.pgstack(*args, stdin="y\n")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert "retry: 1 of 1 job(s)" in accepted.stdout
        row = await eventually(status_is(stack.cluster.url, stack.jobs.failed, "failed"), within=60)
        assert row["attempts"] >= 2
        again = stack.pgstack(*args, "--status", "succeeded", "--yes")
        assert "no job to retry" in again.stdout

    async def test_cancel_by_id_and_a_finished_job_is_refused(
        self, stack: Stack, live_worker: None, tmp_path: Path
    ) -> None:
        """A running job is asked to stop (`cancelling`, then `cancelled`); cancelling a
        succeeded job is refused with exit status 1."""
        engine = create_async_engine(sqlalchemy_url(stack.cluster.url))
        try:
            job = await enqueue(engine, "test:wait_for_file", None, {"path": f"{tmp_path}/x"})
        finally:
            await engine.dispose()
        await eventually(status_is(stack.cluster.url, job.id, "running"), within=60)
        running = stack.pgstack("jobs", "cancel", str(job.id))
        assert running.returncode == 0, running.stdout + running.stderr
        assert f"{job.id}: cancelling" in running.stdout
        await eventually(status_is(stack.cluster.url, job.id, "cancelled"), within=60)
        finished = stack.pgstack("jobs", "cancel", str(stack.jobs.succeeded))
        assert finished.returncode == 1
        assert "finished" in finished.stdout

    def test_prune_deletes_only_finished_jobs_older_than_asked(self, stack: Stack) -> None:
        """`--older-than 1d` finds nothing yet; `0s` deletes the succeeded job, and a waiting
        or running job of the same kind stays."""
        assert "no finished job" in stack.pgstack("jobs", "prune", "--older-than", "1d").stdout
        done = stack.pgstack("jobs", "prune", "--kind", "test:steps", "--older-than", "0s", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "pruned" in done.stdout
        ids = {
            row["id"]
            for row in stack.cluster.query(
                "SELECT id FROM background_jobs WHERE kind = 'test:steps'"
            )
        }
        assert stack.jobs.succeeded not in ids
