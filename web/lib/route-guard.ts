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

// Origins besides this app's own that may send unsafe requests (comma-separated).
const allowedOrigins = new Set(
  (process.env.WEB_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean),
);

/**
 * A 403 for an unsafe request that did not come from this app's own pages, else null.
 *
 * Browsers send `Sec-Fetch-Site`; older ones only `Origin`, which must then be this app's origin
 * (its Host) or an allowed one. A JSON content type keeps plain HTML forms from other sites out.
 */
export function rejectCrossSite(request: Request): Response | null {
  const site = request.headers.get("sec-fetch-site");
  const origin = request.headers.get("origin");
  let sameOrigin: boolean;
  if (site) {
    sameOrigin = site === "same-origin" || (origin !== null && allowedOrigins.has(origin));
  } else if (origin) {
    let host: string | null = null;
    try {
      host = new URL(origin).host;
    } catch {
      host = null;
    }
    sameOrigin = host === request.headers.get("host") || allowedOrigins.has(origin);
  } else {
    sameOrigin = false;
  }
  if (!sameOrigin) return problem(403, "Forbidden", "Cross-site request refused.");
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") {
    return problem(415, "Unsupported Media Type", "Send application/json.");
  }
  return null;
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
