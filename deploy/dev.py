"""`pgstack dev`: the whole stack on one machine, stopped as one by Ctrl-C or SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from deploy import migrate
from deploy.cli import SERVICES
from deploy.embedded import EmbeddedPostgres, NoPostgres

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
# Moves every port (8001.., 3000) by this much, so two stacks can run on one machine.
PORT_OFFSET = int(os.environ.get("PGSTACK_PORT_OFFSET", "0"))


def port(service: str) -> int:
    return SERVICES[service][1] + PORT_OFFSET


class Stack:
    """The child processes of the stack, started and stopped together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "deploy", *args], env=self.env, cwd=ROOT
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        pending = {name: f"http://127.0.0.1:{port(name)}/readyz" for name in SERVICES}
        with httpx.Client(timeout=1) as client:
            while pending:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {READY_TIMEOUT:.0f} s: {sorted(pending)}")
                for name, url in list(pending.items()):
                    try:
                        if client.get(url).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with status {process.returncode}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> int:
    embedded: EmbeddedPostgres | None = None
    started_here = False
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        try:
            embedded = EmbeddedPostgres(Path(os.environ.get("PGSTACK_HOME", ROOT / ".pgstack")))
        except NoPostgres as exc:
            print(f"pgstack dev: {exc}", file=sys.stderr)
            return 1
        # Leave a cluster that was already running (another stack, the tests) running.
        started_here = not embedded.running()
        database_url = embedded.start()
    print(f"database  {database_url}", flush=True)
    migrate.upgrade(database_url)

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PGSTACK_ENV": os.environ.get("PGSTACK_ENV", "development"),
    }
    stack = Stack(env)
    # SIGTERM stops the stack exactly as Ctrl-C does, at whatever point it arrives.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for name in SERVICES:
            stack.start(name, "serve", name, "--port", str(port(name)))
        stack.start("worker", "worker")
        stack.wait_ready()
        for name in SERVICES:
            print(f"{name:<9} http://127.0.0.1:{port(name)}  (docs: /docs)", flush=True)
        print("ready: Ctrl-C stops everything", flush=True)
        while True:
            stack.check_alive()
            time.sleep(0.2)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"pgstack dev: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not leave children behind half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        if embedded is not None and started_here:
            embedded.stop()
        print("stopped", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
