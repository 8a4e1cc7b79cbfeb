"""Per-user fairness: users take turns, and at most JOBS_MAX_ACTIVE_PER_USER of a user's jobs
run at once.

The turn (enqueue.py, `rank_queue_jobs`): a new queue job's Procrastinate priority becomes its
task's priority times 10,000, less its place in its user's own queue (the user's queued and
running jobs ahead of it). Procrastinate's fetch takes the highest priority first, then the
oldest, with its own index: so each user's first waiting job goes before anyone's second, a
user who queued a thousand jobs a minute ago does not delay one who queues ten now, and a
higher task priority still goes first (up to +-214,000, the int4 range over 10,000). A job
deferred without a row (periodic tasks) or retried through job_service keeps its task's
priority: the front of its priority, as it has waited once already.

The cap is enforced where jobs are taken, in the database: migration 0009 (its body revised by
0012) replaces Procrastinate's `procrastinate_fetch_job_v2` with a version that passes over a
job whose user already runs as many jobs as the job's `max_active_per_user` (written at
enqueue); the worker claims with 0013's `pgstack_fetch_jobs`, the same rules for every free
slot in one statement. Such a job stays `queued` and the fetch takes the next job in order,
so nobody else is held back; when one of the user's jobs ends, the worker's next fetch can
take the next of theirs.

Why the cap at fetch time, and not with Procrastinate's `lock` (one running job per lock): a
lock is a cap of one, and a lock per "slot" is not work-conserving (a slot's long job holds
back its queued jobs while another slot is free). Why not admission at enqueue (defer only while
the user is under the cap, defer the next one when a job ends): it keeps waiting jobs out of
Procrastinate, so their priority, queue and retry config would have to be replayed from a
trigger. The fetch is one function, and correct under concurrency: the user's running count is
re-checked under a per-user advisory lock held until the fetch commits, and the same
transaction marks the job running (the 'started' event's mirror trigger), so two workers
fetching for one user count one after the other (tests/shared/test_fairness.py: three worker
processes, the cap never exceeded). Why the turn in the priority and not in the fetch's ORDER
BY: ordering by a per-user rank there joins and sorts every waiting job at each fetch, where
the priority is read from Procrastinate's own index.

A cap alone does not make fast jobs fair: with jobs of a few milliseconds a heavy user rarely
has several running, and their thousand jobs, enqueued first, are still taken first. That is
what the turn is for. Measured by `bench/durable.py` (figures in docs/DESIGN.md, "Deviations
(as built)").

A kind may have a cap of its own, JOBS_MAX_ACTIVE_PER_KIND (JSON, `{"platforms:sync": 1}`):
at most that many of one user's jobs of that kind run at once, within the user's cap. It is
written on each job at enqueue as `max_active_per_kind` (migration 0012) and checked by the same
fetch, under the same lock. A kind without an entry has only the user's cap.
"""

from typing import Annotated, NamedTuple

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Enough for a person's demo, a few connections and a sync side by side.
DEFAULT_MAX_ACTIVE_PER_USER = 4


class FairnessSettings(BaseSettings):
    """JOBS_MAX_ACTIVE_PER_USER: 0 turns the cap off. JOBS_MAX_ACTIVE_PER_KIND: a JSON object
    of kind to cap (each at least 1)."""

    model_config = SettingsConfigDict(extra="ignore")

    max_active_per_user: int = Field(
        default=DEFAULT_MAX_ACTIVE_PER_USER, ge=0, validation_alias="JOBS_MAX_ACTIVE_PER_USER"
    )
    max_active_per_kind: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, validation_alias="JOBS_MAX_ACTIVE_PER_KIND"
    )


class Caps(NamedTuple):
    """The caps a new job carries (None: no such cap)."""

    per_user: int | None
    per_kind: int | None


def caps_for(user_id: int | None, kind: str) -> Caps:
    """The caps a new job of `kind` for `user_id` carries: none without a user."""
    if user_id is None:
        return Caps(None, None)
    settings = FairnessSettings()
    return Caps(settings.max_active_per_user or None, settings.max_active_per_kind.get(kind))
