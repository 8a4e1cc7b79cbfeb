"""Fault tests: real processes on a private PostgreSQL cluster each test module owns, so
restarting or stopping the server touches no other test."""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.processes import ROOT, Cluster


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster of this module's own (initdb into a folder of its own), migrated to the head.

    Under `.pgstack/` rather than pytest's temporary folder: pytest makes that private to its
    user (0700) at every session start, and the server's own account must reach its data.
    """
    root = ROOT / ".pgstack" / "faults" / uuid.uuid4().hex[:12]
    cluster = Cluster(root)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
