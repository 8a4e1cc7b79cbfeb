"""`pgstack dev`: the whole stack on one machine, stopped as one by Ctrl-C or SIGTERM.

A database, the migrations, the three services, a worker and, when Node.js 20+ is installed,
the reference web app (`web/`, built if its sources changed) on http://localhost:3000.
`PGSTACK_WEB=0` leaves the web app out.
"""

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import httpx

from auth_service.demo_user import ensure_demo_user
from deploy import migrate
from deploy.embedded import EmbeddedPostgres, NoPostgres
from deploy.services import SERVICES

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
# What `npm run build` makes: the app as the image ships it, started with `node server.mjs`.
WEB_SERVER = WEB / ".next" / "standalone"
WEB_PORT = 3000
READY_TIMEOUT = 60.0
# Moves every port (8001.., 3000) by this much, so two stacks can run on one machine.
PORT_OFFSET = int(os.environ.get("PGSTACK_PORT_OFFSET", "0"))
# What `next build` reads; a change to anything else in web/ does not need a new build.
_WEB_IGNORED = {"node_modules", ".next", "next-env.d.ts", "tsconfig.tsbuildinfo", ".build.lock"}


def port(service: str) -> int:
    return SERVICES[service][1] + PORT_OFFSET


def web_port() -> int:
    return WEB_PORT + PORT_OFFSET


def node_major() -> int | None:
    """The installed Node.js major version, or None without Node.js."""
    node = shutil.which("node")
    if node is None:
        return None
    with contextlib.suppress(OSError, subprocess.CalledProcessError, ValueError):
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().lstrip("v").split(".")[0])
    return None


def web_wanted() -> bool:
    return os.environ.get("PGSTACK_WEB", "1") != "0" and (node_major() or 0) >= 20


def _digest(paths: Iterator[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(WEB)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _web_sources() -> Iterator[Path]:
    for path in WEB.rglob("*"):
        relative = path.relative_to(WEB).parts
        if path.is_file() and not _WEB_IGNORED.intersection(relative):
            yield path


@contextlib.contextmanager
def _web_lock() -> Iterator[None]:
    """One install or build at a time in web/ (a `make dev` and the e2e tests may race)."""
    with (WEB / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_web() -> None:
    """`npm ci` when the lock file changed, `next build` when the sources changed."""
    with _web_lock():
        lock_hash = hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()
        installed = WEB / "node_modules" / ".pgstack-lock-hash"
        if not installed.exists() or installed.read_text() != lock_hash:
            print("web       npm ci", flush=True)
            _npm("ci", "--no-audit", "--no-fund")
            installed.write_text(lock_hash)
        built = WEB / ".next" / "pgstack-source-hash"
        if not built.exists() or built.read_text() != _digest(_web_sources()):
            print("web       next build", flush=True)
            _npm("run", "build")
            # Hashed after the build, which may touch sources (tsconfig.json, next-env.d.ts).
            built.write_text(_digest(_web_sources()))


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
    result = subprocess.run([npm, *args], cwd=WEB, env=env, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"npm {' '.join(args)} failed (status {result.returncode})")


def stack_env(database_url: str) -> dict[str, str]:
    """The children's environment: development settings for plain http on this machine."""
    web_origin = f"http://localhost:{web_port()}"
    defaults = {
        "PGSTACK_ENV": "development",
        # The browser reaches the web app over plain http://localhost: cookie `session`, no Secure.
        "AUTH_COOKIE_SECURE": "false",
        # Browsers without Sec-Fetch-Site still get in from the web app's own pages.
        "AUTH_ALLOWED_ORIGINS": f"{web_origin},http://127.0.0.1:{web_port()}",
        # The web app forwards the browser's address (X-Forwarded-For) for login throttling.
        "AUTH_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
        "PASSPORT_JWKS_URL": f"http://127.0.0.1:{port('auth')}/.well-known/jwks.json",
    }
    return {
        **defaults,
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTH_URL": f"http://127.0.0.1:{port('auth')}",
        "DEMO_URL": f"http://127.0.0.1:{port('demo')}",
        "JOBS_URL": f"http://127.0.0.1:{port('jobs')}",
    }


class Stack:
    """The child processes of the stack, started and stopped together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ready_urls = {name: f"http://127.0.0.1:{port(name)}/readyz" for name in SERVICES}

    def start(self, name: str, *args: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "deploy", *args], env=self.env, cwd=ROOT
        )

    def start_web(self) -> None:
        env = {**self.env, "NODE_ENV": "production", "NEXT_TELEMETRY_DISABLED": "1"}
        # The production build as the image runs it (web/server.mjs in the standalone output:
        # it sets the client's address itself). Loopback only: the stack is for this machine.
        env.update(PORT=str(web_port()), HOSTNAME="127.0.0.1")
        command = [shutil.which("node") or "node", "server.mjs"]
        self.processes["web"] = subprocess.Popen(command, env=env, cwd=WEB_SERVER)
        self.ready_urls["web"] = f"http://127.0.0.1:{web_port()}/login"

    def wait_ready(self, *names: str) -> None:
        """Wait until these (default: all) children answer their readiness URL."""
        deadline = time.monotonic() + READY_TIMEOUT
        pending = {n: url for n, url in self.ready_urls.items() if not names or n in names}
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
    email, password = asyncio.run(ensure_demo_user(database_url))

    stack = Stack(stack_env(database_url))
    with_web = web_wanted()
    # SIGTERM stops the stack exactly as Ctrl-C does, at whatever point it arrives. SIGINT is
    # set too: a shell starting `make dev &` hands it down ignored, and Python then keeps it so.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        # auth first: demo and jobs fetch its public keys (JWKS) as they start.
        stack.start("auth", "serve", "auth", "--port", str(port("auth")))
        stack.wait_ready("auth")
        for name in [n for n in SERVICES if n != "auth"]:
            stack.start(name, "serve", name, "--port", str(port(name)))
        stack.start("worker", "worker")
        if with_web:
            # Built while the services start.
            build_web()
            stack.start_web()
        elif os.environ.get("PGSTACK_WEB", "1") != "0":
            print("web       skipped: needs Node.js 20 or later (nodejs.org)", flush=True)
        stack.wait_ready()
        for name in SERVICES:
            print(f"{name:<9} http://127.0.0.1:{port(name)}  (docs: /docs)", flush=True)
        if with_web:
            print(f"web       http://localhost:{web_port()}", flush=True)
        print(f"login     {email} / {password}", flush=True)
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
