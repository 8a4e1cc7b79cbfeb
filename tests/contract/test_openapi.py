"""schemathesis, the OpenAPI fuzzer, against each service's own OpenAPI document, on the
running services, signed in (auth_service's cookie, a user's passport for demo_service and
job_service, a service passport for the internal enqueue): no answer is a 5xx, and every answer
has a status code, content type, headers and body its route documents.

Deterministic and bounded (`derandomize`, a fixed number of examples per operation and mode), so
CI runs the same cases every time. A case it found failing is kept as a test in
test_hostile_input.py."""

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.contract.conftest import SAME_ORIGIN, Services, User

# Examples per operation and mode (valid and invalid input): 10-20 s per service here.
EXAMPLES = 15
# Not checked: that every schema-valid request is accepted. A valid-looking email that is no
# address, or a job kind nobody registered, is a documented 422 the schema cannot express.
# The user stream never ends (it is an open SSE stream): tests/contract/test_hostile_input.py
# and tests/job_service/test_streams.py drive it with a client that stops reading.
NOT_FUZZED = {("GET", "/v1/events")}

Headers = Callable[[Any], dict[str, str]]


def fuzz(base_url: str, headers: Headers, after: Callable[[Any], None] | None = None) -> None:
    """Every operation of the service's document, valid and invalid input; all failures at
    once, each with the operation and schemathesis's description of what went wrong."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"invalid operation in the document: {result.err()}")
            continue
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(
                    headers=headers(case), timeout=10, excluded_checks=[positive_data_acceptance]
                )
                if after is not None:
                    after(case)

            try:
                check()
            except Unsatisfiable:
                continue  # no parameters to make invalid (a route without any)
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def test_auth_service_answers_as_documented(services: Services, user: User) -> None:
    def signed_in_again(case: Any) -> None:
        # Signing out (here or everywhere) is fuzzed too; the next case gets a session again.
        if case.method != "GET" and not user.signed_in():
            user.log_in()

    fuzz(services.auth, lambda case: {**SAME_ORIGIN, "cookie": user.cookie}, signed_in_again)


def test_demo_service_answers_as_documented(services: Services, user: User) -> None:
    fuzz(services.demo, lambda case: user.headers())


def test_job_service_answers_as_documented(services: Services, user: User) -> None:
    def headers(case: Any) -> dict[str, str]:
        return services.service_headers() if case.path.startswith("/internal/") else user.headers()

    fuzz(services.jobs, headers)
