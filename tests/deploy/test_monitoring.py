"""deploy/monitoring: the alert rules are valid and behave as their unit tests say (`promtool
test rules`), the dashboard's queries are valid PromQL, and every metric either names is one
the services export."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.kit.passports import PassportKey
from tests.kit.servers import serving
from tests.shared.test_metrics import PROMTOOL, apps

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
METRIC = re.compile(r"\bpgstack_[a-z0-9_]+")


def promtool(*args: str, cwd: Path = MONITORING) -> str:
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def dashboard_expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_alert_rules_are_valid_and_pass_their_unit_tests() -> None:
    """`promtool check rules` and `promtool test rules`: each alert fires on the series of its
    test after its `for`, with its labels and annotations, and not on the healthy ones."""
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "tests/alerts_test.yml")


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """The dashboard's queries, parsed by Prometheus's own parser (as recording rules)."""
    expressions = dashboard_expressions()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(expressions)
                ],
            }
        ]
    }
    # JSON is YAML: promtool reads it as a rule file.
    (tmp_path / "dashboard_rules.yml").write_text(json.dumps(rules))
    checked = promtool("check", "rules", "dashboard_rules.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(expressions)} rules found" in checked


async def test_every_metric_the_dashboard_and_alerts_name_is_exported(
    db_url: str, passport_key: PassportKey
) -> None:
    """Every pgstack_* name in the alert rules and the dashboard's queries is in some
    service's scrape: a renamed metric breaks this test, not a panel nobody looks at until
    the night it matters."""
    exported: set[str] = set()
    for app in apps(db_url, passport_key).values():
        async with serving(app) as client:
            exposition = (await client.get("/metrics")).text
        for line in exposition.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                suffixes = ("_bucket", "_count", "_sum") if kind == "histogram" else ("",)
                exported.update(name + suffix for suffix in suffixes)
    named = {
        name
        for e in [(MONITORING / "alerts.yml").read_text(), *dashboard_expressions()]
        for name in METRIC.findall(e)
    }
    assert len(named) >= 10
    assert named - exported == set()
