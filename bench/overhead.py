"""Benchmark: what every request pays in each service, against a bare FastAPI app beside it.

Each process is one uvicorn worker (uvloop, httptools: uvicorn's defaults when installed, as
`pgstack serve` runs them) on a fresh migrated database; the load comes from `wrk` (apt-get
install wrk), 50 connections. Each round measures, one after the other, a bare FastAPI app's
constant JSON endpoint (the reference), the same constant endpoint added to each service's app
(every middleware and handler of the service), `GET /v1/session` (cookie, cached session row,
Ed25519 passport) and `GET /v1/dashboard` (passport, one SQL statement); rounds alternate and
the report gives each target's median req/s, p99, and its median ratio to the bare app of the
same round.

    .venv/bin/python bench/overhead.py [--duration 10] [--rounds 3] [--export]
    .venv/bin/python bench/overhead.py --layers

`--export` runs the services a second time exporting traces (OTLP over HTTP) to a collector
started by the benchmark on loopback, sampling 10% of traces (requests without a traceparent
start one), and reports both modes. `--layers` measures the bare app with one layer of the
services' stack at a time (`LAYERS`), to see what each costs.
"""

import argparse
import asyncio
import os
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import dashboard, harness, session  # noqa: E402

CONSTANT = "/bench/constant"


def create_bare_app() -> FastAPI:
    """The reference: FastAPI with one route returning a constant, nothing else."""
    return _with_constant(FastAPI())


def _with_constant(app: FastAPI) -> FastAPI:
    """`app` with a route returning a constant, tried first, as in the bare app: FastAPI tries
    routes in order at about 2.5 us each, which is the cost of a route's place, not of the
    stack (appended after demo_service's 15 routes, the constant served 0.6x the bare app)."""

    @app.get(CONSTANT)
    async def constant() -> dict[str, str]:
        return {"status": "ok"}

    app.router.routes.insert(0, app.router.routes.pop())
    return app


def create_auth_app() -> FastAPI:
    """auth_service as `pgstack serve auth` builds it (deploy/services.py), with the constant."""
    from deploy import services

    return _with_constant(services.create_auth())


def create_demo_app() -> FastAPI:
    from deploy import services

    return _with_constant(services.create_demo())


def create_jobs_app() -> FastAPI:
    from deploy import services

    return _with_constant(services.create_jobs())


def _edge(app: FastAPI) -> None:
    from shared.service_app import EdgeMiddleware

    app.add_middleware(EdgeMiddleware, service="bench", continue_traces=True)


def _errors(app: FastAPI) -> None:
    from shared.errors import install_error_handlers

    install_error_handlers(app)


def _access_log(app: FastAPI) -> None:
    from shared.logging import configure_logging

    configure_logging("INFO")


# One layer of the services' stack each, added alone to the bare app (BENCH_LAYER names it).
LAYERS: dict[str, Callable[[FastAPI], None]] = {
    "edge middleware": _edge,
    "error handlers": _errors,
    "access log at INFO": _access_log,
}


def create_layered_app() -> FastAPI:
    app = create_bare_app()
    LAYERS[os.environ["BENCH_LAYER"]](app)
    return app


def collector_env(endpoint: str) -> dict[str, str]:
    """Export every service's spans to `endpoint`, 10% of the traces that start there."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }


# A target: (name, base URL key, path, the header wrk sends: made afresh for each run, as a
# passport lives 60 s)
Target = tuple[str, str, str, Callable[[], str]]


@contextmanager
def services(db_url: str, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The three services with a constant route each; their base URLs."""
    common = {
        **env,
        "DATABASE_URL": db_url,
        "PASSPORT_JWKS": dashboard.KEY.jwks,
        "PGSTACK_ENV": "test",
    }
    with ExitStack() as stack:
        bases = {}
        for name in ("auth", "demo", "jobs"):
            base, _ = stack.enter_context(
                harness.uvicorn_server(
                    f"bench.overhead:create_{name}_app", common, ready="/healthz"
                )
            )
            bases[name] = base
        yield bases


