"""`pgstack status` and `pgstack jobs ls|show|retry|cancel|prune`: the operator's view of the
stack from a terminal. The queries are job_service's (job_service/ops.py, the ops API's too);
this module parses, asks, shows progress and prints."""

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, get_args

import httpx
from rich.console import Console
from rich.progress import track
from rich.prompt import Confirm
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from job_service import ops
from job_service.config import Settings
from job_service.ops_schemas import OpsJobRead, OpsStatusFilter, QueueRead, WorkerRead
from shared import db
from shared.errors import AppError
from shared.jobs import BackgroundJob

# Where each service answers, as the web app finds them (web/lib/config.ts).
SERVICE_URLS = {"auth": ("AUTH_URL", 8001), "demo": ("DEMO_URL", 8002), "jobs": ("JOBS_URL", 8003)}
STATUSES = list(get_args(OpsStatusFilter))  # the ops API's filter: the lifecycle's and two more
BULK_LIMIT = 10_000
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
T = TypeVar("T")
Command = Callable[[argparse.Namespace, Settings, Console], Coroutine[Any, Any, int]]


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`status` and `jobs` on the `pgstack` parser."""
    status = commands.add_parser(
        "status", help="services, workers, queues, stuck and failed jobs (exit 1 if unhealthy)"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    jobs = commands.add_parser("jobs", help="list, show, retry, cancel or prune anyone's jobs")
    actions = jobs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("ls", help="jobs, newest first")
    _filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one job: owner, progress, error, steps")
    show.add_argument("job_id", type=uuid.UUID)
    show.add_argument("--json", action="store_true")
    for name, default, what in (
        ("retry", "failed", "run failed or cancelled jobs again"),
        ("cancel", "active", "cancel waiting jobs, ask running ones to stop"),
    ):
        action = actions.add_parser(name, help=f"{what}: one by id, or every job matching")
        action.add_argument("job_id", nargs="?", type=uuid.UUID)
        _filters(action, status_default=default)
        action.add_argument("--yes", "-y", action="store_true", help="do not ask first")
    prune = actions.add_parser("prune", help="delete finished jobs finished before --older-than")
    _filters(prune)
    prune.add_argument(
        "--older-than", type=_duration, default=dt.timedelta(days=30), help="e.g. 7d (30d)"
    )
    prune.add_argument("--yes", "-y", action="store_true", help="do not ask first")


def _filters(parser: argparse.ArgumentParser, *, status_default: str | None = None) -> None:
    parser.add_argument("--kind", help="a job kind, e.g. demo:enable")
    parser.add_argument("--status", choices=STATUSES, default=status_default)
    parser.add_argument("--user", metavar="EMAIL", help="the owner's email")
    parser.add_argument(
        "--since", type=_since, help="created since: a duration (90s, 15m, 2h, 7d) or ISO time"
    )


def _duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 2h, 7d")
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


def _since(text: str) -> dt.datetime:
    if _DURATION.match(text.strip()):
        return dt.datetime.now(dt.UTC) - _duration(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (2h) nor an ISO time (2026-01-31T12:00)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Run `status` or `jobs <action>`; the process's exit status."""
    console = Console()
    _register_tasks()
    if args.command == "status":
        return asyncio.run(status(settings, console, as_json=args.json))
    return asyncio.run(JOB_ACTIONS[args.action](args, settings, console))


def _register_tasks() -> None:
    """Register every kind the workers run, so `jobs retry` can enqueue any of them again:
    every service's tasks, and the extra modules of WORKER_IMPORT_PATHS as the worker reads it."""
    import deploy.tasks

    deploy.tasks.import_worker_modules()


def _health(settings: Settings) -> ops.Health:
    return ops.Health(
        fresh_seconds=settings.worker_heartbeat_fresh_seconds,
        timeout_seconds=settings.stuck_after_seconds,
    )


async def _read(settings: Settings, read: Callable[[Any], Awaitable[T]]) -> T:
    """`read(session)` in one transaction on a short-lived engine."""
    engine = db.create_engine(settings)
    try:
        async with db.create_sessionmaker(engine)() as session, session.begin():
            return await read(session)
    finally:
        await engine.dispose()


