"""Every Procrastinate internal that deploy/worker.py's loop relies on, pinned: an upgrade of
Procrastinate that changes one fails here, naming it, before a worker misbehaves.

The loop subclasses Procrastinate's `Worker`: it replaces the fetch, the storing of outcomes
and the shutdown, and keeps running a job (`_process_job`) and the run loop that calls them.
Those methods' bodies are pinned by digest (a change means: read it, then re-pin); the private
attributes it uses by name; the SQL functions and columns by their signatures in the database.
"""

import hashlib
import inspect

import psycopg
import pytest
from procrastinate import jobs, worker

# Procrastinate 3.10.0. A digest that changed: compare the method with the one deploy/worker.py
# overrides or relies on, adapt the override, and pin the new digest.
PINNED_METHODS = {
    # calls _fetch_and_process_jobs, makes _job_semaphore and _running_jobs, waits on
    # _new_job_event, then _shutdown(side_tasks)
    "_run_loop": "c92ccad5fa07f7a1",
    # replaced by Worker._claim_and_process_jobs (the same contract: returns when idle)
    "_fetch_and_process_jobs": "2963aa354dfda4d6",
    # kept: runs the middleware and the task, then awaits _persist_job_status(...)
    "_process_job": "55a67c0ff525add9",
    # replaced: outcomes are stored in batches
    "_persist_job_status": "821921c86130d151",
    # replaced: the same steps, with the outcomes stored before unregistering
    "_shutdown": "7e40cbd5efe3acf5",
    "_abort_running_jobs": "fd29180651aa4832",
    # sets the attributes below
    "__init__": "3d3b1c8f6b4248c7",
}


@pytest.mark.parametrize("name", sorted(PINNED_METHODS))
def test_the_worker_methods_the_loop_overrides_or_relies_on_are_unchanged(name: str) -> None:
    source = inspect.getsource(getattr(worker.Worker, name))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == PINNED_METHODS[name], (
        f"procrastinate's Worker.{name} changed: check deploy/worker.py against it"
    )


def test_the_persist_hook_is_called_with_the_arguments_the_loop_takes() -> None:
    parameters = list(inspect.signature(worker.Worker._persist_job_status).parameters)
    assert parameters == ["self", "job", "status", "retry_decision", "context", "job_result"]
    assert {status.value for status in jobs.Status} >= {"succeeded", "failed", "aborted"}


def test_the_private_attributes_the_loop_uses_are_still_set() -> None:
    init = inspect.getsource(worker.Worker.__init__)
    run_loop = inspect.getsource(worker.Worker._run_loop)
    for attribute in (
        "self._job_semaphore",
        "self._job_ids_to_abort",
        "self._new_job_event",
        "self._stop_event",
        "self.worker_id",
        "self.additional_context",
        "self.shutdown_graceful_timeout",
    ):
        assert attribute in init, attribute
    assert "self._running_jobs = {}" in run_loop
    assert "self._job_semaphore = asyncio.Semaphore(self.concurrency)" in run_loop


def test_a_claimed_row_has_every_key_a_job_is_made_from(db_url: str) -> None:
    """`Job.from_row` reads these keys; `claim_jobs` (deploy/worker.sql) selects them."""
    needed = {"id", "status", "priority", "lock", "queueing_lock", "task_name", "args"}
    needed |= {"scheduled_at", "queue_name", "attempts"}
    assert needed <= set(inspect.getsource(jobs.Job.from_row).split('"')[1::2])
    with psycopg.connect(db_url) as conn:
        cursor = conn.execute("SELECT * FROM pgstack_fetch_jobs(NULL, NULL, 0)")
        columns = {column.name for column in cursor.description or []}
    assert needed | {"worker_id"} <= columns


def test_the_queue_functions_and_sequence_the_loop_and_enqueue_call_exist(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        functions = {
            row[0]
            for row in conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc AS p"
                " WHERE p.proname LIKE 'procrastinate\\_%'"
            )
        }
        sequence = conn.execute("SELECT to_regclass('procrastinate_jobs_id_seq')").fetchone()
    assert {
        "procrastinate_finish_job_v1(bigint,procrastinate_job_status,boolean)",
        "procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,"
        "character varying,character varying)",
        "procrastinate_fetch_job_v2(character varying[],bigint)",
    } <= functions
    assert sequence == ("procrastinate_jobs_id_seq",)
