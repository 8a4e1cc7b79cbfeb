"""Rolling deploys: `pgstack migrate --to expand|head`, and readiness over a window of revisions,
so the previous release's writers and this release's services run on one database at once."""

from collections.abc import Iterator

import bcrypt
import httpx
import psycopg
import pytest

from deploy import cli, migrate
from shared.health import OLDEST_SCHEMA, SCHEMA_HEAD
from tests.deploy.processes import Processes, base_env, pgstack, wait_for_status

PASSWORD = "legacy password 1"


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop()


def legacy_signup(url: str, email: str) -> None:
    """What the app before the refactor did on sign-up: a bcrypt hash, the booleans."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO users (email, hashed_password, is_demo_mode) VALUES (%s, %s, false)",
            (email, hashed),
        )
        conn.execute(
            "INSERT INTO platforms (user_id, kind, name, is_connected)"
            " SELECT id, 'google_ads', 'Google Ads', false FROM users WHERE email = %s",
            (email,),
        )


def legacy_toggle(url: str, email: str, on: bool) -> None:
    """The old app's demo switch and connect button: it flips the booleans."""
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE users SET is_demo_mode = %s WHERE email = %s", (on, email))
        conn.execute(
            "UPDATE platforms SET is_connected = %s"
            " WHERE user_id = (SELECT id FROM users WHERE email = %s)",
            (on, email),
        )


def statuses(url: str, email: str) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT u.demo_mode_status, p.connection_status FROM users u"
            " JOIN platforms p ON p.user_id = u.id WHERE u.email = %s",
            (email,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def log_in(client: httpx.Client, base: str, email: str, password: str) -> None:
    response = client.post(
        f"{base}/v1/session",
        json={"email": email, "password": password},
        headers={"sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 200, response.text
    assert client.get(f"{base}/v1/session").status_code == 200


def migrate_to(target: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`pgstack migrate --to TARGET` (in this process, on DATABASE_URL); what it printed."""
    cli.main(["migrate", "--to", target])
    return capsys.readouterr().out


class TestMigrateTo:
    def test_expand_stops_before_the_contract_and_head_applies_it(
        self, empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`--to expand` on a legacy database applies every revision before the contract; a
        second `--to expand` changes nothing; `--to head` applies the rest."""
        monkeypatch.setenv("DATABASE_URL", empty_db_url)
        migrate_to("0001_legacy_baseline", capsys)
        assert "at 0004_jobs" in migrate_to("expand", capsys)
        assert "at 0004_jobs" in migrate_to("expand", capsys)
        assert f"at {migrate.head()}" in migrate_to("head", capsys)
        # With no contract left to apply, expand is the head.
        assert f"at {migrate.head()}" in migrate_to("expand", capsys)

    def test_an_unknown_revision_is_refused_with_the_known_ones(
        self, empty_db_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A typo in `--to` is a clear error naming the revisions, not a traceback."""
        monkeypatch.setenv("DATABASE_URL", empty_db_url)
        with pytest.raises(SystemExit) as exited:
            cli.main(["migrate", "--to", "0042_nope"])
        message = str(exited.value.code)
        assert "unknown revision '0042_nope'" in message
        assert "0001_legacy_baseline" in message


@pytest.mark.timeout(150)
def test_the_legacy_app_writes_on_the_expanded_schema_while_new_pods_wait_then_contract(
    empty_db_url: str, processes: Processes
) -> None:
    """Between expand and contract the old app's writers work on the expanded schema (the
    dual-write triggers keep the new status columns in step), while this release's pods, which
    need revisions after the contract, answer /readyz 503 saying which revision they run on;
    once the contract is applied they become ready without a restart and serve the users the
    old app signed up (its bcrypt hashes)."""
    url = empty_db_url
    migrate.migrate_to(url, "0001_legacy_baseline")
    legacy_signup(url, "old@example.com")
    assert migrate.migrate_to(url, "expand") == "0004_jobs"

    env = base_env(url)
    auth = processes.serve("auth", env)
    env["PASSPORT_JWKS_URL"] = f"{auth}/.well-known/jwks.json"
    jobs = processes.serve("jobs", env)
    demo = processes.serve("demo", env)
    for url_, oldest in ((auth, OLDEST_SCHEMA["auth"]), (jobs, SCHEMA_HEAD), (demo, SCHEMA_HEAD)):
        wait_for_status(f"{url_}/readyz", 503, processes)
        assert f"runs on {oldest}" in httpx.get(f"{url_}/readyz").json()["detail"]

    # The old app keeps writing its booleans; the new columns follow.
    legacy_toggle(url, "old@example.com", on=True)
    assert statuses(url, "old@example.com") == ("enabled", "connected")
    legacy_toggle(url, "old@example.com", on=False)
    assert statuses(url, "old@example.com") == ("disabled", "disconnected")

    # Every old pod is gone: contract (the command a Job runs). The same new processes become
    # ready and serve the old app's users.
    contracted = pgstack("migrate", "--to", "head", env={"DATABASE_URL": url})
    assert contracted.returncode == 0, contracted.stderr
    for url_ in (auth, jobs, demo):
        wait_for_status(f"{url_}/readyz", 200, processes)
    with httpx.Client() as client:
        log_in(client, auth, "old@example.com", PASSWORD)
        new_user = {"email": "new@example.com", "password": "a new and long password 7"}
        response = client.post(
            f"{auth}/v1/users", json=new_user, headers={"sec-fetch-site": "same-origin"}
        )
        assert response.status_code == 201, response.text
        log_in(client, auth, "new@example.com", "a new and long password 7")
    # The old app's writes would now fail: why the contract waits for the rollout's end.
    with pytest.raises(psycopg.errors.UndefinedColumn):
        legacy_toggle(url, "old@example.com", on=True)
