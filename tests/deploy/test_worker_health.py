"""The worker's probes (WORKER_HEALTH_PORT): alive while its loop runs, ready while its own
pool reaches the database."""

import httpx

from deploy import worker_health
from shared import queue
from tests.deploy.processes import free_port


async def probe(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def test_the_probes_answer_ready_while_the_database_answers(db_url: str) -> None:
    """/healthz and /readyz are 200 on a worker's pool that reaches Postgres; other paths 404."""
    port = free_port()
    async with queue.opened(db_url) as app, worker_health.serving("127.0.0.1", port, app):
        assert (await probe(port, "/healthz")).status_code == 200
        ready = await probe(port, "/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert (await probe(port, "/metrics")).status_code == 404


async def test_readyz_is_503_while_the_database_is_out_of_reach(db_url: str) -> None:
    """A worker whose database does not answer is alive (no restart) but not ready."""
    port = free_port()
    unreachable = f"postgresql://pgstack@127.0.0.1:{free_port()}/nowhere?connect_timeout=1"
    async with queue.opened(unreachable) as app, worker_health.serving("127.0.0.1", port, app):
        assert (await probe(port, "/healthz")).status_code == 200
        ready = await probe(port, "/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
