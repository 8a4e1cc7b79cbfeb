"""Which client address auth believes (throttling and the device list use it), over real HTTP
on a real PostgreSQL: the socket's peer, unless the peer is a configured trusted proxy."""

from tests.auth_service.kit import PASSWORD, ServeFactory, login, register, with_cookie


async def seen_address(
    serve: ServeFactory, headers: list[tuple[str, str]], **settings: object
) -> str:
    """The address the device list shows for a login sent with `headers`."""
    async with serve(**settings) as client:
        email = await register(client)
        response = await client.post(
            "/v1/session",
            json={"email": email, "password": PASSWORD},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        token = await login(client, email)
        devices = (await client.get("/v1/sessions", headers=with_cookie(token))).json()
    [first] = [device for device in devices if not device["current"]]
    address: str = first["ip"]
    return address


async def test_by_default_no_one_is_trusted_not_even_the_local_host(serve: ServeFactory) -> None:
    """`make dev` puts the web server on 127.0.0.1, but only a setting (AUTH_TRUSTED_PROXIES,
    which dev sets) makes auth believe what it forwards."""
    seen = await seen_address(serve, [("x-forwarded-for", "203.0.113.9")], ip="127.0.0.1")
    assert seen == "127.0.0.1"


async def test_a_client_s_own_header_line_is_not_read_as_the_proxy_s(serve: ServeFactory) -> None:
    """A proxy that adds its own X-Forwarded-For line below the client's forged one: the
    right-most address of all the lines is the one the proxy saw."""
    headers = [("x-forwarded-for", "203.0.113.66"), ("x-forwarded-for", "198.51.100.23")]
    seen = await seen_address(serve, headers, ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"])
    assert seen == "198.51.100.23"


async def test_a_forged_chain_through_a_trusted_proxy_yields_the_proxy_s_peer(
    serve: ServeFactory,
) -> None:
    """Only the part of the chain that trusted proxies wrote is believed."""
    headers = [("x-forwarded-for", "203.0.113.66, 198.51.100.23, 10.9.0.7")]
    seen = await seen_address(serve, headers, ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"])
    assert seen == "198.51.100.23"


async def test_an_ipv4_mapped_ipv6_address_is_its_ipv4_address(serve: ServeFactory) -> None:
    """A dual-stack proxy names IPv4 clients as ::ffff:a.b.c.d: the device list shows a.b.c.d."""
    headers = [("x-forwarded-for", "::ffff:203.0.113.9")]
    seen = await seen_address(serve, headers, ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"])
    assert seen == "203.0.113.9"


async def test_failures_from_the_mapped_and_the_plain_spelling_count_as_one_address(
    serve: ServeFactory,
) -> None:
    """Otherwise one client gets twice the guesses (and, as an IPv6 address, its /64 would be
    all of IPv4's mapped space: everyone's failures counted together)."""
    async with serve(ip="10.9.0.1", trusted_proxies=["10.9.0.0/16"]) as client:
        for i in range(10):
            spelling = "::ffff:203.0.113.77" if i % 2 else "203.0.113.77"
            response = await client.post(
                "/v1/session",
                json={"email": f"nobody-{i}@example.com", "password": "wrong password"},
                headers={"x-forwarded-for": spelling},
            )
            assert response.status_code == 401
        response = await client.post(
            "/v1/session",
            json={"email": "nobody-else@example.com", "password": "wrong password"},
            headers={"x-forwarded-for": "203.0.113.77"},
        )
    assert response.status_code == 429
