// POST /api/platforms/{id}/connect|disconnect: 202 with the job, relayed from demo_service.

import { changePlatformConnection } from "@/lib/demo-server";
import { guarded, problem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export const POST = guarded<{ id: string; action: string }>(
  { service: "The demo service", unsafe: true },
  async ({ params: { id, action }, session }) => {
    if (action !== "connect" && action !== "disconnect") {
      return problem(404, "Not Found", "No such action.");
    }
    return relay(await changePlatformConnection(session.passport.token, id, action));
  },
);
