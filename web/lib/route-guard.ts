// Every route handler is `guarded(...)`: the one place that refuses cross-site unsafe requests
// (CSRF), reads a body only up to a limit, checks the session, and answers a service that is
// down or answers nonsense with problem+json 503/502 and Retry-After instead of Next's HTML 500.

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

// The largest body a route handler reads, as the services' own limit (a login is well under
// 1 kB). Counted while the body arrives: a longer one is refused before it is held whole.
export const MAX_BODY_BYTES = 64 * 1024;
// How soon a client may try again after a service did not answer.
const RETRY_AFTER_SECONDS = "5";

type Guard = {
  // The service behind the route, as named to the user when it fails ("The job service").
  service: string;
  // POST/DELETE: refused cross-site or without a JSON body (rejectCrossSite).
  unsafe?: boolean;
  // The handler wants the request's body (text, at most MAX_BODY_BYTES).
  body?: boolean;
};

type Ctx<P, S> = { request: Request; params: P; session: S; body: string };
type Handler<P> = (request: Request, context: { params: Promise<P> }) => Promise<Response>;

/** A route handler behind the checks every route needs. The session is required (401 without
 *  one) unless `session: false`, for the sign-in routes, whose handlers get null. */
export function guarded<P = Record<string, never>>(
  guard: Guard & { session: false },
  handler: (ctx: Ctx<P, null>) => Promise<Response>,
): Handler<P>;
export function guarded<P = Record<string, never>>(
  guard: Guard,
  handler: (ctx: Ctx<P, SessionInfo>) => Promise<Response>,
): Handler<P>;
export function guarded<P>(
  guard: Guard & { session?: false },
  // Either overload's handler; the session it is given matches the guard it was declared with.
  handler: (ctx: Ctx<P, never>) => Promise<Response>,
): Handler<P> {
  return async (request, context) => {
    if (guard.unsafe) {
      const refused = rejectCrossSite(request);
      if (refused) return refused;
    }
    const body = guard.body ? await readBody(request) : "";
    if (body instanceof Response) return body;
    try {
      let session: SessionInfo | null = null;
      if (guard.session !== false) {
        session = await getSession().catch((error: unknown) => {
          throw new Unavailable("The sign-in service", error);
        });
        if (!session) return problem(401, "Unauthorized", "Sign in first.");
      }
      const params = await context.params;
      return await handler({ request, params, session: session as never, body });
    } catch (error) {
      return upstreamProblem(error instanceof Unavailable ? error.service : guard.service, error);
    }
  };
}

/** The body as text, or a 413 as soon as it passes MAX_BODY_BYTES (declared or streamed). */
async function readBody(request: Request): Promise<string | Response> {
  const tooLarge = () => {
    const response = problem(413, "Content Too Large", `Send at most ${MAX_BODY_BYTES} bytes.`);
    // The rest of the body is not read: the connection cannot carry another request.
    response.headers.set("connection", "close");
    return response;
  };
  if (Number(request.headers.get("content-length") ?? "0") > MAX_BODY_BYTES) return tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      return tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A failure of the session check, whichever service the route is for. */
class Unavailable extends Error {
  constructor(
    readonly service: string,
    cause: unknown,
  ) {
    super(`${service} is not answering`, { cause });
  }
}

/** 503 when the service could not be reached in time, 502 when its answer made no sense. */
function upstreamProblem(service: string, error: unknown): Response {
  console.error(`${service}: ${String(error)}`);
  const unreachable =
    error instanceof Unavailable ||
    (error instanceof TypeError && error.message === "fetch failed") ||
    (error instanceof DOMException && ["TimeoutError", "AbortError"].includes(error.name));
  const response = unreachable
    ? problem(503, "Service Unavailable", `${service} is not answering.`)
    : problem(502, "Bad Gateway", `${service} gave an answer this app could not use.`);
  response.headers.set("retry-after", RETRY_AFTER_SECONDS);
  return response;
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
