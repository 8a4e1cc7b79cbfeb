"""deploy/tools.sh: a system package the targets need and cannot install is named, with how."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_package_it_cannot_install_is_named_with_the_command_to_install_it(
    tmp_path: Path,
) -> None:
    """Without Chromium on PATH and without apt-get to fetch it, `make test` stops at once and
    says what to install, instead of failing later in a browser test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):  # all the script runs besides bash's builtins
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "deploy" / "tools.sh"), "test"],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("tools: missing")
    assert "chromium" in message.partition("install with: sudo apt-get install")[2]
