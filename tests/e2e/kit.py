"""End-to-end test kit: the running stack's addresses and API shortcuts, Chromium, logging in.

Imported as `tests.e2e.kit`; the fixtures that start the stack are in conftest.py.
"""

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium phones home, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Each of the demo task's 5 steps waits this long: enabling takes about 2.5 s, long enough to
# watch progress move and to reload or close the browser in the middle.
STEP_DELAY = "0.5"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Stack:
    web: str  # what the browser opens: http://localhost:<port>
    auth: str
    demo: str
    jobs: str
    database_url: str
    demo_login: tuple[str, str]  # as `pgstack dev` printed it

    def register(self) -> str:
        """A new account (through auth_service's API); returns its email."""
        email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        response = httpx.post(
            f"{self.auth}/v1/users",
            json={"email": email, "password": PASSWORD, "full_name": "E2E Tester"},
            headers={"origin": self.web},
        )
        assert response.status_code == 201, response.text
        return email

    def passport(self, email: str) -> str:
        """A passport for `email`, as the Next.js server gets one (log in, GET /v1/session)."""
        with httpx.Client(base_url=self.auth, headers={"origin": self.web}) as client:
            login = client.post("/v1/session", json={"email": email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            token: str = client.get("/v1/session").json()["passport"]["token"]
            return token

    def demo_state(self, email: str) -> dict[str, object]:
        response = httpx.get(
            f"{self.demo}/v1/demo", headers={"authorization": f"Bearer {self.passport(email)}"}
        )
        assert response.status_code == 200, response.text
        state: dict[str, object] = response.json()
        return state

    def wait_for_demo(self, email: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (current := self.demo_state(email)["status"]) != status:
            assert time.monotonic() < deadline, f"demo mode still {current!r}"
            time.sleep(0.2)

    def enable_demo(self, email: str) -> None:
        """Demo mode on, through demo_service's API, waiting for its job to finish."""
        response = httpx.post(
            f"{self.demo}/v1/demo/enable",
            headers={"authorization": f"Bearer {self.passport(email)}"},
        )
        assert response.status_code in (200, 202), response.text
        self.wait_for_demo(email, "enabled")


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would, and land on the dashboard."""
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
