// POST /api/platforms/{id}/connect|disconnect: 202 with the job, relayed from demo_service.

import { changePlatformConnection } from "@/lib/demo-server";
import { problem, rejectCrossSite, sessionOrProblem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export async function POST(
  request: Request,
  ctx: RouteContext<"/api/platforms/[id]/[action]">,
): Promise<Response> {
  const refused = rejectCrossSite(request);
  if (refused) return refused;
  const { id, action } = await ctx.params;
  if (action !== "connect" && action !== "disconnect") {
    return problem(404, "Not Found", "No such action.");
  }
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  return relay(await changePlatformConnection(session.passport.token, id, action));
}
