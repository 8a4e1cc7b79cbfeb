// GET: a job's small status, the polling fallback of the SSE stream. The ETag (the job's
// version) and If-None-Match pass through, so an unchanged job costs a 304 and no body.

import { fetchJobStatus } from "@/lib/jobs-server";
import { sessionOrProblem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export async function GET(
  request: Request,
  ctx: RouteContext<"/api/jobs/[id]/status">,
): Promise<Response> {
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  const { id } = await ctx.params;
  return relay(
    await fetchJobStatus(session.passport.token, id, request.headers.get("if-none-match")),
  );
}
