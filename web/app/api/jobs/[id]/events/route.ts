// GET: a job's Server-Sent Events, relayed from job_service chunk by chunk as they arrive
// (no buffering), with Last-Event-ID passed on so a reconnecting browser resumes where it was.

import { openJobEvents } from "@/lib/jobs-server";
import { problem, sessionOrProblem } from "@/lib/route-guard";
import { relayStream } from "@/lib/upstream";

export async function GET(
  request: Request,
  ctx: RouteContext<"/api/jobs/[id]/events">,
): Promise<Response> {
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  const { id } = await ctx.params;
  let upstream: Response;
  try {
    // Ends the stream to job_service as soon as the browser goes away.
    upstream = await openJobEvents(
      session.passport.token,
      id,
      request.headers.get("last-event-id"),
      request.signal,
    );
  } catch {
    return problem(503, "Service Unavailable", "The job service is not answering.");
  }
  return relayStream(upstream);
}
