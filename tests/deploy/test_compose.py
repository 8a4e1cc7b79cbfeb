"""compose.yaml, as Docker Compose resolves it (`docker-compose config`, Debian's
docker-compose package): Postgres, a one-shot migrate, three services, two workers, the web."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"auth": 8001, "demo": 8002, "jobs": 8003}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as Compose resolves it (anchors merged), after its own schema validation."""
    binary = shutil.which("docker-compose")
    assert binary, "the compose test needs Debian's docker-compose: apt-get install docker-compose"
    result = subprocess.run(
        [binary, "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


def test_services_start_only_after_the_migration_succeeded(compose: dict[str, Any]) -> None:
    """Postgres healthy -> migrate runs once -> services and workers start on its success."""
    services = compose["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in [*SERVICES, "worker-1", "worker-2"]:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name


def test_every_service_is_healthy_only_when_its_readyz_answers(compose: dict[str, Any]) -> None:
    """Each service serves on its port and its health check asks its own /readyz; the web app
    waits for all three to be healthy."""
    services = compose["services"]
    for name, port in SERVICES.items():
        service = services[name]
        assert service["command"][:2] == ["serve", name]
        assert service["command"][service["command"].index("--port") + 1] == str(port)
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert services["web"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in SERVICES
    }


def test_one_image_runs_every_python_process_and_workers_outlast_their_grace(
    compose: dict[str, Any],
) -> None:
    """Migrate, services and both workers run the one image; a stopped worker is given longer
    than WORKER_SHUTDOWN_GRACE before it is killed, so its running jobs finish."""
    services = compose["services"]
    python = [n for n in services if n not in {"postgres", "web"}]
    assert {services[n]["image"] for n in python} == {"pgstack:latest"}
    workers = [n for n in python if services[n]["command"] == ["worker"]]
    assert len(workers) == 2
    for name in workers:
        grace = float(services[name]["environment"]["WORKER_SHUTDOWN_GRACE"])
        stop_after = float(services[name]["stop_grace_period"].removesuffix("s"))
        assert stop_after > grace
