// POST: log in (auth_service sets the httpOnly session cookie, relayed as is). DELETE: log out.

import { cookies } from "next/headers";

import { relayToAuth } from "@/lib/auth-relay";
import { rejectCrossSite } from "@/lib/route-guard";
import { sessionCookieHeader } from "@/lib/session";

export async function POST(request: Request): Promise<Response> {
  const refused = rejectCrossSite(request);
  if (refused) return refused;
  return relayToAuth(request, "/v1/session", { method: "POST", body: await request.text() });
}

export async function DELETE(request: Request): Promise<Response> {
  const refused = rejectCrossSite(request);
  if (refused) return refused;
  const cookie = sessionCookieHeader(await cookies());
  if (!cookie) return new Response(null, { status: 204, headers: { "cache-control": "no-store" } });
  return relayToAuth(request, "/v1/session", { method: "DELETE", headers: { cookie } });
}
