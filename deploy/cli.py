"""The `pgstack` command line: migrate, serve, worker, dev, schema, users, status, jobs."""

import argparse
import sys
from typing import TypeVar

from deploy import ops_cli
from deploy.services import SERVICES

T = TypeVar("T")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pgstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    migrate_cmd = commands.add_parser("migrate", help="migrate the database (DATABASE_URL)")
    migrate_cmd.add_argument(
        "--to",
        default="head",
        help="head (default), expand (before the next contract revision) or a revision id",
    )

    serve = commands.add_parser("serve", help="serve one service over HTTP")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, help="default: auth 8001, demo 8002, jobs 8003")
    serve.add_argument("--workers", type=int, default=1)

    commands.add_parser("worker", help="run a Procrastinate worker for every service's tasks")
    commands.add_parser("dev", help="database, migrations, three services and a worker")
    users = commands.add_parser("users", help="disable, enable or make operator an account")
    users.add_argument("action", choices=["disable", "enable", "grant-operator", "revoke-operator"])
    users.add_argument("email")
    ops_cli.add_commands(commands)  # status, jobs
    schema_command = commands.add_parser(
        "schema", help="print the schema the migrations produce (deploy/schema.sql)"
    )
    schema_command.add_argument(
        "--write", action="store_true", help="write it to deploy/schema.sql"
    )

    args = parser.parse_args(argv)
    if args.command == "migrate":
        from deploy import migrate
        from shared.settings import ServiceSettings

        try:
            reached = migrate.migrate_to(_settings(ServiceSettings).database_url, args.to)
        except ValueError as exc:
            sys.exit(f"pgstack migrate: {exc}")
        print(f"pgstack migrate: the database is at {reached}", flush=True)
    elif args.command == "serve":
        import uvicorn

        app, port = SERVICES[args.service]
        uvicorn.run(
            app,
            factory=True,
            host=args.host,
            port=args.port or port,
            workers=args.workers,
            log_config=None,  # our JSON logging, configured by the app
            # Client addresses are the services' business (AUTH_TRUSTED_PROXIES), not uvicorn's.
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )
    elif args.command == "worker":
        from deploy import worker

        worker.main(_settings(worker.WorkerSettings))
    elif args.command == "dev":
        from deploy import dev

        sys.exit(dev.main())
    elif args.command == "users":
        from auth_service import operators
        from shared.errors import AppError
        from shared.settings import ServiceSettings

        try:
            print(operators.main(args.action, args.email, _settings(ServiceSettings)))
        except AppError as exc:
            sys.exit(f"pgstack: {exc.detail}")
    elif args.command in ("status", "jobs"):
        from job_service.config import Settings as JobSettings

        sys.exit(ops_cli.main(args, _settings(JobSettings)))
    elif args.command == "schema":
        from deploy import schema

        schema.main(write=args.write)


def _settings(cls: type[T]) -> T:
    from pydantic import ValidationError

    try:
        return cls()
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        sys.exit(f"pgstack: configuration error ({missing}); see the README's table")
