// What every route handler does before its work: refuse cross-site unsafe requests (CSRF) and
// requests without a valid session.

import "server-only";

import { getSession } from "./auth-server";
import type { SessionInfo } from "./types";

export function problem(status: number, title: string, detail: string): Response {
  return Response.json(
    { type: "about:blank", title, status, detail },
    {
      status,
      headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
    },
  );
}

// This app's own origin as browsers serialise it (scheme, host, port), e.g. https://app.example.com;
// by default the development stack's http://localhost:3000 (shifted by PGSTACK_PORT_OFFSET).
const offset = Number(process.env.PGSTACK_PORT_OFFSET ?? "0") || 0;
const canonicalOrigin = serialisedOrigin(
  process.env.WEB_ORIGIN ?? `http://localhost:${3000 + offset}`,
);

// Origins besides this app's own that may send unsafe requests (comma-separated).
const allowedOrigins = new Set(
  (process.env.WEB_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((origin) => serialisedOrigin(origin.trim()))
    .filter((origin): origin is string => origin !== null),
);
if (canonicalOrigin) allowedOrigins.add(canonicalOrigin);

// The CSRF decision reads these request headers: a cache must not serve one answer for another.
export const CSRF_VARY = "Origin, Sec-Fetch-Site";

function serialisedOrigin(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
}

/**
 * A 403 for an unsafe request that did not come from this app's own pages, else null.
 *
 * Browsers send `Sec-Fetch-Site`; older ones only `Origin`, which must then be exactly this app's
 * configured origin (WEB_ORIGIN) or an allowed one, compared as browsers serialise it: a Host
 * match would let `http://attacker@host`, another scheme or another port through. A JSON content
 * type keeps plain HTML forms from other sites out.
 */
export function rejectCrossSite(request: Request): Response | null {
  const site = request.headers.get("sec-fetch-site");
  const origin = request.headers.get("origin");
  const allowedOrigin = origin !== null && allowedOrigins.has(origin);
  const sameOrigin = site ? site === "same-origin" || allowedOrigin : allowedOrigin;
  if (!sameOrigin) return withVary(problem(403, "Forbidden", "Cross-site request refused."));
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") {
    return withVary(problem(415, "Unsupported Media Type", "Send application/json."));
  }
  return null;
}

function withVary(response: Response): Response {
  response.headers.set("vary", CSRF_VARY);
  return response;
}

/** The session, or the 401 to answer with. */
export async function sessionOrProblem(): Promise<SessionInfo | Response> {
  try {
    return (await getSession()) ?? problem(401, "Unauthorized", "Sign in first.");
  } catch {
    return problem(503, "Service Unavailable", "The sign-in service is not answering.");
  }
}

/** Headers the auth service needs to judge a request the browser made through us. */
export function forwardedHeaders(request: Request): Record<string, string> {
  const forwarded: Record<string, string> = {};
  for (const name of ["user-agent", "sec-fetch-site", "origin", "x-forwarded-for"]) {
    const value = request.headers.get(name);
    if (value) forwarded[name] = value;
  }
  return forwarded;
}
