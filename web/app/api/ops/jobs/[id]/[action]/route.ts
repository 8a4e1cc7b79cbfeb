// POST /api/ops/jobs/{id}/retry|cancel: an operator's action on anyone's job, relayed to
// job_service's ops API with the operator's passport. Its answer passes through as is: the job
// (200/202), or its problem+json (409 when the job's state does not allow it; 404 for anyone who
// is not an operator, as job_service decides).

import { changeOpsJob } from "@/lib/ops-server";
import { guarded, problem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export const POST = guarded<{ id: string; action: string }>(
  { service: "The job service", unsafe: true },
  async ({ params: { id, action }, session }) => {
    if (action !== "retry" && action !== "cancel") {
      return problem(404, "Not Found", "No such action.");
    }
    return relay(await changeOpsJob(session.passport.token, id, action));
  },
);
