"""Logs: what a service writes about the requests it serves, as `pgstack serve` runs it."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.kit.passports import PassportKey
from tests.kit.processes import free_port
from tests.kit.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_access_log_names_the_path_without_its_query_string(db_url: str) -> None:
    """A query carries what users search for (an operator's search by email): the access
    line of each request says its method, path and status, never the query."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PASSPORT_JWKS": PassportKey().jwks,
        "PGSTACK_ENV": "test",
        "LOG_LEVEL": "INFO",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "deploy", "serve", "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, within=60, every=0.1, what="demo_service ready")
        searched = httpx.get(f"{base}/v1/platforms", params={"email": "someone@example.com"})
        assert searched.status_code == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    [access] = [line for line in output.splitlines() if '"GET /v1/platforms' in line]
    assert "401" in access
    assert "someone" not in output
