// The first gate: a request without a valid session cookie never reaches a page (redirect to
// /login) or a data route (401). It is a convenience, not the security boundary: every page and
// route handler checks the session again through lib/auth-server.ts.

import { NextResponse, type NextRequest } from "next/server";

import {
  IDENTITY_HEADERS,
  SESSION_HEADER,
  checkSession,
  encodeSessionHeader,
  sessionCookieHeader,
} from "./lib/session";

export async function proxy(request: NextRequest): Promise<NextResponse> {
  const isApi = request.nextUrl.pathname.startsWith("/api/");
  const cookie = sessionCookieHeader(request.cookies);
  if (!cookie) return deny(request, isApi);

  const started = performance.now();
  const check = await checkSession(cookie, request.headers.get("user-agent"));
  const sessionMs = performance.now() - started;
  if (check.kind === "invalid") return deny(request, isApi);
  if (check.kind === "unavailable") {
    return NextResponse.json(
      {
        type: "about:blank",
        title: "Service Unavailable",
        status: 503,
        detail: "The sign-in service is not answering.",
      },
      { status: 503, headers: { "retry-after": "1", "content-type": "application/problem+json" } },
    );
  }

  const headers = new Headers(request.headers);
  for (const name of IDENTITY_HEADERS) headers.delete(name);
  headers.set(SESSION_HEADER, encodeSessionHeader(check.session));
  const response = NextResponse.next({ request: { headers } });
  // A signed-in page must never come back from a cache, Back button included, after logout.
  response.headers.set("cache-control", "private, no-store");
  // The session check's share of the time to first byte, for the browser's devtools and bench.
  response.headers.set(
    "server-timing",
    `session;desc="auth_service session check";dur=${sessionMs.toFixed(1)}`,
  );
  return response;
}

function deny(request: NextRequest, isApi: boolean): NextResponse {
  if (isApi) {
    return NextResponse.json(
      { type: "about:blank", title: "Unauthorized", status: 401, detail: "Sign in first." },
      {
        status: 401,
        headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
      },
    );
  }
  const response = NextResponse.redirect(new URL("/login", request.url));
  response.headers.set("cache-control", "no-store");
  return response;
}

export const config = {
  // Everything but the login page, the probes, log-in/out, legacy exchange and static files.
  matcher: ["/((?!login|healthz|readyz|api/auth/|_next/static|_next/image|favicon\\.ico).*)"],
};
