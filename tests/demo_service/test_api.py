"""demo_service over HTTP, on a real database with the real worker."""

import asyncio
import json
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from demo_service.schemas import DashboardRead, DemoRead, MetricsRead, PlatformRead
from job_service.app import create_app as create_job_app
from job_service.config import Settings as JobSettings
from shared import queue
from shared.jobs import JobRead
from tests.demo_service.conftest import ClientFor
from tests.demo_service.kit import (
    TracedReadPool,
    create_platform,
    demo_status,
    query,
    workspace,
)
from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.kit.users import make_user
from tests.kit.waiting import eventually

pytestmark = pytest.mark.timeout(120)


async def set_demo_status(db_url: str, user_id: int, *path: str) -> None:
    """Walk the user's demo status along `path` (each step legal, as the trigger demands)."""
    for status in path:
        await query(db_url, "UPDATE users SET demo_mode_status = %s WHERE id = %s", status, user_id)


async def until_demo(db_url: str, user_id: int, status: str, within: float = 30) -> None:
    async def reached() -> bool:
        return await demo_status(db_url, user_id) == status

    await eventually(reached, within=within)


class TestPassports:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/v1/demo"),
            ("POST", "/v1/demo/enable"),
            ("POST", "/v1/demo/disable"),
            ("GET", "/v1/platforms"),
            ("POST", "/v1/platforms/1/connect"),
            ("POST", "/v1/platforms/1/disconnect"),
            ("GET", "/v1/metrics"),
            ("GET", "/v1/dashboard"),
        ],
    )
    async def test_every_route_refuses_a_request_without_a_valid_passport(
        self,
        app: FastAPI,
        client_for: ClientFor,
        passport_key: PassportKey,
        method: str,
        path: str,
    ) -> None:
        client = client_for(0)
        client.auth = None  # type: ignore[assignment]
        missing = await client.request(method, path)
        forged = await client.request(
            method, path, headers={"Authorization": f"Bearer {passport_key.mint(1)}x"}
        )
        for response in (missing, forged):
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"


