"""Settings refuse what is only safe on a developer's machine."""

from typing import Any

import pytest
from pydantic import ValidationError

from auth_service import keys
from auth_service.config import Settings

URL = "postgresql://localhost/pgstack"


def production(**overrides: Any) -> Settings:
    return Settings(DATABASE_URL=URL, PGSTACK_ENV="production", **overrides)


def test_production_refuses_to_start_without_passport_keys() -> None:
    with pytest.raises(ValidationError, match="AUTH_PASSPORT_PRIVATE_KEYS is required"):
        production()


def test_production_refuses_a_placeholder_key() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        production(passport_private_keys=["-----BEGIN PRIVATE KEY-----changeme"])


def test_production_refuses_a_cookie_without_secure() -> None:
    with pytest.raises(ValidationError, match="AUTH_COOKIE_SECURE"):
        production(passport_private_keys=[keys.generate_pem()], cookie_secure=False)


def test_production_accepts_real_keys_and_a_host_only_secure_cookie() -> None:
    settings = production(passport_private_keys=[keys.generate_pem()])
    assert settings.cookie_name == "__Host-session"


def test_development_may_use_a_plain_cookie_and_a_generated_key() -> None:
    settings = Settings(DATABASE_URL=URL, PGSTACK_ENV="development", cookie_secure=False)
    assert settings.cookie_name == "session"
    assert keys.PassportKeys.from_settings(settings.passport_private_keys).keys


def test_lists_and_durations_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ALLOWED_ORIGINS", "https://App.example.com/, https://b.example")
    monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
    monkeypatch.setenv("AUTH_SESSION_IDLE_TIMEOUT", "3600")
    monkeypatch.setenv("AUTH_SESSION_ABSOLUTE_TIMEOUT", "P14D")
    settings = Settings(DATABASE_URL=URL, PGSTACK_ENV="test")
    assert settings.allowed_origins == ["https://app.example.com", "https://b.example"]
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert settings.session_idle_timeout.total_seconds() == 3600
    assert settings.session_absolute_timeout.days == 14


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    with pytest.raises(keys.InvalidKey):
        keys.load_key("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")


def _client(**overrides: Any) -> dict[str, Any]:
    return {
        "client_id": "billing",
        "secret_sha256": "0" * 64,
        "scopes": ["jobs:enqueue"],
        "kinds": ["demo:enable"],
        **overrides,
    }


def test_a_service_client_that_may_enqueue_names_its_kinds() -> None:
    settings = Settings(DATABASE_URL=URL, PGSTACK_ENV="test", service_clients=[_client()])
    assert settings.service_clients[0].kinds == ["demo:enable"]
    with pytest.raises(ValidationError, match="the jobs:enqueue scope needs `kinds`"):
        Settings(DATABASE_URL=URL, PGSTACK_ENV="test", service_clients=[_client(kinds=[])])


def test_a_service_client_may_never_enqueue_procrastinates_builtin_tasks() -> None:
    builtin = "builtin:procrastinate.builtin_tasks.remove_old_jobs"
    with pytest.raises(ValidationError, match="builtin tasks are never enqueued"):
        Settings(DATABASE_URL=URL, PGSTACK_ENV="test", service_clients=[_client(kinds=[builtin])])
