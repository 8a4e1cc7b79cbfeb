// The session check shared by proxy.ts and the data access layer (lib/auth-server.ts): the
// browser's session cookie, shown to auth_service, buys the user and a short-lived passport.
// No `server-only` import here: proxy.ts runs outside the React server layer.

import { AUTH_URL, SERVICE_TIMEOUT_MS } from "./config";
import type { SessionInfo } from "./types";

// auth_service sets `__Host-session` (Secure); in development over plain http it sets `session`.
export const SESSION_COOKIES = ["__Host-session", "session"] as const;

// proxy.ts hands the checked session to the server side of the request in this header.
export const SESSION_HEADER = "x-pgstack-session";

// Request headers that would let a client pose as someone: proxy.ts deletes whatever the client
// sent under these names before any page or route handler can read them.
export const IDENTITY_HEADERS = [
  SESSION_HEADER,
  "x-pgstack-passport",
  "x-user-id",
  "authorization",
];

type CookieJar = { get(name: string): { value: string } | undefined };

/** The `Cookie` header that carries only the session cookie, or null when there is none. */
export function sessionCookieHeader(cookies: CookieJar): string | null {
  for (const name of SESSION_COOKIES) {
    const value = cookies.get(name)?.value;
    if (value) return `${name}=${value}`;
  }
  return null;
}

export type SessionCheck =
  | { kind: "valid"; session: SessionInfo }
  | { kind: "invalid" }
  | { kind: "unavailable"; status: number };

/** Ask auth_service who this cookie belongs to (GET /v1/session). */
export async function checkSession(
  cookie: string,
  userAgent?: string | null,
): Promise<SessionCheck> {
  let response: Response;
  try {
    response = await fetch(`${AUTH_URL}/v1/session`, {
      headers: {
        cookie,
        accept: "application/json",
        ...(userAgent ? { "user-agent": userAgent } : {}),
      },
      cache: "no-store",
      signal: AbortSignal.timeout(SERVICE_TIMEOUT_MS),
    });
  } catch {
    return { kind: "unavailable", status: 503 };
  }
  if (response.status === 401 || response.status === 403) return { kind: "invalid" };
  if (!response.ok) return { kind: "unavailable", status: response.status };
  return { kind: "valid", session: (await response.json()) as SessionInfo };
}

export function encodeSessionHeader(session: SessionInfo): string {
  return Buffer.from(JSON.stringify(session)).toString("base64url");
}

export function decodeSessionHeader(value: string): SessionInfo | null {
  try {
    return JSON.parse(Buffer.from(value, "base64url").toString()) as SessionInfo;
  } catch {
    return null;
  }
}
