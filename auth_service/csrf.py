"""CSRF defence for unsafe requests: same-origin (or an allowed Origin) and a JSON body.

A cookie rides along with any cross-site form post, so an unsafe request carrying the cookie
must prove it comes from our own pages: `Sec-Fetch-Site: same-origin`, which browsers set and
scripts cannot forge, or an `Origin` in AUTH_ALLOWED_ORIGINS. A bearer header is never sent
by the browser on its own, so bearer requests are exempt.

Login and registration apply the same rule although they carry no session: a cross-site form
that logs the victim into the attacker's account (login CSRF) is a known attack.
"""

from fastapi import Request

from auth_service import credentials
from auth_service.config import Settings
from auth_service.errors import CrossSiteRequest, UnsupportedMediaType

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def protect(request: Request) -> None:
    """Refuse an unsafe, non-bearer request that is cross-site (403) or not JSON (415)."""
    if request.method in SAFE_METHODS or credentials.bearer(request) is not None:
        return
    settings: Settings = request.app.state.settings
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin", "").lower().rstrip("/")
    if site != "same-origin" and origin not in settings.allowed_origins:
        raise CrossSiteRequest()
    if _has_body(request):
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "transfer-encoding" in request.headers
