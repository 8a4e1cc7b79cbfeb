// GET: a job's Server-Sent Events, relayed from job_service chunk by chunk as they arrive
// (no buffering), with Last-Event-ID passed on so a reconnecting browser resumes where it was.

import { openJobEvents } from "@/lib/jobs-server";
import { guarded } from "@/lib/route-guard";
import { relayStream } from "@/lib/upstream";

export const GET = guarded<{ id: string }>(
  { service: "The job service" },
  async ({ request, params, session }) =>
    relayStream(
      // Ends the stream to job_service as soon as the browser goes away.
      await openJobEvents(
        session.passport.token,
        params.id,
        request.headers.get("last-event-id"),
        request.signal,
      ),
    ),
);
