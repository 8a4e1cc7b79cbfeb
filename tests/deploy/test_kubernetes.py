"""deploy/k8s: every kustomization builds (`kubectl kustomize`, Debian's kubectl) into
resources that Kubernetes' schemas accept (kubernetes-validate, strict), with the probes,
restrictions, budgets, scaling, migrations and network paths the README promises.

KEDA's and CloudNativePG's resources are custom: no PyPI package ships their schemas, so they
are checked field by field here, and the KEDA query is run on a real database.
"""

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import psycopg
import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import job_service.tasks  # noqa: F401  (registers jobs:noop for the queue-depth test)
from auth_service.config import Settings as AuthSettings
from shared import jobs

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(p.parent.relative_to(K8S) for p in K8S.rglob("kustomization.yaml"))
OVERLAYS = [k for k in KUSTOMIZATIONS if k.parts[0] == "overlays" and len(k.parts) == 2]
CUSTOM_GROUPS = ("keda.sh/", "postgresql.cnpg.io/")
PYTHON = {"auth", "demo", "jobs", "worker"}


@cache
def build(kustomization: Path) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "the Kubernetes tests need kubectl (Debian: apt-get install kubectl)"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / kustomization)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def env_of(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    """What a Python pod of this build sees from pgstack-config and pgstack-secrets."""
    config = of_kind(docs, "ConfigMap")["pgstack-config"]["data"]
    secret = of_kind(docs, "Secret")["pgstack-secrets"]["stringData"]
    return {**config, **secret}


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions with In) against labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def allowed(
    docs: tuple[dict[str, Any], ...], src: dict[str, str], dst: dict[str, str], port: int
) -> bool:
    """Whether the NetworkPolicies of one namespace let a pod labelled `src` open a connection
    to a pod labelled `dst` on `port` (src {} is a client outside the namespace)."""

    def admits(rules: list[dict[str, Any]], peer: dict[str, str], side: str) -> bool:
        for rule in rules:
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get(side, [])
            if not peers or any(
                "podSelector" in p and peer and matches(p["podSelector"], peer) for p in peers
            ):
                return True
        return False

    policies = [d["spec"] for d in docs if d["kind"] == "NetworkPolicy"]
    ingress = [p for p in policies if "Ingress" in p["policyTypes"]]
    egress = [p for p in policies if "Egress" in p["policyTypes"]]
    selecting_dst = [p for p in ingress if matches(p["podSelector"], dst)]
    selecting_src = [p for p in egress if src and matches(p["podSelector"], src)]
    ingress_ok = not selecting_dst or any(
        admits(p.get("ingress", []), src, "from") for p in selecting_dst
    )
    egress_ok = not selecting_src or any(
        admits(p.get("egress", []), dst, "to") for p in selecting_src
    )
    return ingress_ok and egress_ok


