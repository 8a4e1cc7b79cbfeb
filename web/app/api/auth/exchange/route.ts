// The legacy bridge: a browser that still holds the old bearer token (localStorage) sends it
// here once; auth_service revokes it and answers with a cookie session, relayed as is.

import { relayToAuth } from "@/lib/auth-relay";
import { problem, rejectCrossSite } from "@/lib/route-guard";

export async function POST(request: Request): Promise<Response> {
  const refused = rejectCrossSite(request);
  if (refused) return refused;
  const authorization = request.headers.get("authorization");
  if (!authorization?.startsWith("Bearer ")) {
    return problem(401, "Unauthorized", "Send the legacy token as Authorization: Bearer.");
  }
  return relayToAuth(request, "/v1/session/exchange", {
    method: "POST",
    body: "{}",
    headers: { authorization },
  });
}
