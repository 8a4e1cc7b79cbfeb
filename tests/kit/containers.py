"""The stack from the images a user deploys (`make images`: localhost/pgstack and
localhost/pgstack-web): migrate, the three services, a worker and the web app as podman
containers on the host's network, each on a free port, over a database the caller gives.

Each container runs as its Kubernetes pod does: a read-only root file system with a writable
/tmp (and the web app's cache), no capabilities, no privilege escalation. Every container is
removed when the block ends, whatever happened in it; its log is kept in `log_dir`.
"""

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from auth_service.demo_user import ensure_demo_user
from tests.kit.stack import Stack
from tests.kit.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# Written by deploy/images.sh: ulimits that runc can set on this machine.
CONTAINERS_CONF = ROOT / ".pgstack" / "images" / "containers.conf"
READY_TIMEOUT = 90.0
# What Kubernetes' securityContext of every pgstack pod (deploy/k8s/base) allows.
RESTRICTED = ["--read-only", "--tmpfs", "/tmp", "--cap-drop=ALL"]
RESTRICTED += ["--security-opt", "no-new-privileges"]


def build_images(tag: str) -> float:
    """`deploy/images.sh tag` (the script `make images` runs); returns the seconds it took."""
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / "deploy" / "images.sh"), tag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return time.monotonic() - started


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (held together while chosen, so they differ)."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


class Containers:
    """The containers of one stack, by name, removed together."""

    def __init__(self, tag: str, log_dir: Path) -> None:
        self.tag = tag
        self.log_dir = log_dir
        self.prefix = f"pgstack-test-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def run(self, name: str, image: str, env: dict[str, str], *args: str, detach: bool) -> str:
        """`podman run` of `image` as container `<prefix>-<name>`; its output when not detached."""
        container = f"{self.prefix}-{name}"
        self.names.append(container)
        options = [f"--name={container}", "--network=host", *RESTRICTED]
        if image == "pgstack-web":
            options += ["--tmpfs", "/web/.next/cache"]
        for key, value in env.items():
            options += ["--env", f"{key}={value}"]
        command = [*options, f"localhost/{image}:{self.tag}", *args]
        result = podman("run", *(["--detach"] if detach else []), *command)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        return result.stdout

    def running(self, name: str) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", f"{self.prefix}-{name}")
        return state.stdout.strip() == "true"

    def remove(self) -> None:
        """Keep each container's log, then remove them all (running or not)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for container in self.names:
            log = podman("logs", container)
            (self.log_dir / f"{container}.log").write_text(log.stdout + log.stderr)
        if self.names:
            podman("rm", "--force", "--time", "2", *self.names)


@dataclass(frozen=True)
class ContainerStack(Stack):
    containers: Containers

    def stop(self, *names: str) -> None:
        """Stop these containers (SIGTERM, then SIGKILL after 2 s), as an outage would."""
        for name in names:
            result = podman("stop", "--time", "2", f"{self.containers.prefix}-{name}")
            assert result.returncode == 0, result.stderr

    def start(self, *names: str) -> None:
        """Start stopped containers again and wait until each answers /readyz."""
        for name in names:
            result = podman("start", f"{self.containers.prefix}-{name}")
            assert result.returncode == 0, result.stderr
        urls = {"demo": self.demo, "jobs": self.jobs, "auth": self.auth}
        wait_ready(self.containers, {name: f"{urls[name]}/readyz" for name in names})


def wait_ready(containers: Containers, urls: dict[str, str]) -> None:
    """Until every URL answers 200; fails at once when its container has stopped."""

    def ready() -> bool:
        for name, url in urls.items():
            assert containers.running(name), f"{name} stopped (log in {containers.log_dir})"
            try:
                if httpx.get(url, timeout=2).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
        return True

    wait_for(ready, within=READY_TIMEOUT, every=0.3, what=f"{sorted(urls)} ready")


@contextmanager
def running_images(
    database_url: str, log_dir: Path, *, tag: str, **env: str
) -> Iterator["ContainerStack"]:
    """The stack from the images on `database_url` (migrated here by the image's `migrate`)
    until the block ends. `env` is added to every Python container's environment."""
    auth_port, demo_port, jobs_port, web_port = free_ports(4)
    web = f"http://localhost:{web_port}"
    urls = {
        "auth": f"http://127.0.0.1:{auth_port}",
        "demo": f"http://127.0.0.1:{demo_port}",
        "jobs": f"http://127.0.0.1:{jobs_port}",
    }
    python_env = {
        "DATABASE_URL": database_url,
        # Plain http on this machine, as compose.yaml: development settings.
        "PGSTACK_ENV": "development",
        "AUTH_COOKIE_SECURE": "false",
        "AUTH_ALLOWED_ORIGINS": f"{web},http://127.0.0.1:{web_port}",
        # On the host's network the web container's requests come from loopback.
        "AUTH_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
        "PASSPORT_JWKS_URL": f"{urls['auth']}/.well-known/jwks.json",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    containers = Containers(tag, log_dir)
    try:
        containers.run("migrate", "pgstack", python_env, "migrate", detach=False)
        # The account `pgstack dev` prints, so a Stack here is one there.
        demo_login = asyncio.run(ensure_demo_user(database_url))
        ports = {"auth": auth_port, "demo": demo_port, "jobs": jobs_port}
        # auth first: demo and jobs fetch its key set as they start.
        for name in ports:
            serve = ["serve", name, "--host", "127.0.0.1", "--port", str(ports[name])]
            containers.run(name, "pgstack", python_env, *serve, detach=True)
            if name == "auth":
                wait_ready(containers, {"auth": f"{urls['auth']}/readyz"})
        containers.run("worker", "pgstack", python_env, "worker", detach=True)
        web_env = {
            "AUTH_URL": urls["auth"],
            "DEMO_URL": urls["demo"],
            "JOBS_URL": urls["jobs"],
            "PORT": str(web_port),
            "HOSTNAME": "127.0.0.1",
            "WEB_ORIGIN": web,
            "WEB_TRUSTED_HOPS": "0",
        }
        containers.run("web", "pgstack-web", web_env, detach=True)
        wait_ready(
            containers,
            {name: f"{url}/readyz" for name, url in urls.items()}
            | {"web": f"http://127.0.0.1:{web_port}/readyz"},
        )
        yield ContainerStack(
            web=web,
            auth=urls["auth"],
            demo=urls["demo"],
            jobs=urls["jobs"],
            database_url=database_url,
            demo_login=demo_login,
            containers=containers,
        )
    finally:
        containers.remove()
