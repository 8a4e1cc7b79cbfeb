"""Every service's /metrics passes `promtool check metrics` (Prometheus's own linter of names,
units and types) and says what an operator graphs: request durations by route template and
status class, job wait and run times by kind, queue depth, age and load, worker heartbeats."""

import re
import shutil
import subprocess

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.app import create_app as create_auth
from auth_service.config import Settings as AuthSettings
from demo_service.app import create_app as create_demo
from demo_service.config import Settings as DemoSettings
from job_service.app import create_app as create_jobs
from tests.job_service.job_helpers import app_settings, running_worker
from tests.kit.jobs import enqueue, status_is
from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.kit.users import make_user
from tests.kit.waiting import eventually

PROMTOOL = shutil.which("promtool") or "promtool"  # Debian's `prometheus` (deploy/tools.sh)


def promtool_check(exposition: str) -> None:
    """`promtool check metrics` on one scrape: fails the test with promtool's complaints."""
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


Labels = frozenset[tuple[str, str]]
LABEL = re.compile(r'(\w+)="([^"]*)"')


def labels(**pairs: str) -> Labels:
    return frozenset(pairs.items())


def samples(exposition: str, name: str) -> dict[Labels, float]:
    """The samples of metric `name`: their labels -> value."""
    found = {}
    for line in exposition.splitlines():
        if line.startswith((name + "{", name + " ")):
            head, _, value = line.rpartition(" ")
            found[frozenset(LABEL.findall(head.removeprefix(name)))] = float(value)
    return found


def apps(db_url: str, passport_key: PassportKey) -> dict[str, FastAPI]:
    return {
        "auth": create_auth(AuthSettings(DATABASE_URL=db_url, PGSTACK_ENV="test")),
        "demo": create_demo(DemoSettings(DATABASE_URL=db_url, PASSPORT_JWKS=passport_key.jwks)),
        "job": create_jobs(app_settings(db_url, passport_key, metrics_refresh_seconds=0.1)),
    }


@pytest.mark.parametrize("service", ["auth", "demo", "job"])
async def test_each_service_exports_metrics_that_promtool_accepts(
    service: str, db_url: str, passport_key: PassportKey
) -> None:
    """A scrape after a few requests (one a 404 of a templated route) lints clean, and the
    request histogram has the route's template and the status class, never the raw path."""
    async with serving(apps(db_url, passport_key)[service]) as client:
        await client.get("/healthz")
        await client.get("/v1/jobs/00000000-0000-0000-0000-000000000000")
        exposition = (await client.get("/metrics")).text
    promtool_check(exposition)
    durations = samples(exposition, "pgstack_http_request_duration_seconds_count")
    healthz = labels(service=service, method="GET", route="/healthz", status="2xx")
    assert durations[healthz] >= 1
    assert not [key for key in durations if "00000000" in str(key)]
    if service == "job":
        job = labels(service="job", method="GET", route="/v1/jobs/{job_id}", status="4xx")
        assert durations[job] >= 1


async def _ran(client: AsyncClient, before: str, jobs: int) -> str | None:
    exposition = (await client.get("/metrics")).text
    grown = counted(before, exposition, "pgstack_job_run_seconds_count")
    return exposition if sum(grown.values()) >= jobs else None


def counted(before: str, after: str, name: str) -> dict[Labels, float]:
    """What `name`'s samples grew by between two scrapes (those that grew)."""
    old = samples(before, name)
    grown = {k: v - old.get(k, 0) for k, v in samples(after, name).items()}
    return {k: v for k, v in grown.items() if v}


async def _waiting(client: AsyncClient, jobs: int) -> str | None:
    exposition = (await client.get("/metrics")).text
    depth = samples(exposition, "pgstack_job_queue_depth").get(labels(queue="test"))
    return exposition if depth == jobs else None


async def test_job_metrics_show_waits_runs_queues_load_and_heartbeats(
    db_url: str, engine: AsyncEngine, passport_key: PassportKey
) -> None:
    """Three jobs waiting with no worker: depth 3, load 3 (nobody to share them), an age; once
    a worker ran them: its heartbeat, and wait and run histograms of their kind and outcome
    (one timed out); the whole scrape lints clean."""
    user_id = make_user(db_url)
    async with serving(apps(db_url, passport_key)["job"]) as client:
        jobs = [await enqueue(engine, "test:steps", user_id, {}) for _ in range(2)]
        jobs.append(await enqueue(engine, "test:slow", user_id, {"seconds": 5}))  # times out
        waiting = await eventually(lambda: _waiting(client, 3))
        assert samples(waiting, "pgstack_job_queue_depth") == {labels(queue="test"): 3}
        assert samples(waiting, "pgstack_job_queue_load") == {labels(queue="test"): 3}
        assert samples(waiting, "pgstack_job_oldest_waiting_seconds")[labels(queue="test")] >= 0
        async with running_worker(db_url):
            for job, status in zip(jobs, ("succeeded", "succeeded", "failed"), strict=True):
                await eventually(status_is(db_url, job.id, status))
            ran = await eventually(lambda: _ran(client, waiting, 3), within=15)
            assert samples(ran, "pgstack_workers") == {labels(): 1}
            assert samples(ran, "pgstack_database_up") == {labels(): 1}
            assert 0 <= samples(ran, "pgstack_worker_heartbeat_age_seconds")[labels()] < 10
    promtool_check(ran)
    # The histograms are the process's: other tests' apps may have counted jobs before.
    assert counted(waiting, ran, "pgstack_job_run_seconds_count") == {
        labels(kind="test:steps", status="succeeded"): 2,
        labels(kind="test:slow", status="failed"): 1,
    }
    assert counted(waiting, ran, "pgstack_job_wait_seconds_count") == {
        labels(kind="test:steps"): 2,
        labels(kind="test:slow"): 1,
    }
    assert 'pgstack_job_queue_depth{queue="test"}' not in ran  # nothing waits any more
