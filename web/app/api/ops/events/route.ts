// GET: the ops page's Server-Sent Events (job_service's /v1/ops/events: at most one `changed`
// a second, whatever the load), relayed chunk by chunk as they arrive. Nothing to resume: the
// page re-reads the current state on each event, and on the first one of every connection.

import { openOpsEvents } from "@/lib/ops-server";
import { guarded } from "@/lib/route-guard";
import { relayStream } from "@/lib/upstream";

export const GET = guarded(
  { service: "The job service" },
  // Ends the stream to job_service as soon as the browser goes away.
  async ({ request, session }) =>
    relayStream(await openOpsEvents(session.passport.token, request.signal)),
);
