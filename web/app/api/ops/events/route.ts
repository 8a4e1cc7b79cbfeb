// GET: the ops page's Server-Sent Events (job_service's /v1/ops/events: at most one `changed`
// a second, whatever the load), relayed chunk by chunk as they arrive. Nothing to resume: the
// page re-reads the current state on each event, and on the first one of every connection.

import { openOpsEvents } from "@/lib/ops-server";
import { problem, sessionOrProblem } from "@/lib/route-guard";
import { relayStream } from "@/lib/upstream";

export async function GET(request: Request): Promise<Response> {
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  let upstream: Response;
  try {
    // Ends the stream to job_service as soon as the browser goes away.
    upstream = await openOpsEvents(session.passport.token, request.signal);
  } catch {
    return problem(503, "Service Unavailable", "The job service is not answering.");
  }
  return relayStream(upstream);
}
