// job_service, seen from the Next.js server: a job's small status and its event stream.

import "server-only";

import { JOBS_URL } from "./config";
import { serviceFetch } from "./upstream";

export function fetchJobStatus(
  passport: string,
  jobId: string,
  ifNoneMatch: string | null,
): Promise<Response> {
  return serviceFetch(`${JOBS_URL}/v1/jobs/${encodeURIComponent(jobId)}/status`, {
    passport,
    headers: ifNoneMatch ? { "if-none-match": ifNoneMatch } : {},
  });
}

/** The job's Server-Sent Events; `signal` ends the upstream stream when the browser leaves. */
export function openJobEvents(
  passport: string,
  jobId: string,
  lastEventId: string | null,
  signal: AbortSignal,
): Promise<Response> {
  return serviceFetch(`${JOBS_URL}/v1/jobs/${encodeURIComponent(jobId)}/events`, {
    passport,
    stream: true,
    signal,
    headers: {
      accept: "text/event-stream",
      ...(lastEventId ? { "last-event-id": lastEventId } : {}),
    },
  });
}
