"use client";

// Retry or cancel anyone's job, each after a second click that confirms it. The answer is
// job_service's: the job's new status, or its problem's detail (a 409 when the job has moved on
// since the page was read). The page is then read again; the state lives in <OpsLive> by job
// id, so it stays with the job wherever the refresh puts it.

import type { components } from "@/lib/api/jobs";
import { problemDetail } from "@/lib/problem-detail";

import { useOpsActions } from "./OpsLive";

type JobStatus = components["schemas"]["OpsJobRead"]["status"];
type Action = "retry" | "cancel";

const OFFERED: Record<Action, ReadonlySet<JobStatus>> = {
  retry: new Set(["failed", "cancelled"]),
  cancel: new Set(["queued", "running"]),
};
const VERB: Record<Action, string> = { retry: "Retry", cancel: "Cancel" };

async function answerOf(response: Response, action: Action): Promise<string> {
  if (!response.ok) return problemDetail(response);
  const body = (await response.json().catch(() => null)) as { status?: string } | null;
  return action === "retry" ? `Retried: ${body?.status}` : `Cancel requested: ${body?.status}`;
}

export function JobActions({ jobId, status }: { jobId: string; status: JobStatus }) {
  const { actions, setAction, refresh } = useOpsActions();
  const state = actions[jobId] ?? {};

  async function run(action: Action) {
    setAction(jobId, { busy: true });
    const response = await fetch(`/api/ops/jobs/${encodeURIComponent(jobId)}/${action}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }).catch(() => null);
    if (!response) {
      setAction(jobId, { message: "The server is not answering.", failed: true });
      return;
    }
    setAction(jobId, { message: await answerOf(response, action), failed: !response.ok });
    refresh();
  }

  const offered = (Object.keys(OFFERED) as Action[]).filter((a) => OFFERED[a].has(status));
  const message = state.message && (
    <span
      className={state.failed ? "error" : "muted"}
      role={state.failed ? "alert" : "status"}
      data-testid="job-action-message"
    >
      {" "}
      {state.message}
    </span>
  );

  // A confirmation stays until answered, even if a refresh shows the job has moved on: the
  // operator then gets job_service's word on it, not a button that vanished under the cursor.
  if (state.confirming) {
    const action = state.confirming;
    return (
      <span className="ops-actions" data-testid="job-actions">
        <button type="button" data-testid="job-confirm" onClick={() => run(action)}>
          Confirm {VERB[action].toLowerCase()}
        </button>{" "}
        <button
          type="button"
          className="secondary"
          data-testid="job-keep"
          onClick={() => setAction(jobId, {})}
        >
          Back
        </button>
      </span>
    );
  }
  return (
    <span className="ops-actions" data-testid="job-actions">
      {offered.map((action) => (
        <button
          key={action}
          type="button"
          className="secondary"
          disabled={state.busy}
          data-testid={`job-${action}`}
          onClick={() => setAction(jobId, { confirming: action })}
        >
          {VERB[action]}
        </button>
      ))}
      {message}
    </span>
  );
}
