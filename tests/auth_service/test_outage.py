"""A database outage: the session check answers 503 with Retry-After (never a stale "yes"
from memory once the outage is noticed), and auth_service recovers by itself.

The outage is real from the app's side: every connection to its database is cut and new ones
are refused (`ALLOW_CONNECTIONS false`), without restarting the shared cluster.
"""

import psycopg
import pytest
from httpx import Response

from auth_service.app import create_app
from tests.auth_service.kit import client_for, make_settings, new_user, with_cookie
from tests.kit.waiting import eventually


def set_reachable(db_url: str, reachable: bool) -> None:
    name = db_url.rpartition("/")[2]
    maintenance = db_url.rpartition("/")[0] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {reachable}'.encode())
        if not reachable:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


@pytest.mark.timeout(120)
async def test_the_session_check_is_503_in_an_outage_and_recovers(db_url: str) -> None:
    app = create_app(make_settings(db_url))
    async with client_for(app, headers={"sec-fetch-site": "same-origin"}) as client:
        _, token = await new_user(client)
        assert (await client.get("/v1/session", headers=with_cookie(token))).status_code == 200

        set_reachable(db_url, False)
        try:

            async def refused() -> Response | None:
                response = await client.get("/v1/session", headers=with_cookie(token))
                return response if response.status_code != 200 else None

            response = await eventually(
                refused, within=30, every=0.1, what="an answer other than from memory"
            )
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "retry-after" in response.headers
        finally:
            set_reachable(db_url, True)

        async def answered() -> bool:
            response = await client.get("/v1/session", headers=with_cookie(token))
            return response.status_code == 200

        await eventually(answered, within=60, every=0.2, what="recovery after the outage")