def measure(
    bases: dict[str, str], targets: list[Target], *, rounds: int, duration: int, connections: int
) -> dict[str, list[dict[str, float]]]:
    """Each target once per round, in order (the bare app first); every run's figures."""
    for _name, base, path, header in targets:  # warm-up: connections, caches, prepared plans
        harness.wrk(bases[base] + path, header=header(), duration=2, connections=connections)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in targets}
    for _ in range(rounds):
        for name, base, path, header in targets:
            run = harness.wrk(
                bases[base] + path, header=header(), duration=duration, connections=connections
            )
            run["load"] = os.getloadavg()[0]
            runs[name].append(run)
    return runs


def report(title: str, runs: dict[str, list[dict[str, float]]], reference: str) -> None:
    print(f"\n{title}")
    print(f"{'target':<46}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x bare':>8}{'load':>7}")
    bare = runs[reference]
    for name, measured in runs.items():
        ratio = statistics.median(
            run["rps"] / ref["rps"] for run, ref in zip(measured, bare, strict=True)
        )
        print(
            f"{name:<46}{statistics.median(r['rps'] for r in measured):>9.0f}"
            f"{statistics.median(r['p50_ms'] for r in measured):>9.2f}"
            f"{statistics.median(r['p99_ms'] for r in measured):>9.2f}"
            f"{ratio:>8.2f}{statistics.median(r['load'] for r in measured):>7.1f}"
        )


def run_services(args: argparse.Namespace) -> None:
    modes: dict[str, dict[str, str]] = {"not exporting": {}}
    with ExitStack() as stack:
        if args.export:
            collector = stack.enter_context(harness.otlp_collector())
            modes["exporting 10% to a local collector"] = collector_env(collector.url)
        db_url = stack.enter_context(harness.migrated_database())
        user_id = asyncio.run(dashboard.seed(db_url))
        bare, _ = stack.enter_context(
            harness.uvicorn_server("bench.overhead:create_bare_app", {}, ready=CONSTANT)
        )
        for mode, env in modes.items():
            with services(db_url, env) as bases:
                bases["bare"] = bare
                cookie = f"cookie: {session.log_in(bases['auth'])}"

                def passport() -> str:
                    return dashboard.bearer(user_id)

                def session_cookie(cookie: str = cookie) -> str:
                    return cookie

                targets: list[Target] = [
                    ("bare FastAPI, constant", "bare", CONSTANT, passport),
                    ("auth_service, constant", "auth", CONSTANT, passport),
                    ("demo_service, constant", "demo", CONSTANT, passport),
                    ("job_service, constant", "jobs", CONSTANT, passport),
                    ("GET /v1/session", "auth", "/v1/session", session_cookie),
                    ("GET /v1/dashboard", "demo", "/v1/dashboard", passport),
                ]
                runs = measure(
                    bases,
                    targets,
                    rounds=args.rounds,
                    duration=args.duration,
                    connections=args.connections,
                )
            report(f"{mode}: {_conditions(args)}", runs, targets[0][0])
            if args.export:
                print(f"collector received {collector.spans()} spans so far")


def run_layers(args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        bases = {
            "bare": stack.enter_context(
                harness.uvicorn_server("bench.overhead:create_bare_app", {}, ready=CONSTANT)
            )[0]
        }
        targets: list[Target] = [("bare FastAPI, constant", "bare", CONSTANT, _accept)]
        for layer in LAYERS:
            env = {"BENCH_LAYER": layer, "PGSTACK_ENV": "test"}
            bases[layer] = stack.enter_context(
                harness.uvicorn_server("bench.overhead:create_layered_app", env, ready=CONSTANT)
            )[0]
            targets.append((layer, layer, CONSTANT, _accept))
        runs = measure(
            bases, targets, rounds=args.rounds, duration=args.duration, connections=args.connections
        )
    report(f"one layer at a time: {_conditions(args)}", runs, targets[0][0])


def _accept() -> str:
    return "accept: */*"


def _conditions(args: argparse.Namespace) -> str:
    return (
        f"{args.connections} connections, {args.duration} s x {args.rounds} rounds (medians),"
        f" 1 uvicorn worker each, {os.cpu_count()} CPUs shared with wrk and Postgres"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    harness.load_arguments(parser)
    parser.add_argument("--export", action="store_true", help="also measure with traces exported")
    parser.add_argument("--layers", action="store_true", help="one layer of the stack at a time")
    args = parser.parse_args()
    harness.require_wrk("bench/overhead.py")
    if args.layers:
        run_layers(args)
    else:
        run_services(args)


if __name__ == "__main__":
    main()
