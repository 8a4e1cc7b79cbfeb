"""`pgstack dev` from nothing: its own cluster, ready services, and nothing left after Ctrl-C."""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def home() -> Iterator[Path]:
    """The embedded cluster's folder, under the checkout's `.pgstack/` rather than pytest's
    temporary folder: every pytest session that starts on the machine makes that one's parent
    0700 again, and then the cluster's owner could no longer reach its own data to stop it."""
    folder = ROOT / ".pgstack" / f"dev-test-{uuid.uuid4().hex[:8]}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(120)
def test_dev_reaches_ready_and_ctrl_c_leaves_nothing_running(home: Path) -> None:
    """Started the way a shell starts a background job (`make dev &`, CI under nohup), with
    SIGINT handed down ignored: Ctrl-C (SIGINT) still stops everything."""
    offset = random.randrange(1000, 20000, 10)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # The web app is covered by tests/e2e, which run `pgstack dev` with it.
    env |= {
        "PGSTACK_HOME": str(home),
        "PGSTACK_PORT_OFFSET": str(offset),
        "PGSTACK_WEB": "0",
    }
    ports = [8001 + offset, 8002 + offset, 8003 + offset]
    with subprocess.Popen(
        ["bash", "-c", 'trap "" INT; exec "$0" -m deploy dev', sys.executable],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as dev:
        assert dev.stdout is not None
        lines = []
        for line in dev.stdout:
            lines.append(line)
            if line.startswith("ready"):
                break
        assert any(line.startswith("ready") for line in lines), lines
        # The demo account's login is printed, for a first look at the app.
        assert any(line.startswith("login ") and " / " in line for line in lines), lines
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 4  # three services and a worker
        for port in ports:
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200

        dev.send_signal(signal.SIGINT)
        try:
            assert dev.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            # Say which children kept it waiting, then leave nothing behind.
            left = [(c.pid, c.cmdline()[:4]) for c in children if c.is_running()]
            dev.kill()
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            pytest.fail(f"pgstack dev still running 30 s after Ctrl-C; children left: {left}")

    time.sleep(0.2)
    assert [c.pid for c in children if c.is_running() and c.status() != "zombie"] == []
    assert [p for p in ports if port_open(p)] == []
    # The embedded cluster it started is stopped too, its data kept for the next run.
    assert not (home / "data" / "postmaster.pid").exists()
    assert (home / "data" / "PG_VERSION").exists()
