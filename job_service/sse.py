"""The Server-Sent Events wire format of job_service, and the resume cursor of `/v1/events`.

Events carry `id:` so `Last-Event-ID` resumes a stream:

- `GET /v1/jobs/{id}/events`: the id is the job's offset in the event log (`job_events`,
  migration 0010), which is its version after the change.
- `GET /v1/events`: the id is a cursor `<T>~<job>.<offset>,...`: T (epoch ms) up to which the
  stream has every change (the latest change sent or the latest read of the log), then the
  offsets sent of the jobs changed in the `slack` before T (see job_service/streams.py for why
  that misses nothing and sends nothing twice).
"""

import json
import uuid
from functools import cached_property
from typing import Any

from shared.jobs import BackgroundJob, JobRead
from shared.validation import int64

KEEP_ALIVE = ": keep-alive\n\n"
# The last words of a stream ended by a shutdown: reconnect (with Last-Event-ID) in a second,
# to another replica or to this one restarted.
RETRY = ": shutting down\nretry: 1000\n\n"


def encode(data: str, *, event: str, id: str | int | None = None) -> str:
    """One SSE event on the wire: its type, its id (what `Last-Event-ID` sends back), its data."""
    lines = [f"event: {event}"]
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


def job_data(job: BackgroundJob) -> str:
    """A job's full state, in the shape `GET /v1/jobs/{id}` serves."""
    return JobRead.of(job).model_dump_json()


def resume_point(id: str | int) -> str:
    """An `id:` alone: it sets the client's Last-Event-ID and dispatches no event."""
    return f"id: {id}\n\n"


def log_data(row: dict[str, Any]) -> str:
    """A change from the event log, as a live one is sent (`change_data`), with a terminal
    state's result and error."""
    return json.dumps({**row["payload"], "event": row["kind"], "at": float(row["at"])})


def missed_data(**details: Any) -> str:
    """What a client behind the log's retention is told before it gets the current state."""
    return json.dumps(
        {
            "detail": "Changes older than the event log's retention were missed; "
            "the current state follows.",
            **details,
        }
    )


def change_data(notification: dict[str, Any]) -> str:
    """A notification as a client sees it (the user id and channel bookkeeping removed)."""
    return json.dumps({k: v for k, v in notification.items() if k not in ("user_id", "type")})


class Change(dict[str, Any]):
    """A notification as the hub hands it to every stream it concerns (job_service/hub.py):
    what the streams send of it is encoded once, however many streams send it. With 1,000
    streams of one job, encoding per stream was most of each event's cost."""

    @cached_property
    def data(self) -> str:
        """`change_data`: the event's data."""
        return change_data(self)

    @cached_property
    def job_event(self) -> str:
        """The event as a job stream sends it (`id:` the job's offset)."""
        return encode(self.data, event="job", id=self["version"])


def version_of(last_event_id: str | None) -> int:
    """The job version a job stream's client has seen (0: none, or an id we did not write)."""
    try:
        return int64(last_event_id or "0")
    except ValueError:
        return 0


class Cursor:
    """What a `/v1/events` client has seen: the latest `updated_at` (epoch ms) and the
    versions of the jobs updated within `slack` before it."""

    def __init__(self, slack_ms: int, at: int = 0, versions: dict[str, int] | None = None):
        self.slack_ms = slack_ms
        self.at = at
        # job id -> (version, updated_at ms)
        self.seen: dict[str, tuple[int, int]] = {
            job: (version, at) for job, version in (versions or {}).items()
        }

    @classmethod
    def parse(cls, value: str | None, slack_ms: int) -> "Cursor | None":
        if not value:
            return None
        try:
            at_text, _, pairs = value.partition("~")
            versions = {}
            for pair in filter(None, pairs.split(",")):
                job, _, version = pair.partition(".")
                versions[str(uuid.UUID(hex=job))] = int64(version)
            return cls(slack_ms, int64(at_text), versions)
        except ValueError:
            return None  # an id we did not write: start afresh

    @property
    def horizon_ms(self) -> int:
        """Changes before this (epoch ms) were all seen."""
        return self.at - self.slack_ms

    def is_new(self, job_id: str, version: int) -> bool:
        seen = self.seen.get(job_id)
        return seen is None or version > seen[0]

    def add(self, job_id: str, version: int, at: float) -> None:
        self.seen[job_id] = (version, int(at))
        self.advance(at)

    def advance(self, at: float) -> None:
        """Every change written before `at` - slack has been sent (or was never this user's)."""
        self.at = max(self.at, int(at))
        horizon = self.horizon_ms
        if len(self.seen) > 64:
            self.seen = {j: s for j, s in self.seen.items() if s[1] >= horizon}

    def __str__(self) -> str:
        horizon = self.horizon_ms
        recent = ",".join(
            f"{uuid.UUID(job).hex}.{version}"
            for job, (version, updated_at) in self.seen.items()
            if updated_at >= horizon
        )
        return f"{self.at}~{recent}"
