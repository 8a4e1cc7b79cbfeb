"""job_service as `pgstack serve jobs` runs it: it knows every service's kinds, though no
service imports another."""

import os
import subprocess
import sys

from deploy.services import SERVICES

# In a fresh process, what the served factory registers once uvicorn calls it: the namespaces
# of the known kinds (Procrastinate's own `builtin:` tasks aside). Building the app connects
# to nothing: the database named is never reached.
UNREACHED = "postgresql://postgres@127.0.0.1:1/unreached"
PROBE = """
import importlib, sys
from shared import queue
module, _, factory = sys.argv[1].partition(":")
getattr(importlib.import_module(module), factory)()
kinds = [name for name in queue.app.tasks if ":" in name]
print(" ".join(sorted({kind.partition(":")[0] for kind in kinds} - {"builtin"})))
"""


def test_the_served_job_service_can_enqueue_and_retry_every_services_jobs() -> None:
    """A retry of a demo job or an internal enqueue of an auth task finds its kind (its queue,
    lock and retry policy), where job_service alone knows only its own."""
    served = subprocess.run(
        [sys.executable, "-c", PROBE, SERVICES["jobs"][0]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DATABASE_URL": UNREACHED},
    )
    alone = subprocess.run(
        [sys.executable, "-c", PROBE, "job_service.app:create_app"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DATABASE_URL": UNREACHED},
    )
    assert served.stdout.split() == ["auth", "demo", "jobs"]
    assert alone.stdout.split() == ["jobs"]
