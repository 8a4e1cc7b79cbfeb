// The data access layer's session check. Every page and route handler calls it, whether or not
// proxy.ts ran for the request: a matcher change must never open a route.
//
// When proxy.ts has just checked the cookie it hands over {user, session, passport} in a request
// header (it deletes any client-sent copy first). That copy is trusted only if the passport
// verifies against auth_service's public keys and names the same user, so a forged header buys
// nothing; otherwise the cookie is checked with auth_service again.

import "server-only";

import { createRemoteJWKSet, jwtVerify } from "jose";
import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";

import { AUTH_URL, PASSPORT_AUDIENCE } from "./config";
import { SESSION_HEADER, checkSession, decodeSessionHeader, sessionCookieHeader } from "./session";
import type { SessionInfo } from "./types";

// Fetched once per process and refreshed by jose when an unknown key id shows up.
const jwks = createRemoteJWKSet(new URL(`${AUTH_URL}/.well-known/jwks.json`), {
  cacheMaxAge: 10 * 60 * 1000,
});

async function passportMatches(session: SessionInfo): Promise<boolean> {
  try {
    const { payload } = await jwtVerify(session.passport.token, jwks, {
      audience: PASSPORT_AUDIENCE,
      algorithms: ["EdDSA"],
    });
    return payload.sub === String(session.user.id);
  } catch {
    return false;
  }
}

/** The signed-in user, session and passport of this request, or null. Memoised per request. */
export const getSession = cache(async (): Promise<SessionInfo | null> => {
  const relayed = (await headers()).get(SESSION_HEADER);
  if (relayed) {
    const session = decodeSessionHeader(relayed);
    if (session && (await passportMatches(session))) return session;
  }
  const cookie = sessionCookieHeader(await cookies());
  if (!cookie) return null;
  const check = await checkSession(cookie, (await headers()).get("user-agent"));
  if (check.kind === "valid") return check.session;
  if (check.kind === "invalid") return null;
  throw new Error(`auth_service answered ${check.status}`);
});

/** For pages: the session, or a redirect to /login. */
export async function requireSession(): Promise<SessionInfo> {
  const session = await getSession();
  if (!session) redirect("/login");
  return session;
}
