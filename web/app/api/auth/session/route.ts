// POST: log in (auth_service sets the httpOnly session cookie, relayed as is). DELETE: log out.

import { cookies } from "next/headers";

import { relayToAuth } from "@/lib/auth-relay";
import { guarded } from "@/lib/route-guard";
import { sessionCookieHeader } from "@/lib/session";

const AUTH = { service: "The sign-in service", unsafe: true, session: false } as const;

export const POST = guarded({ ...AUTH, body: true }, async ({ request, body }) =>
  relayToAuth(request, "/v1/session", { method: "POST", body }),
);

export const DELETE = guarded(AUTH, async ({ request }) => {
  const cookie = sessionCookieHeader(await cookies());
  if (!cookie) return new Response(null, { status: 204, headers: { "cache-control": "no-store" } });
  return relayToAuth(request, "/v1/session", { method: "DELETE", headers: { cookie } });
});
