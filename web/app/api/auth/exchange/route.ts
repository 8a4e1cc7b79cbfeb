// The legacy bridge: a browser that still holds the old bearer token (localStorage) sends it
// here once; auth_service revokes it and answers with a cookie session, relayed as is.

import { relayToAuth } from "@/lib/auth-relay";
import { guarded, problem } from "@/lib/route-guard";

export const POST = guarded(
  { service: "The sign-in service", unsafe: true, session: false },
  async ({ request }) => {
    const authorization = request.headers.get("authorization");
    if (!authorization?.startsWith("Bearer ")) {
      return problem(401, "Unauthorized", "Send the legacy token as Authorization: Bearer.");
    }
    return relayToAuth(request, "/v1/session/exchange", {
      method: "POST",
      body: "{}",
      headers: { authorization },
    });
  },
);
