"""The client's address and origin as each deployment sets them (compose.yaml as Docker Compose
resolves it, every Kubernetes overlay as `kubectl kustomize` builds it): the web app says how
many proxies of ours stand in front of it and which origin it serves, and auth_service, read
with its real settings and its real `client_ip`, believes exactly the address the web app
forwards, from nobody else, and lets exactly that origin send unsafe requests.

The login throttle counts failures per client address: trusting too little makes every user
the web app's address (ten wrong passwords from anyone lock everyone out), trusting too much
lets a client name a new address on every guess.
"""

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from starlette.requests import Request

from auth_service.config import Settings as AuthSettings
from auth_service.credentials import client_ip
from tests.deploy.test_compose import compose as compose_fixture
from tests.deploy.test_kubernetes import OVERLAYS, build, env_of, of_kind

# Where each deployment's web app sends its requests to auth from. Compose: its own network
# (compose.yaml names the subnet). Kubernetes: the pod network of the clusters the overlays
# document (kind's and minikube's; an operator sets AUTH_TRUSTED_PROXIES to theirs).
POD_ADDRESS = "10.244.3.17"
PUBLIC_CLIENT = "198.51.100.7"
OFFICE_CLIENT = "192.168.1.20"  # a user on a private network of their own
FORGED = "203.0.113.9"

compose = compose_fixture


def container_env(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, str]:
    """A Deployment's container environment: its ConfigMap and Secret (envFrom), then its own
    variables (values, and ConfigMap keys; a Secret's key as its reference)."""
    config = of_kind(docs, "ConfigMap")["pgstack-config"]["data"]
    (container,) = of_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
    env = env_of(docs) if container.get("envFrom") else {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "configMapKeyRef" in item["valueFrom"]:
            env[item["name"]] = config[item["valueFrom"]["configMapKeyRef"]["key"]]
        else:
            env[item["name"]] = str(item["valueFrom"]["secretKeyRef"])
    return env


def deployment(name: str, compose: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], str]:
    """(auth's environment, the web app's environment, an address a web app's request to auth
    comes from) of one deployment."""
    if name == "compose":
        services = compose["services"]
        (network,) = compose["networks"]["default"]["ipam"]["config"]
        web_address = str(ipaddress.ip_network(network["subnet"])[10])
        return services["auth"]["environment"], services["web"]["environment"], web_address
    docs = build(Path(name))
    return container_env(docs, "auth"), container_env(docs, "web"), POD_ADDRESS


def auth_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AuthSettings:
    """auth_service's settings from this environment, with a real signing key where the
    manifests hold a placeholder for the operator to replace."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    with monkeypatch.context() as patched:
        for key, value in env.items():
            patched.setenv(key, value)
        if "replace-me" in env.get("AUTH_PASSPORT_PRIVATE_KEYS", ""):
            patched.setenv("AUTH_PASSPORT_PRIVATE_KEYS", pem.decode())
        return AuthSettings()


def request_from(peer: str, forwarded_for: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for else []
    return Request({"type": "http", "method": "POST", "client": (peer, 40000), "headers": headers})


DEPLOYMENTS = ["compose", *map(str, OVERLAYS)]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_auth_believes_the_address_the_web_app_forwards_and_nobody_elses(
    name: str, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request from the web app carries the client's address (what web/server.mjs wrote,
    public or on the user's own private network) and auth records that address; a request
    from anywhere else is its connection's address, whatever its header says."""
    auth_env, web_env, web_address = deployment(name, compose)
    settings = auth_settings(auth_env, monkeypatch)
    assert int(web_env["WEB_TRUSTED_HOPS"]) >= 0
    for client in (PUBLIC_CLIENT, OFFICE_CLIENT):
        assert client_ip(request_from(web_address, client), settings) == client
    assert client_ip(request_from(PUBLIC_CLIENT, FORGED), settings) == PUBLIC_CLIENT
    assert client_ip(request_from(OFFICE_CLIENT, FORGED), settings) == OFFICE_CLIENT


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_web_apps_origin_is_the_one_auth_lets_send_unsafe_requests(
    name: str, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WEB_ORIGIN (the web app's CSRF check) is set and allowed by auth_service too; served
    over https exactly where the session cookie is Secure."""
    auth_env, web_env, _ = deployment(name, compose)
    settings = auth_settings(auth_env, monkeypatch)
    origin = web_env["WEB_ORIGIN"]
    assert origin in settings.allowed_origins
    assert settings.cookie_secure == origin.startswith("https://")
