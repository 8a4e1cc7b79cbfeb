// GET: a job's small status, the polling fallback of the SSE stream. The ETag (the job's
// version) and If-None-Match pass through, so an unchanged job costs a 304 and no body.

import { fetchJobStatus } from "@/lib/jobs-server";
import { guarded } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export const GET = guarded<{ id: string }>(
  { service: "The job service" },
  async ({ request, params, session }) =>
    relay(
      await fetchJobStatus(session.passport.token, params.id, request.headers.get("if-none-match")),
    ),
);
