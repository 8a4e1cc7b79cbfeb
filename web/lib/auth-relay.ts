// Log in, log out and the legacy exchange go to auth_service, and the cookie it sets comes back
// to the browser unchanged: this app never mints, reads or stores a session token itself.

import "server-only";

import { AUTH_URL, SERVICE_TIMEOUT_MS } from "./config";
import { forwardedHeaders } from "./route-guard";
import type { SessionInfo } from "./types";

export async function relayToAuth(
  request: Request,
  path: string,
  init: { method: string; body?: string; headers?: Record<string, string> },
): Promise<Response> {
  // Unreachable or slow: thrown, and answered 503 by the route's guard.
  const upstream = await fetch(`${AUTH_URL}${path}`, {
    method: init.method,
    body: init.body,
    headers: {
      ...forwardedHeaders(request),
      accept: "application/json",
      "content-type": "application/json",
      ...init.headers,
    },
    cache: "no-store",
    redirect: "manual",
    signal: AbortSignal.timeout(SERVICE_TIMEOUT_MS),
  });
  const headers = new Headers({ "cache-control": "no-store" });
  for (const name of ["content-type", "retry-after"]) {
    const value = upstream.headers.get(name);
    if (value) headers.set(name, value);
  }
  for (const cookie of upstream.headers.getSetCookie()) headers.append("set-cookie", cookie);
  if (upstream.status === 204) return new Response(null, { status: 204, headers });
  if (upstream.ok) {
    // The browser gets the user, never the passport: that stays between servers.
    const { user } = (await upstream.json()) as SessionInfo;
    return Response.json({ user }, { status: upstream.status, headers });
  }
  return new Response(await upstream.arrayBuffer(), { status: upstream.status, headers });
}