class TestEnable:
    @pytest.mark.usefixtures("worker")
    async def test_enable_answers_enabling_at_once_then_the_worker_builds_the_workspace(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)

        response = await client.post("/v1/demo/enable")

        assert response.status_code == 202
        demo = DemoRead.model_validate(response.json())
        assert demo.status == "enabling"
        assert demo.job is not None
        assert demo.job.kind == "demo:enable"
        assert demo.job.links.status == f"/v1/jobs/{demo.job.id}/status"
        assert demo.job.links.events == f"/v1/jobs/{demo.job.id}/events"
        await until_demo(db_url, user_id, "enabled")
        assert await workspace(db_url, user_id) == (4, 360)
        final = DemoRead.model_validate((await client.get("/v1/demo")).json())
        assert final.status == "enabled"
        assert final.error is None
        assert final.job is not None
        assert final.job.id == demo.job.id
        names = {p["name"] for p in (await client.get("/v1/platforms")).json()}
        assert names == {"Google Ads", "Meta Ads", "LinkedIn Ads", "TikTok Ads"}

    @pytest.mark.usefixtures("worker")
    async def test_a_second_client_refreshing_mid_way_sees_enabling_and_the_progress(
        self, db_url: str, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEMO_STEP_DELAY", "0.3")
        user_id = make_user(db_url)
        await client_for(user_id).post("/v1/demo/enable")
        other_tab = client_for(user_id)
        seen: list[tuple[str, int]] = []

        async def finished() -> bool:
            demo = DemoRead.model_validate((await other_tab.get("/v1/demo")).json())
            assert demo.job is not None
            seen.append((demo.status, demo.job.progress))
            return demo.status == "enabled"

        await eventually(finished, within=30, every=0.05)
        assert any(status == "enabling" and 0 < percent < 100 for status, percent in seen)
        assert seen[-1] == ("enabled", 100)

    @pytest.mark.usefixtures("worker")
    async def test_a_hundred_concurrent_enables_make_one_job_and_one_workspace(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        clients = [client_for(user_id) for _ in range(100)]

        responses = await asyncio.gather(*(c.post("/v1/demo/enable") for c in clients))

        assert {r.status_code for r in responses} <= {200, 202}
        job_ids = {r.json()["job"]["id"] for r in responses}
        assert len(job_ids) == 1
        await until_demo(db_url, user_id, "enabled")
        assert await workspace(db_url, user_id) == (4, 360)
        jobs = await query(
            db_url,
            "SELECT count(*) FROM background_jobs WHERE user_id = %s AND kind = 'demo:enable'",
            user_id,
        )
        queued = await query(
            db_url,
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'demo:enable'"
            " AND (args->>'user_id')::bigint = %s",
            user_id,
        )
        assert jobs == queued == [(1,)]

    @pytest.mark.usefixtures("worker")
    async def test_enable_when_enabled_is_200_and_enqueues_nothing(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)
        first = await client.post("/v1/demo/enable")
        await until_demo(db_url, user_id, "enabled")

        again = await client.post("/v1/demo/enable")

        assert again.status_code == 200
        assert again.json()["status"] == "enabled"
        assert again.json()["job"]["id"] == first.json()["job"]["id"]
        jobs = await query(
            db_url, "SELECT count(*) FROM background_jobs WHERE user_id = %s", user_id
        )
        assert jobs == [(1,)]

    @pytest.mark.usefixtures("worker")
    async def test_enable_failing_every_attempt_ends_failed_with_the_reason_then_succeeds(
        self, db_url: str, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEMO_FAIL_ATTEMPTS", "99")
        user_id = make_user(db_url)
        client = client_for(user_id)
        await client.post("/v1/demo/enable")

        await until_demo(db_url, user_id, "failed", within=60)

        failed = DemoRead.model_validate((await client.get("/v1/demo")).json())
        assert failed.error is not None
        assert "could not be created" in failed.error
        assert "failed on purpose" in failed.error
        assert failed.job is not None
        assert failed.job.attempts == 3
        monkeypatch.delenv("DEMO_FAIL_ATTEMPTS")
        retry = await client.post("/v1/demo/enable")
        assert retry.status_code == 202
        assert retry.json()["error"] is None
        await until_demo(db_url, user_id, "enabled")
        assert await workspace(db_url, user_id) == (4, 360)

    @pytest.mark.usefixtures("worker")
    async def test_an_attempt_failing_part_way_is_retried_into_exactly_one_workspace(
        self, db_url: str, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEMO_FAIL_ATTEMPTS", "2")
        user_id = make_user(db_url)
        response = await client_for(user_id).post("/v1/demo/enable")

        await until_demo(db_url, user_id, "enabled", within=60)

        assert await workspace(db_url, user_id) == (4, 360)
        attempts = await query(
            db_url,
            "SELECT attempts FROM background_jobs WHERE id = %s",
            response.json()["job"]["id"],
        )
        assert attempts == [(3,)]

    @pytest.mark.usefixtures("worker")
    async def test_every_demo_state_change_is_announced_on_job_events(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener:
            await listener.execute("LISTEN job_events")
            await client_for(user_id).post("/v1/demo/enable")
            statuses: list[str] = []
            async for notify in listener.notifies(timeout=30):
                payload = json.loads(notify.payload)
                if payload["type"] == "demo" and payload["user_id"] == user_id:
                    statuses.append(payload["status"])
                if statuses[-1:] == ["enabled"]:
                    break
        assert statuses == ["enabling", "enabled"]


class TestDisable:
    @pytest.mark.usefixtures("worker")
    async def test_disable_removes_the_demo_data_and_keeps_the_users_own_platform(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        own = await create_platform(db_url, user_id, kind="google_ads", status="connected")
        client = client_for(user_id)
        await client.post("/v1/demo/enable")
        await until_demo(db_url, user_id, "enabled")

        response = await client.post("/v1/demo/disable")

        assert response.status_code == 202
        assert response.json()["status"] == "disabling"
        assert response.json()["job"]["kind"] == "demo:disable"
        await until_demo(db_url, user_id, "disabled")
        assert await workspace(db_url, user_id) == (0, 0)
        platforms = (await client.get("/v1/platforms")).json()
        assert [(p["id"], p["is_demo"], p["connection_status"]) for p in platforms] == [
            (own, False, "connected")
        ]
        assert await query(
            db_url, "SELECT count(*) FROM daily_metrics WHERE platform_id = %s", own
        ) == [(1,)]
        assert (await client.post("/v1/demo/disable")).status_code == 200


class TestIllegalTransitions:
    async def test_disable_while_enabling_is_a_409_problem_and_changes_nothing(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)
        enabling = await client.post("/v1/demo/enable")  # no worker: it stays enabling

        response = await client.post("/v1/demo/disable")

        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert "enabling" in response.json()["detail"]
        after = (await client.get("/v1/demo")).json()
        assert (after["status"], after["job"]["id"]) == ("enabling", enabling.json()["job"]["id"])
        assert await demo_status(db_url, user_id) == "enabling"
        jobs = await query(db_url, "SELECT kind FROM background_jobs WHERE user_id = %s", user_id)
        assert jobs == [("demo:enable",)]

    async def test_enable_while_disabling_is_a_409_problem_and_changes_nothing(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        await set_demo_status(db_url, user_id, "enabling", "enabled", "disabling")

        response = await client_for(user_id).post("/v1/demo/enable")

        assert response.status_code == 409
        assert response.json()["title"] == "Conflict"
        assert await demo_status(db_url, user_id) == "disabling"
        assert await query(
            db_url, "SELECT count(*) FROM background_jobs WHERE user_id = %s", user_id
        ) == [(0,)]

    async def test_enable_twice_before_the_worker_runs_answers_the_same_job(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)
        first = await client.post("/v1/demo/enable")
        second = await client.post("/v1/demo/enable")
        assert (first.status_code, second.status_code) == (202, 202)
        assert second.json()["job"]["id"] == first.json()["job"]["id"]

    async def test_a_user_that_does_not_exist_is_a_404_problem(self, client_for: ClientFor) -> None:
        client = client_for(987_654_321)
        for response in (
            await client.get("/v1/demo"),
            await client.post("/v1/demo/enable"),
            await client.get("/v1/dashboard"),
        ):
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"


class TestJobsEndingOutsideTheirCode:
    """A job can end without its code seeing it: cancelled, timed out, its worker lost."""

    async def test_a_cancelled_enable_leaves_demo_mode_failed_and_enable_works_again(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)
        first = (await client.post("/v1/demo/enable")).json()  # no worker: stays queued

        await cancel(db_url, first["job"]["id"])

        demo = (await client.get("/v1/demo")).json()
        assert (demo["status"], demo["error"]) == ("failed", "The job was cancelled.")
        assert demo["job"]["status"] == "cancelled"
        again = await client.post("/v1/demo/enable")
        assert again.status_code == 202
        assert again.json()["job"]["id"] != first["job"]["id"]

    async def test_a_cancelled_connect_leaves_the_platform_in_error(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        platform_id = await create_platform(db_url, user_id)
        client = client_for(user_id)
        connecting = (await client.post(f"/v1/platforms/{platform_id}/connect")).json()

        await cancel(db_url, connecting["job"]["id"])

        (platform,) = (await client.get("/v1/platforms")).json()
        assert platform["connection_status"] == "error"
        assert platform["connection_error"] == "The job was cancelled."


async def cancel(db_url: str, job_id: str) -> None:
    """Cancel a queued job through Procrastinate, as job_service's cancel does."""
    ((procrastinate_id,),) = await query(
        db_url, "SELECT procrastinate_job_id FROM background_jobs WHERE id = %s", job_id
    )
    async with queue.opened(db_url) as app:
        assert await app.job_manager.cancel_job_by_id_async(procrastinate_id)


class TestPlatforms:
    async def test_the_list_shows_only_my_platforms(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        me, other = make_user(db_url), make_user(db_url)
        mine = await create_platform(db_url, me)
        await create_platform(db_url, other)

        response = await client_for(me).get("/v1/platforms")

        assert response.status_code == 200
        platforms = [PlatformRead.model_validate(p) for p in response.json()]
        assert [(p.id, p.connection_status, p.job) for p in platforms] == [
            (mine, "disconnected", None)
        ]

    @pytest.mark.usefixtures("worker")
    async def test_connect_then_disconnect_run_through_their_jobs(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        platform_id = await create_platform(db_url, user_id)
        client = client_for(user_id)

        connecting = await client.post(f"/v1/platforms/{platform_id}/connect")
        assert connecting.status_code == 202
        assert connecting.json()["connection_status"] == "connecting"
        assert connecting.json()["job"]["kind"] == "demo:connect_platform"
        await eventually(lambda: _platform_status_is(client, platform_id, "connected"))
        assert (await client.post(f"/v1/platforms/{platform_id}/connect")).status_code == 200

        disconnecting = await client.post(f"/v1/platforms/{platform_id}/disconnect")
        assert disconnecting.status_code == 202
        assert disconnecting.json()["connection_status"] == "disconnecting"
        await eventually(lambda: _platform_status_is(client, platform_id, "disconnected"))
        assert (await client.post(f"/v1/platforms/{platform_id}/disconnect")).status_code == 200

    @pytest.mark.usefixtures("worker")
    async def test_a_failing_handshake_ends_in_error_with_the_reason_and_can_be_retried(
        self, db_url: str, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEMO_FAIL_ATTEMPTS", "99")
        user_id = make_user(db_url)
        platform_id = await create_platform(db_url, user_id)
        client = client_for(user_id)
        await client.post(f"/v1/platforms/{platform_id}/connect")

        await eventually(lambda: _platform_status_is(client, platform_id, "error"), within=60)

        (platform,) = (await client.get("/v1/platforms")).json()
        assert "could not be connected" in platform["connection_error"]
        monkeypatch.delenv("DEMO_FAIL_ATTEMPTS")
        again = await client.post(f"/v1/platforms/{platform_id}/connect")
        assert again.status_code == 202
        assert again.json()["connection_error"] is None
        await eventually(lambda: _platform_status_is(client, platform_id, "connected"))

    async def test_disconnect_while_connecting_is_a_409_problem(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        platform_id = await create_platform(db_url, user_id)
        client = client_for(user_id)
        await client.post(f"/v1/platforms/{platform_id}/connect")  # no worker: stays connecting

        response = await client.post(f"/v1/platforms/{platform_id}/disconnect")

        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        rows = await query(
            db_url, "SELECT connection_status FROM platforms WHERE id = %s", platform_id
        )
        assert rows == [("connecting",)]

    @pytest.mark.parametrize("action", ["connect", "disconnect"])
    async def test_another_users_platform_is_a_404_and_is_left_alone(
        self, db_url: str, client_for: ClientFor, action: str
    ) -> None:
        owner, intruder = make_user(db_url), make_user(db_url)
        platform_id = await create_platform(db_url, owner, status="connected")

        response = await client_for(intruder).post(f"/v1/platforms/{platform_id}/{action}")
        missing = await client_for(intruder).post(f"/v1/platforms/999999999/{action}")

        assert response.status_code == missing.status_code == 404
        assert response.json()["detail"] == missing.json()["detail"]
        rows = await query(
            db_url, "SELECT connection_status FROM platforms WHERE id = %s", platform_id
        )
        assert rows == [("connected",)]


class TestAnnouncements:
    @pytest.mark.usefixtures("worker")
    async def test_every_platform_state_change_is_announced_on_job_events(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        platform_id = await create_platform(db_url, user_id)
        client = client_for(user_id)
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener:
            await listener.execute("LISTEN job_events")
            await client.post(f"/v1/platforms/{platform_id}/connect")
            await eventually(lambda: _platform_status_is(client, platform_id, "connected"))
            await client.post(f"/v1/platforms/{platform_id}/disconnect")
            seen: list[tuple[int, str]] = []
            async for notify in listener.notifies(timeout=30):
                payload = json.loads(notify.payload)
                if payload["type"] == "platform" and payload["user_id"] == user_id:
                    seen.append((payload["platform_id"], payload["status"]))
                if seen[-1:] == [(platform_id, "disconnected")]:
                    break
        assert [status for _, status in seen] == [
            "connecting",
            "connected",
            "disconnecting",
            "disconnected",
        ]


async def _platform_status_is(client: Any, platform_id: int, status: str) -> bool:
    platforms = (await client.get("/v1/platforms")).json()
    return any(p["id"] == platform_id and p["connection_status"] == status for p in platforms)


class TestMetrics:
    @pytest.mark.parametrize("days", ["0", "366", "-1", "week"])
    async def test_days_outside_1_to_365_is_a_422_problem(
        self, db_url: str, client_for: ClientFor, days: str
    ) -> None:
        user_id = make_user(db_url)
        response = await client_for(user_id).get("/v1/metrics", params={"days": days})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", "days"]

    async def test_totals_and_a_daily_series_with_every_day_of_the_window(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        platform_id = await create_platform(db_url, user_id)  # 1000/10/5.00/1 today
        await query(
            db_url,
            "INSERT INTO daily_metrics (platform_id, day, impressions, clicks, spend, conversions)"
            " VALUES (%s, current_date - 2, 500, 5, 2.50, 0),"
            " (%s, current_date - 7, 99999, 999, 999.99, 99)",  # outside a 7-day window
            platform_id,
            platform_id,
        )

        response = await client_for(user_id).get("/v1/metrics", params={"days": 7})

        assert response.status_code == 200
        metrics = MetricsRead.model_validate(response.json())
        assert metrics.days == 7
        assert metrics.totals.model_dump() == {
            "impressions": 1500,
            "clicks": 15,
            "spend": 7.5,
            "conversions": 1,
        }
        assert len(metrics.daily) == 7
        assert [d.impressions for d in metrics.daily] == [0, 0, 0, 0, 500, 0, 1000]
        assert metrics.daily[-1].day > metrics.daily[0].day

    async def test_a_user_without_platforms_gets_zeros(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        metrics = (await client_for(user_id).get("/v1/metrics?days=1")).json()
        assert metrics["totals"] == {"impressions": 0, "clicks": 0, "spend": 0, "conversions": 0}
        assert len(metrics["daily"]) == 1


class TestDashboard:
    async def test_a_user_without_demo_data_gets_every_field(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url, name="Grace Hopper")

        response = await client_for(user_id).get("/v1/dashboard")

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        dashboard = DashboardRead.model_validate(response.json())
        assert dashboard.user.id == user_id
        assert dashboard.user.name == "Grace Hopper"
        assert dashboard.demo.model_dump() == {"status": "disabled", "error": None, "job": None}
        assert dashboard.platforms == []
        assert dashboard.metrics.model_dump() == {
            "days": 30,
            "impressions": 0,
            "clicks": 0,
            "spend": 0,
            "conversions": 0,
        }
        assert dashboard.active_jobs == []

    async def test_while_enabling_the_demo_job_is_among_my_active_jobs(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)
        enabling = (await client.post("/v1/demo/enable")).json()  # no worker: stays queued

        dashboard = DashboardRead.model_validate((await client.get("/v1/dashboard")).json())

        assert dashboard.demo.status == "enabling"
        assert dashboard.demo.job is not None
        assert [j.id for j in dashboard.active_jobs] == [dashboard.demo.job.id]
        # The SQL-built job is the one GET /v1/demo renders.
        assert dashboard.demo.job == DemoRead.model_validate(enabling).job

    @pytest.mark.usefixtures("worker")
    async def test_a_user_with_demo_data_gets_platforms_and_30_day_totals(
        self, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        client = client_for(user_id)
        await client.post("/v1/demo/enable")
        await until_demo(db_url, user_id, "enabled")

        async def settled() -> bool:  # the job's row turns succeeded after the last step
            jobs: list[object] = (await client.get("/v1/dashboard")).json()["active_jobs"]
            return jobs == []

        await eventually(settled)
        dashboard = DashboardRead.model_validate((await client.get("/v1/dashboard")).json())

        assert dashboard.demo.status == "enabled"
        assert dashboard.demo.job is not None
        assert dashboard.demo.job.status == "succeeded"
        assert len(dashboard.platforms) == 4
        assert all(p.is_demo and p.connection_status == "connected" for p in dashboard.platforms)
        ((impressions, clicks, spend, conversions),) = await query(
            db_url,
            "SELECT sum(impressions), sum(clicks), sum(spend), sum(conversions)"
            " FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id"
            " WHERE p.user_id = %s AND m.day > current_date - 30",
            user_id,
        )
        assert dashboard.metrics.impressions == impressions > 0
        assert dashboard.metrics.clicks == clicks > 0
        assert dashboard.metrics.spend == pytest.approx(float(spend))
        assert dashboard.metrics.conversions == conversions
        assert clicks < impressions  # plausible: a click-through rate under 100 %

    async def test_the_dashboard_is_one_sql_statement_in_one_round_trip(
        self, app: FastAPI, db_url: str, client_for: ClientFor
    ) -> None:
        user_id = make_user(db_url)
        await create_platform(db_url, user_id)
        client = client_for(user_id)
        await client.post("/v1/demo/enable")
        await client.get("/v1/dashboard")  # warm: the passport cache, the pool
        statements: list[str] = []
        engine = app.state.engine.sync_engine

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        traced = TracedReadPool(app.state.read_pool)
        app.state.read_pool = traced
        event.listen(engine, "before_cursor_execute", count)
        try:
            responses = [await client.get("/v1/dashboard") for _ in range(10)]
        finally:
            event.remove(engine, "before_cursor_execute", count)
            app.state.read_pool = traced.pool

        response = responses[-1]
        assert response.status_code == 200
        assert len(response.json()["platforms"]) == 1
        assert len(response.json()["active_jobs"]) == 1
        assert statements == []  # nothing through the ORM engine
        assert traced.count("Execute", "Query") == 10  # one statement per request...
        # ...in one round trip (no BEGIN, no COMMIT), plus one when psycopg prepares the
        # statement on a connection's 6th use.
        assert traced.count("Sync", "Query") <= 11, traced.sent


async def test_every_embedded_job_is_the_job_job_service_serves(
    db_url: str, client_for: ClientFor, passport_key: PassportKey
) -> None:
    """A client reads a job the same way from demo_service's responses (built by the ORM or by
    the dashboard's SQL) and from job_service's GET /v1/jobs/{id}: the same fields, nested ones
    included, and the same values."""
    user_id = make_user(db_url)
    platform_id = await create_platform(db_url, user_id)
    client = client_for(user_id)
    enabling = (await client.post("/v1/demo/enable")).json()["job"]  # no worker: stays queued
    connecting = (await client.post(f"/v1/platforms/{platform_id}/connect")).json()["job"]
    demo = (await client.get("/v1/demo")).json()["job"]
    (platform,) = (await client.get("/v1/platforms")).json()
    dashboard = (await client.get("/v1/dashboard")).json()
    job_settings = JobSettings(
        DATABASE_URL=db_url, PGSTACK_ENV="test", PASSPORT_JWKS=passport_key.jwks
    )
    async with serving(create_job_app(job_settings), headers=passport_key.headers(user_id)) as jobs:
        served = {
            job_id: (await jobs.get(f"/v1/jobs/{job_id}")).json()
            for job_id in (enabling["id"], connecting["id"])
        }

    def keys(value: Any) -> Any:
        """The JSON's structure: its keys, nested objects' keys included."""
        return {k: keys(v) for k, v in value.items()} if isinstance(value, dict) else None

    embedded = {
        enabling["id"]: [enabling, demo, dashboard["demo"]["job"]],
        connecting["id"]: [connecting, platform["job"], dashboard["platforms"][0]["job"]],
    }
    by_id = {job["id"]: job for job in dashboard["active_jobs"]}
    assert by_id.keys() == served.keys()
    for job_id, theirs in served.items():
        for ours in [*embedded[job_id], by_id[job_id]]:
            assert keys(ours) == keys(theirs)
            assert JobRead.model_validate(ours) == JobRead.model_validate(theirs)


async def test_openapi_documents_the_prebuilt_json_routes_with_their_schemas(
    client_for: ClientFor,
) -> None:
    """The web app's generated types see DashboardRead and MetricsRead, not a string."""
    paths = (await client_for(0).get("/openapi.json")).json()["paths"]
    for path, schema in (("/v1/dashboard", "DashboardRead"), ("/v1/metrics", "MetricsRead")):
        content = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{schema}"}
