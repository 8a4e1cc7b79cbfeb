"""Fixtures of the job tests; their helpers are in job_helpers.py."""

import sys
from pathlib import Path

import pytest

# The helpers and the test tasks are imported by name, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from job_helpers import PassportKey


@pytest.fixture(scope="session")
def passport_key() -> PassportKey:
    return PassportKey()