def pod_labels(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, str]:
    labels: dict[str, str] = of_kind(docs, "Deployment")[name]["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=str)
def test_every_kustomization_builds_into_schema_valid_resources(kustomization: Path) -> None:
    """Every built-in resource passes Kubernetes' own schema, unknown fields refused; the
    custom ones (KEDA, CNPG) are only of the groups the README names."""
    docs = build(kustomization)
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=str)
class TestOverlay:
    def test_every_deployment_is_probed_bounded_and_restricted(self, overlay: Path) -> None:
        """Readiness on /readyz, liveness and startup on /healthz, memory limits, and the
        restricted Pod Security profile (non-root, read-only root, no escalation, no
        capabilities, RuntimeDefault seccomp) for every pgstack pod."""
        deployments = of_kind(build(overlay), "Deployment")
        assert {"auth", "demo", "jobs", "web", "worker"} <= set(deployments)
        for name in ("auth", "demo", "jobs", "web", "worker"):
            pod = deployments[name]["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] > 0
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            (container,) = pod["containers"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["resources"]["limits"]["memory"]
            assert container["resources"]["requests"]["cpu"]
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }

    def test_services_scale_on_cpu_and_workers_on_queue_depth(self, overlay: Path) -> None:
        """An HPA for each service and the web app; KEDA's postgresql trigger for the workers,
        one worker per WORKER_CONCURRENCY jobs; a budget for every Deployment."""
        docs = build(overlay)
        hpas = of_kind(docs, "HorizontalPodAutoscaler")
        assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {
            "auth",
            "demo",
            "jobs",
            "web",
        }
        (scaled,) = of_kind(docs, "ScaledObject").values()
        assert scaled["spec"]["scaleTargetRef"]["name"] == "worker"
        assert scaled["spec"]["minReplicaCount"] >= 1
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "postgresql"
        assert trigger["metadata"]["targetQueryValue"] == env_of(docs)["WORKER_CONCURRENCY"]
        auth_ref = of_kind(docs, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
        assert auth_ref["spec"]["secretTargetRef"][0]["parameter"] == "connection"
        budgets = of_kind(docs, "PodDisruptionBudget").values()
        for name in ("auth", "demo", "jobs", "web", "worker"):
            labels = pod_labels(docs, name)
            assert any(matches(b["spec"]["selector"], labels) for b in budgets), name

    def test_a_stopped_worker_gets_longer_than_its_jobs_grace(self, overlay: Path) -> None:
        """terminationGracePeriodSeconds is above WORKER_SHUTDOWN_GRACE, so the kubelet's
        SIGKILL never cuts a job inside its grace."""
        docs = build(overlay)
        worker = of_kind(docs, "Deployment")["worker"]["spec"]["template"]["spec"]
        grace = float(env_of(docs)["WORKER_SHUTDOWN_GRACE"])
        assert worker["terminationGracePeriodSeconds"] > grace

    def test_the_rollout_expands_and_only_the_contract_kustomization_contracts(
        self, overlay: Path
    ) -> None:
        """Applying an overlay runs `migrate --to expand`; `migrate --to head` is only in its
        `contract` kustomization, applied after the rollout, on the same image."""
        docs = build(overlay)
        jobs_here = of_kind(docs, "Job")
        assert [
            j["spec"]["template"]["spec"]["containers"][0]["args"] for j in jobs_here.values()
        ] == [["migrate", "--to", "expand"]]
        (contract,) = of_kind(build(overlay / "contract"), "Job").values()
        container = contract["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["migrate", "--to", "head"]
        expand_image = next(iter(jobs_here.values()))["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == expand_image["image"]
        namespace = next(iter(jobs_here.values()))["metadata"]["namespace"]
        assert contract["metadata"]["namespace"] == namespace

    def test_database_url_and_signing_keys_are_secrets_not_config(self, overlay: Path) -> None:
        """The database URLs and the passport keys come from Secrets, never the ConfigMap."""
        docs = build(overlay)
        config = of_kind(docs, "ConfigMap")["pgstack-config"]["data"]
        assert not {"DATABASE_URL", "DATABASE_LISTEN_URL", "AUTH_PASSPORT_PRIVATE_KEYS"} & set(
            config
        )
        assert (
            "AUTH_PASSPORT_PRIVATE_KEYS" in of_kind(docs, "Secret")["pgstack-secrets"]["stringData"]
        )
        for name in PYTHON:
            container = of_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"][
                0
            ]
            refs = [e.get("secretRef", {}).get("name") for e in container["envFrom"]]
            assert "pgstack-secrets" in refs

    def test_network_paths_go_web_to_services_to_postgres_only(self, overlay: Path) -> None:
        """The outside reaches the web app only; the web app the services, not the database;
        services and workers the database."""
        docs = build(overlay)
        web, auth, demo, worker = (pod_labels(docs, n) for n in ("web", "auth", "demo", "worker"))
        database = {"app.kubernetes.io/component": "postgres", "cnpg.io/cluster": "pgstack-db"}
        outside: dict[str, str] = {}
        assert allowed(docs, outside, web, 3000)
        assert not allowed(docs, outside, auth, 8001)
        assert not allowed(docs, outside, worker, 8010)
        assert allowed(docs, web, auth, 8001)
        assert allowed(docs, web, demo, 8002)
        assert allowed(docs, demo, auth, 8001)  # its key set
        assert not allowed(docs, web, database, 5432)
        assert allowed(docs, auth, database, 5432)
        assert allowed(docs, worker, database, 5432)
        assert not allowed(docs, outside, database, 5432) or overlay.name == "production"


def auth_settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AuthSettings:
    """auth_service's settings as a pod with this environment reads them."""
    with monkeypatch.context() as patched:
        for name, value in env.items():
            patched.setenv(name, value)
        return AuthSettings()


def test_production_refuses_to_start_on_the_placeholder_signing_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The production overlay's Secret holds placeholders on purpose: auth_service built from
    its environment refuses them, where the dev overlay's environment is accepted."""
    production = env_of(build(Path("overlays/production")))
    with pytest.raises(ValidationError, match="placeholder"):
        auth_settings_from(production, monkeypatch)
    dev = env_of(build(Path("overlays/dev")))
    assert auth_settings_from(dev, monkeypatch).environment == "development"


def test_the_cloudnativepg_overlay_pools_requests_and_listens_on_the_primary() -> None:
    """With CNPG the request paths go through its PgBouncer Pooler in transaction mode and
    LISTEN straight to the primary, both with the credentials CNPG generates."""
    docs = build(Path("overlays/cloudnativepg"))
    (cluster,) = of_kind(docs, "Cluster").values()
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 2
    (pooler,) = of_kind(docs, "Pooler").values()
    assert pooler["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    for name in PYTHON:
        container = of_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert f"@{pooler['metadata']['name']}:" in env["DATABASE_URL"]["value"]
        assert f"@{cluster['metadata']['name']}-rw:" in env["DATABASE_LISTEN_URL"]["value"]
        # $(VAR) expansion needs the variables defined before their use.
        names = list(env)
        assert names.index("DB_PASSWORD") < names.index("DATABASE_URL")


async def test_the_queue_depth_query_counts_running_and_due_jobs(
    db_url: str, engine: AsyncEngine
) -> None:
    """KEDA's query runs on the real schema and counts jobs that need a worker slot now:
    due and running ones, not those scheduled for later."""
    (scaled,) = of_kind(build(Path("overlays/production")), "ScaledObject").values()
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]

    def depth() -> int:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])

    before = depth()
    async with AsyncSession(engine) as session:
        for _ in range(3):
            await jobs.enqueue(session, "jobs:noop", None, {})
        await session.commit()
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing'"
            " WHERE id = (SELECT max(id) FROM procrastinate_jobs)"
        )
        conn.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() + interval '1 hour'"
            " WHERE id = (SELECT min(id) FROM procrastinate_jobs WHERE status = 'todo')"
        )
    assert depth() == before + 2
