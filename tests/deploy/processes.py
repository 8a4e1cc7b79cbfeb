"""Real `pgstack` processes for the deploy tests: services on free ports, workers, the CLI.

Imported as `tests.deploy.processes`. Every process started through a `Processes` is stopped
(SIGTERM, then SIGKILL) when the test ends, so none outlives it.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pgstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one `pgstack` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "deploy", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    """Development settings on plain http, quiet logs."""
    return {
        "DATABASE_URL": database_url,
        "PGSTACK_ENV": "development",
        "AUTH_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "JOBS_READY_WITHOUT_WORKERS": "true",
        **extra,
    }


class Processes:
    """The processes one test started."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, *args: str, env: dict[str, str], prefix: tuple[str, ...] = ()
    ) -> subprocess.Popen[bytes]:
        """Start `pgstack ARGS` (behind `prefix`, e.g. `ip netns exec NAME`)."""
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "deploy", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )
        self.started.append(process)
        return process

    def serve(self, service: str, env: dict[str, str]) -> str:
        """Start `pgstack serve SERVICE` on a free port; returns its base URL."""
        port = free_port()
        self.start("serve", service, "--port", str(port), env=env)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def check_alive(self) -> None:
        for process in self.started:
            assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"


def wait_for_status(url: str, status: int, processes: Processes, timeout: float = 120) -> None:
    """Poll `url` until it answers `status`, while the processes stay up (generous: on a
    loaded 2-core machine, starting four Python processes takes tens of seconds)."""
    deadline = time.monotonic() + timeout
    last: object = None
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            processes.check_alive()
            try:
                last = client.get(url)
                if last.status_code == status:
                    return
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}; last: {last!r}")
