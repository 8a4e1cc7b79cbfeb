"""What a request carries: its session token (cookie or legacy bearer), its client address,
and the Set-Cookie headers that hand a session to the browser."""

import datetime as dt
import ipaddress
import math

from fastapi import Request, Response
from prometheus_client import Counter

from auth_service.config import Settings
from auth_service.errors import LegacyBearerDisabled, NotAuthenticated
from auth_service.service import Transport

LEGACY_BEARER = Counter(
    "pgstack_auth_legacy_bearer",
    "Requests authenticated by a legacy `Authorization: Bearer` session token.",
    ["route"],
)


def bearer(request: Request) -> str | None:
    """The bearer credential, if the request has an Authorization header of that scheme."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def presented_token(request: Request, settings: Settings) -> tuple[str | None, Transport]:
    """The session token and how it came. An Authorization header wins over the cookie, so a
    client in mid-migration is judged by the token it chose to send."""
    if "authorization" not in request.headers:
        return request.cookies.get(settings.cookie_name), "cookie"
    if not settings.legacy_bearer:
        raise LegacyBearerDisabled(headers={"WWW-Authenticate": "Bearer"})
    token = bearer(request)
    if not token:
        raise NotAuthenticated(headers={"WWW-Authenticate": "Bearer"})
    route = getattr(request.scope.get("route"), "path", "unmatched")
    LEGACY_BEARER.labels(route).inc()
    return token, "bearer"


def client_ip(request: Request, settings: Settings) -> str | None:
    """The socket's peer; behind a trusted proxy, the right-most address in the proxy's
    header that is not itself a trusted proxy (the left part of the list is client-made)."""
    peer = request.client.host if request.client else None
    if peer is None or not settings.trusted_proxies or not _trusted(peer, settings):
        return _valid(peer)
    # Every line of the header, in order: a proxy that adds its own line below the client's
    # must not have the client's line read as its word.
    header = ",".join(request.headers.getlist(settings.client_ip_header))
    if not header:
        return _valid(peer)
    for candidate in reversed([part.strip() for part in header.split(",")]):
        address = _valid(candidate)
        if address is None:
            break  # garbage in the chain: believe nothing left of it
        if not _trusted(address, settings):
            return address
    return _valid(peer)


def _valid(address: str | None) -> str | None:
    """The address in its one spelling; an IPv4 client named by a dual-stack proxy or socket
    (`::ffff:a.b.c.d`) is `a.b.c.d`, so its failed logins count once, as one address."""
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _trusted(address: str, settings: Settings) -> bool:
    plain = _valid(address)  # a proxy named ::ffff:10.0.0.1 is 10.0.0.1's
    if plain is None:
        return False
    ip = ipaddress.ip_address(plain)
    return any(ip in network for network in settings.trusted_proxies)


def set_session_cookie(
    response: Response,
    *,
    token: str,
    expires_at: dt.datetime,
    now: dt.datetime,
    settings: Settings,
) -> None:
    """Written by hand: the `__Host-` prefix needs exactly Secure, Path=/ and no Domain."""
    max_age = max(0, math.floor((expires_at - now).total_seconds()))
    response.headers.append(
        "set-cookie", f"{settings.cookie_name}={token}; {_attributes(max_age, settings)}"
    )
    response.headers["cache-control"] = "no-store"


def clear_session_cookie(response: Response, *, settings: Settings) -> None:
    response.headers.append("set-cookie", f"{settings.cookie_name}=; {_attributes(0, settings)}")
    response.headers["cache-control"] = "no-store"


def _attributes(max_age: int, settings: Settings) -> str:
    secure = "; Secure" if settings.cookie_secure else ""
    return f"Max-Age={max_age}; Path=/{secure}; HttpOnly; SameSite=Lax"
