// POST /api/ops/jobs/{id}/retry|cancel: an operator's action on anyone's job, relayed to
// job_service's ops API with the operator's passport. Its answer passes through as is: the job
// (200/202), or its problem+json (409 when the job's state does not allow it; 404 for anyone who
// is not an operator, as job_service decides).

import { changeOpsJob } from "@/lib/ops-server";
import { problem, rejectCrossSite, sessionOrProblem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export async function POST(
  request: Request,
  ctx: RouteContext<"/api/ops/jobs/[id]/[action]">,
): Promise<Response> {
  const refused = rejectCrossSite(request);
  if (refused) return refused;
  const { id, action } = await ctx.params;
  if (action !== "retry" && action !== "cancel") {
    return problem(404, "Not Found", "No such action.");
  }
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  try {
    return relay(await changeOpsJob(session.passport.token, id, action));
  } catch {
    return problem(503, "Service Unavailable", "The job service is not answering.");
  }
}
