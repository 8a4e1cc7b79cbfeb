"""Per-user fairness: at most JOBS_MAX_ACTIVE_PER_USER of a user's jobs run at once.

The cap is enforced where jobs are taken, in the database: migration 0009 replaces
Procrastinate's `procrastinate_fetch_job_v2` with a version that passes over a job whose user
already runs as many jobs as the job's `max_active_per_user` (written here, at enqueue). Such a
job simply stays `queued` and the fetch takes the next job in priority order, so a user with a
thousand jobs holds back nobody else; when one of theirs ends, the worker's next fetch can
take the next of theirs. Priorities keep working: the order is still Procrastinate's.

Why at fetch time, and not with Procrastinate's `lock` (one running job per lock): a lock is
a cap of one, and a lock per "slot" is not work-conserving (a slot's long job holds back its
queued jobs while another slot is free). Why not admission at enqueue (defer only while the
user is under the cap, defer the next one when a job ends): it keeps queued jobs out of
Procrastinate, so their priority, queue and retry config would have to be replayed from a
trigger. The fetch is one function, and correct under concurrency: the user's running count is
re-checked under a per-user advisory lock held until the fetch commits, and the same
transaction marks the job running (the 'started' event's mirror trigger), so two workers
fetching for one user count one after the other (tests/shared/test_fairness.py runs several
workers at once and watches the cap).

Its cost, measured by `bench/durable.py` (1,000 jobs of one user and 10 each of nine others,
cap 2, one worker process of concurrency 10 on a 2-core machine): see docs/DESIGN.md's
"Deviations (as built)" and the bench's output; the fetch walks past a capped user's waiting
jobs (an index lookup each), which is what a skewed queue costs.

Not built: a per-kind cap (every kind shares the user's cap).
"""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Enough for a person's demo, a few connections and a sync side by side.
DEFAULT_MAX_ACTIVE_PER_USER = 4


class FairnessSettings(BaseSettings):
    """JOBS_MAX_ACTIVE_PER_USER: 0 turns the cap off."""

    model_config = SettingsConfigDict(extra="ignore")

    max_active_per_user: int = Field(
        default=DEFAULT_MAX_ACTIVE_PER_USER, ge=0, validation_alias="JOBS_MAX_ACTIVE_PER_USER"
    )


def max_active_per_user(user_id: int | None) -> int | None:
    """The cap a new job of `user_id` carries: None for no cap (or no user)."""
    if user_id is None:
        return None
    cap = FairnessSettings().max_active_per_user
    return cap or None
