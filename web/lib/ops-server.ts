// job_service's ops API, seen from the Next.js server, always with the operator's passport.
// job_service decides who is an operator: any other passport gets 404 there, and so here.

import "server-only";

import type { components } from "./api/jobs";
import { JOBS_URL } from "./config";
import { serviceFetch, serviceJson } from "./upstream";

type Schemas = components["schemas"];
export type Queue = Schemas["QueueRead"];
export type Worker = Schemas["WorkerRead"];
export type OpsJob = Schemas["OpsJobRead"];
export type OpsAction = "retry" | "cancel";

/** Everything /ops shows, read at once (five calls in parallel). */
export type OpsView = {
  queues: Queue[];
  workers: Worker[];
  stuck: OpsJob[];
  failed: OpsJob[];
  // The newest jobs of any status.
  recent: OpsJob[];
};

const OPS = `${JOBS_URL}/v1/ops`;

async function items<T>(path: string, passport: string): Promise<T[]> {
  return (await serviceJson<{ items: T[] }>(`${OPS}${path}`, passport)).items;
}

/** Raises ServiceError (404 for a passport without the operator role). */
export async function getOpsView(passport: string): Promise<OpsView> {
  const [queues, workers, stuck, failed, recent] = await Promise.all([
    items<Queue>("/queues", passport),
    items<Worker>("/workers", passport),
    items<OpsJob>("/jobs?status=stuck", passport),
    items<OpsJob>("/jobs?status=failed", passport),
    items<OpsJob>("/jobs", passport),
  ]);
  return { queues, workers, stuck, failed, recent };
}

/** The raw answer (the job, or a problem such as 409), for relaying. */
export function changeOpsJob(
  passport: string,
  jobId: string,
  action: OpsAction,
): Promise<Response> {
  return serviceFetch(`${OPS}/jobs/${encodeURIComponent(jobId)}/${action}`, {
    passport,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
}

/** The ops Server-Sent Events; `signal` ends the upstream stream when the browser leaves. */
export function openOpsEvents(passport: string, signal: AbortSignal): Promise<Response> {
  return serviceFetch(`${OPS}/events`, {
    passport,
    stream: true,
    signal,
    headers: { accept: "text/event-stream" },
  });
}
