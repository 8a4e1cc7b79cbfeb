"""The web app against hostile requests, over real HTTP on the running stack (web/server.mjs
in front of the three services): the client's address is the web server's to say, the CSRF
fallback compares whole origins, every answer carries the security headers, and bad input
through the login is a 4xx. tests/deploy/test_images.py runs these against the web container
too."""

import httpx
import pytest

from tests.kit.stack import PASSWORD, Stack

SPOOFED = "203.0.113.7"


def test_a_login_through_the_web_records_the_real_address_not_a_forwarded_one(
    stack: Stack,
) -> None:
    """The web server replaces the client's X-Forwarded-For with the socket's peer, so
    auth_service's throttle and the sessions list see who really asked."""
    email = stack.register()
    with httpx.Client(base_url=stack.web) as web:
        login = web.post(
            "/api/auth/session",
            json={"email": email, "password": PASSWORD},
            headers={"sec-fetch-site": "same-origin", "x-forwarded-for": SPOOFED},
        )
        assert login.status_code == 200, login.text
        cookies = "; ".join(f"{name}={value}" for name, value in web.cookies.items())
    devices = httpx.get(f"{stack.auth}/v1/sessions", headers={"cookie": cookies})
    assert devices.status_code == 200, devices.text
    [device] = devices.json()
    assert device["ip"] in {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.mark.parametrize(
    "origin",
    ["http://attacker@{host}", "https://{host}", "ftp://{host}", "http://{host}.attacker.example"],
)
def test_without_fetch_metadata_an_origin_that_is_not_exactly_ours_is_refused(
    stack: Stack, origin: str
) -> None:
    host = stack.web.removeprefix("http://")
    response = httpx.post(
        f"{stack.web}/api/auth/session",
        json={"email": "a@example.com", "password": "x"},
        headers={"origin": origin.format(host=host)},
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_without_fetch_metadata_our_own_exact_origin_gets_through(stack: Stack) -> None:
    """A wrong password answers 401: the request reached auth_service."""
    response = httpx.post(
        f"{stack.web}/api/auth/session",
        json={"email": stack.register(), "password": "not the password"},
        headers={"origin": stack.web},
    )
    assert response.status_code == 401


def test_pages_and_routes_carry_the_security_headers(stack: Stack) -> None:
    answers = [
        httpx.get(f"{stack.web}/login"),
        httpx.get(f"{stack.web}/dashboard"),  # the redirect to /login
        httpx.get(f"{stack.web}/api/demo/status"),  # 401 from the proxy
        httpx.post(f"{stack.web}/api/auth/session", json={}),  # 403 from the CSRF check
    ]
    assert [a.status_code for a in answers] == [200, 307, 401, 403]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    for api_answer in answers[2:]:
        vary = {v.strip().lower() for v in api_answer.headers.get_list("vary", split_commas=True)}
        assert {"origin", "sec-fetch-site"} <= vary


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ada\u0000@example.com", "password": PASSWORD},
        {"email": "ada@example.com\u200b", "password": PASSWORD},
    ],
)
def test_a_login_with_hidden_characters_through_the_web_is_a_422(
    stack: Stack, body: dict[str, str]
) -> None:
    response = httpx.post(
        f"{stack.web}/api/auth/session", json=body, headers={"sec-fetch-site": "same-origin"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