# status


def service_urls() -> dict[str, str]:
    offset = int(os.environ.get("PGSTACK_PORT_OFFSET", "0") or 0)
    return {
        name: os.environ.get(variable, f"http://127.0.0.1:{port + offset}").rstrip("/")
        for name, (variable, port) in SERVICE_URLS.items()
    }


async def _readiness() -> dict[str, dict[str, Any]]:
    """Each service's /readyz: its status code and body (or why it did not answer)."""

    async def check(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        try:
            response = await client.get(f"{url}/readyz")
        except httpx.HTTPError as exc:
            return {"url": url, "ready": False, "detail": f"{type(exc).__name__}: {exc}"}
        try:
            body = response.json()
        except ValueError:
            body = response.text[:200]
        return {"url": url, "ready": response.status_code == 200, "detail": body}

    urls = service_urls()
    async with httpx.AsyncClient(timeout=3) as client:
        results = await asyncio.gather(*(check(client, url) for url in urls.values()))
    return dict(zip(urls, results, strict=True))


async def status(settings: Settings, console: Console, *, as_json: bool) -> int:
    """Print the stack's state; 1 when a service is not ready, no worker has a fresh
    heartbeat, or a job is stuck."""
    health = _health(settings)

    async def read(session: Any) -> tuple[list[QueueRead], list[WorkerRead]]:
        return (
            await ops.list_queues(session, health=health),
            await ops.list_workers(session, health=health),
        )

    services = await _readiness()
    try:
        queues, workers = await _read(settings, read)
        database = None
    except (OSError, SQLAlchemyError) as exc:  # the database is down: still show the rest
        queues, workers, database = [], [], f"{type(exc).__name__}: {exc}"
    problems = [f"{name} is not ready" for name, s in services.items() if not s["ready"]]
    if database is not None:
        problems.append(f"the database is unreachable ({database})")
    elif not any(worker.fresh for worker in workers):
        problems.append("no worker has a fresh heartbeat")
    problems += [f"{q.stuck} stuck job(s) on queue {q.queue}" for q in queues if q.stuck]
    if as_json:
        report = {
            "healthy": not problems,
            "problems": problems,
            "services": services,
            "workers": [w.model_dump(mode="json") for w in workers],
            "queues": [q.model_dump(mode="json") for q in queues],
        }
        console.print_json(json.dumps(report))
    else:
        _print_status(console, services, workers, queues, problems)
    return 1 if problems else 0


def _print_status(
    console: Console,
    services: dict[str, dict[str, Any]],
    workers: Sequence[WorkerRead],
    queues: Sequence[QueueRead],
    problems: Sequence[str],
) -> None:
    table = Table(title="Services")
    for column in ("service", "url", "ready"):
        table.add_column(column)
    for name, found in services.items():
        table.add_row(name, found["url"], "[green]yes" if found["ready"] else "[red]no")
    console.print(table)
    table = Table(title="Workers")
    for column in ("id", "heartbeat age (s)", "fresh", "running"):
        table.add_column(column)
    for worker in workers:
        fresh = "[green]yes" if worker.fresh else "[red]no"
        table.add_row(
            str(worker.id), f"{worker.heartbeat_age_seconds:.1f}", fresh, str(worker.running)
        )
    console.print(table)
    table = Table(title="Queues")
    columns = ("queue", "waiting", "oldest (s)", "running", "stuck", "ok 1h", "failed 1h")
    for column in columns:
        table.add_column(column, justify="left" if column == "queue" else "right")
    for q in queues:
        table.add_row(
            q.queue,
            str(q.waiting),
            f"{q.oldest_waiting_seconds:.0f}",
            str(q.running),
            f"[red]{q.stuck}" if q.stuck else "0",
            str(q.succeeded_last_hour),
            f"[yellow]{q.failed_last_hour}" if q.failed_last_hour else "0",
        )
    console.print(table)
    for problem in problems:
        console.print(f"[red]unhealthy:[/red] {problem}")
    if not problems:
        console.print("[green]healthy")


# jobs


async def _matching(
    settings: Settings,
    args: argparse.Namespace,
    *,
    limit: int,
    before: dt.datetime | None = None,
) -> list[OpsJobRead]:
    health = _health(settings)

    async def read(session: Any) -> list[OpsJobRead]:
        found = await ops.list_jobs(
            session,
            health=health,
            status=args.status,
            kind=args.kind,
            user_email=args.user,
            since=args.since,
            finished_before=before,
            limit=limit,
        )
        return [OpsJobRead.of_owned(job, email) for job, email in found]

    return await _read(settings, read)


async def list_jobs(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    jobs = await _matching(settings, args, limit=args.limit)
    if args.json:
        console.print_json(json.dumps([job.model_dump(mode="json") for job in jobs]))
        return 0
    table = Table()
    for column in ("id", "kind", "status", "user", "created", "attempts", "error"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.status,
            job.user_email or "-",
            job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(job.attempts),
            (job.error.message or job.error.type) if job.error else "",
        )
    console.print(table)
    return 0


async def show_job(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    async def read(session: Any) -> OpsJobRead:
        job, email = await ops.get_job_or_raise(session, job_id=args.job_id)
        return OpsJobRead.of_owned(job, email)

    try:
        job = await _read(settings, read)
    except AppError as exc:
        console.print(f"pgstack: {exc.detail}", style="red")
        return 1
    if args.json:
        console.print_json(job.model_dump_json())
        return 0
    table = Table(show_header=False)
    for name, value in job.model_dump(exclude={"links", "steps"}).items():
        table.add_row(name, "" if value is None else str(value))
    for step in job.steps:
        table.add_row(f"step {step.name}", f"{step.status} ({step.attempts} attempt(s))")
    console.print(table)
    return 0


def _act(act: Callable[..., Awaitable[BackgroundJob]], verb: str) -> Command:
    """A `retry` or `cancel` command: the job given by id, or every job matching the filters
    (after asking, unless --yes), each in its own transaction."""

    async def command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
        if args.job_id is not None:
            ids = [args.job_id]
        else:
            ids = [job.id for job in await _matching(settings, args, limit=BULK_LIMIT)]
            if not ids:
                console.print(f"no job to {verb}")
                return 0
            if not args.yes and not Confirm.ask(f"{verb} {len(ids)} job(s)?", console=console):
                console.print("nothing done")
                return 1
        failures: list[str] = []
        for job_id in track(ids, description=f"{verb}...", console=console, disable=len(ids) < 2):
            try:
                job = await _read(settings, functools.partial(act, job_id=job_id))
            except AppError as exc:
                failures.append(f"{job_id}: {exc.detail}")
            else:
                if len(ids) == 1:
                    console.print(f"{job.id}: {job.status}")
        for failure in failures:
            console.print(failure, style="red")
        console.print(f"{verb}: {len(ids) - len(failures)} of {len(ids)} job(s)")
        return 1 if failures else 0

    return command


async def prune_jobs(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Delete the finished jobs matching the filters that finished before --older-than."""
    before = dt.datetime.now(dt.UTC) - args.older_than
    ids = [job.id for job in await _matching(settings, args, limit=BULK_LIMIT, before=before)]
    if not ids:
        console.print("no finished job to prune")
        return 0
    if not args.yes and not Confirm.ask(f"delete {len(ids)} job(s)?", console=console):
        console.print("nothing done")
        return 1
    deleted = 0
    batches = [ids[i : i + 100] for i in range(0, len(ids), 100)]
    for batch in track(batches, description="pruning...", console=console):
        deleted += await _read(settings, functools.partial(ops.prune_jobs, job_ids=batch))
    console.print(f"pruned {deleted} job(s)")
    return 0


JOB_ACTIONS: dict[str, Command] = {
    "ls": list_jobs,
    "show": show_job,
    "retry": _act(ops.retry_job, "retry"),
    "cancel": _act(ops.cancel_job, "cancel"),
    "prune": prune_jobs,
}
