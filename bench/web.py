"""Browser timings of /dashboard with demo data: First Contentful Paint and time to interactive.

    uv run python bench/web.py [--loads 20]      (or `make bench-web`)

Starts `pgstack dev` (services, worker, the web app's production build) on a throwaway
database of DATABASE_URL's server, else of the embedded cluster under .pgstack/; registers a
user, enables demo mode (4 platforms, 90 days of metrics each), logs in with Debian's Chromium
and loads /dashboard `--loads` times, after 2 warm-up loads, in two ways:
- warm: the same tab each time, from about:blank (a returning user: scripts in the HTTP cache,
  the session cookie set);
- cold: a new browser context and tab each time (empty cache), with the cookie copied in.

For scale, the same browser also loads a static HTML page from a Python server 20 times: its
FCP is this machine's floor at that moment (no server work, no script).

All figures come from the page's own Performance APIs: FCP is the `first-contentful-paint`
paint entry; interactive is the `pgstack:hydrated` mark that the demo banner (a client island)
sets in its first effect, i.e. when React has hydrated the page and clicks are handled; TTFB is
the navigation entry's responseStart (proxy.ts's session check + the Server Component's one
call to demo_service + rendering), of which "session check" is proxy.ts's call to auth_service
(its Server-Timing header). Times are milliseconds from navigation start.
"""

import argparse
import http.server
import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from bench.harness import server_url  # noqa: E402
from tests.kit.databases import create_database, drop_database  # noqa: E402
from tests.kit.stack import launch, log_in, running_stack  # noqa: E402
from tests.kit.waiting import wait_for  # noqa: E402

WARMUP = 2
MEASURE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    ttfb: nav.responseStart,
    session: nav.serverTiming.find(t => t.name === 'session')?.duration ?? 0,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
    interactive: performance.getEntriesByName('pgstack:hydrated')[0]?.startTime ?? null,
    html_bytes: nav.transferSize,
  };
}"""


def wait_for_paint(page: Page) -> None:
    """Until the page has its first-contentful-paint entry, polled from here as the e2e tests
    do: Playwright's wait_for_function evaluates a string in the page, which the app's CSP
    (no 'unsafe-eval') may refuse."""
    wait_for(
        lambda: page.evaluate(
            "() => performance.getEntriesByName('first-contentful-paint').length > 0"
        ),
        within=10,
        every=0.01,
        what="first contentful paint",
    )


def load(page: Page) -> dict[str, float]:
    page.goto("about:blank")
    page.goto("/dashboard", wait_until="load")
    page.wait_for_selector("html[data-hydrated=true]")
    # Hydration can finish before the first frame is presented: wait for the paint entry too.
    wait_for_paint(page)
    sample: dict[str, float] = page.evaluate(MEASURE)
    assert sample["fcp"] is not None
    assert sample["interactive"] is not None
    return sample


STATIC_PAGE = (
    b"<!doctype html><html><head><title>static</title></head>"
    b"<body><h1>Dashboard</h1><p>A static page: the floor of FCP here.</p></body></html>"
)


class _StaticPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(STATIC_PAGE)))
        self.end_headers()
        self.wfile.write(STATIC_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def static_floor(browser: Browser, loads: int) -> list[dict[str, float]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StaticPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context(base_url=f"http://localhost:{server.server_port}")
    samples = []
    try:
        for i in range(WARMUP + loads):
            page = context.new_page()
            page.goto("/", wait_until="load")
            wait_for_paint(page)
            sample = page.evaluate(MEASURE)
            page.close()
            if i >= WARMUP:
                samples.append(sample)
    finally:
        context.close()
        server.shutdown()
        server.server_close()
    return samples


def summary(samples: list[dict[str, float]], key: str) -> dict[str, float]:
    values = sorted(s[key] for s in samples)
    # Nearest-rank p95: with 20 loads, the 19th.
    p95 = values[max(0, -(-95 * len(values) // 100) - 1)]
    return {"median": round(statistics.median(values), 1), "p95": round(p95, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()

    url = create_database(server_url(), prefix="benchweb")
    results: dict[str, list[dict[str, float]]] = {"warm": [], "cold": [], "static": []}
    try:
        with (
            tempfile.TemporaryDirectory() as logs,
            running_stack(url, Path(logs) / "stack.log", DEMO_STEP_DELAY="0") as stack,
            sync_playwright() as p,
        ):
            email = stack.register()
            stack.enable_demo(email)
            browser = launch(p)
            context = browser.new_context(base_url=stack.web)
            login_page = context.new_page()
            log_in(login_page, email)
            login_page.close()
            cookies = context.cookies()
            tab = context.new_page()
            for i in range(WARMUP + args.loads):
                sample = load(tab)
                if i >= WARMUP:
                    results["warm"].append(sample)
            for i in range(WARMUP + args.loads):
                cold = browser.new_context(base_url=stack.web)
                cold.add_cookies(cookies)  # type: ignore[arg-type]
                sample = load(cold.new_page())
                cold.close()
                if i >= WARMUP:
                    results["cold"].append(sample)
            results["static"] = static_floor(browser, args.loads)
            browser.close()
    finally:
        drop_database(url)

    report: dict[str, Any] = {"loads": args.loads}
    print(f"/dashboard with demo data, {args.loads} loads each, milliseconds (median / p95)")
    print(f"{'':6} {'session check':>15} {'TTFB':>15} {'FCP':>15} {'interactive':>15}")
    for mode, samples in results.items():
        keys = ("ttfb", "fcp") if mode == "static" else ("session", "ttfb", "fcp", "interactive")
        row = {key: summary(samples, key) for key in keys}
        report[mode] = row
        cells = " ".join(f"{row[k]['median']:>7} / {row[k]['p95']:<5}" for k in row)
        if mode == "static":
            cells = f"{'':15} {cells}"
        print(f"{mode:6} {cells}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
