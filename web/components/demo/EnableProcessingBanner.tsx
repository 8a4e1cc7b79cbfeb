"use client";

// Demo mode, where the user acts on it. The first state comes from the server-rendered page;
// a click shows "enabling" at once, progress and the job's steps follow the job (SSE, else
// polling), and the final state appears without a reload. Nothing is kept in the browser: the
// database has it all, so a reload mid-operation renders the steps done so far on the server.

import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";

import { useJobProgress } from "@/components/jobs/useJobProgress";
import { problemDetail } from "@/lib/problem-detail";
import type { DemoState, DemoStatus, JobStep, JobStepStatus } from "@/lib/types";

const BUSY: ReadonlySet<DemoStatus> = new Set(["enabling", "disabling"]);
const STEP_MARK: Record<JobStepStatus, string> = {
  running: "\u25B8",
  succeeded: "\u2713",
  failed: "\u2717",
};

export function EnableProcessingBanner({ initial }: { initial: DemoState }) {
  const router = useRouter();
  const [status, setStatus] = useState<DemoStatus>(initial.status);
  const [error, setError] = useState<string | null>(initial.error);
  const [jobId, setJobId] = useState<string | null>(
    BUSY.has(initial.status) ? (initial.job?.id ?? null) : null,
  );

  const job = useJobProgress(
    jobId,
    async (finished) => {
      // The job's last progress stays on screen until the final state is known.
      const state = await readState();
      setJobId(null);
      if (state) {
        setStatus(state.status);
        setError(state.error);
      } else {
        const target = status === "disabling" ? "disabled" : "enabled";
        setStatus(finished.status === "succeeded" ? target : "failed");
      }
      // Platforms and metrics changed with demo mode: render them again on the server.
      router.refresh();
    },
    // The steps start from the server's render; a poll (no steps in the job's status body)
    // reads them from demo mode's state, which holds the full job.
    { initial: initial.job, readJob: async () => (await readState())?.job ?? null },
  );

  useEffect(() => {
    // Hydration is done: the page answers clicks from here on (bench/web.py reads this mark).
    document.documentElement.dataset.hydrated = "true";
    performance.mark("pgstack:hydrated");
  }, []);

  async function change(action: "enable" | "disable") {
    setStatus(action === "enable" ? "enabling" : "disabling");
    setError(null);
    setJobId(null);
    const response = await fetch(`/api/demo/${action}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }).catch(() => null);
    if (response && (response.status === 200 || response.status === 202)) {
      const body = (await response.json()) as DemoState;
      setStatus(body.status);
      setError(body.error);
      if (BUSY.has(body.status) && body.job) setJobId(body.job.id);
      else router.refresh();
      return;
    }
    const detail = response ? await problemDetail(response) : "The server is not answering.";
    const state = await readState();
    if (state) {
      setStatus(state.status);
      if (BUSY.has(state.status) && state.job) setJobId(state.job.id);
    } else {
      setStatus(initial.status);
    }
    setError(detail);
  }

  const busy = BUSY.has(status);
  // Until the first event, the job as the server rendered it (a reload mid-operation).
  const shown = job ?? (jobId && initial.job?.id === jobId ? initial.job : null);
  const progress = busy ? (shown?.progress ?? 0) : null;
  const message = busy ? (shown?.message ?? null) : null;
  const steps: readonly JobStep[] = busy ? (shown?.steps ?? []) : [];

  return (
    <section className="card" data-testid="demo-banner" data-status={status}>
      <h2>
        Demo mode:{" "}
        <span className={`status status-${status}`} data-testid="demo-status">
          {status}
        </span>
      </h2>
      {progress !== null && (
        <p>
          <progress
            max={100}
            value={progress}
            data-testid="demo-progress"
            data-progress={progress}
            aria-label="Demo mode progress"
          />{" "}
          <span data-testid="demo-progress-text">{progress}%</span>
          {message && <span className="muted"> · {message}</span>}
        </p>
      )}
      {steps.length > 0 && (
        <ol className="steps" data-testid="demo-steps" aria-label="Steps">
          {steps.map((step) => (
            <li
              key={step.name}
              className={`step step-${step.status}`}
              data-testid="demo-step"
              data-step-name={step.name}
              data-step-status={step.status}
            >
              <span className="step-mark" aria-hidden="true">
                {STEP_MARK[step.status]}
              </span>{" "}
              {stepLabel(step.name)}{" "}
              <span className="muted">
                {step.status}
                {step.attempts > 1 && ` (attempt ${step.attempts})`}
              </span>
            </li>
          ))}
        </ol>
      )}
      {error && (
        <p className="error" role="alert" data-testid="demo-error">
          {error}
        </p>
      )}
      {(status === "disabled" || status === "failed") && (
        <button type="button" onClick={() => change("enable")} data-testid="demo-enable">
          Enable demo mode
        </button>
      )}{" "}
      {(status === "enabled" || status === "failed") && (
        <button
          type="button"
          className="secondary"
          onClick={() => change("disable")}
          data-testid="demo-disable"
        >
          Disable demo mode
        </button>
      )}
    </section>
  );
}

/** "metrics:google_ads" reads "Metrics: google ads". */
function stepLabel(name: string): string {
  const words = name.replaceAll("_", " ").replaceAll(":", ": ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

async function readState(): Promise<DemoState | null> {
  try {
    const response = await fetch("/api/demo/status", { cache: "no-store" });
    return response.ok ? ((await response.json()) as DemoState) : null;
  } catch {
    return null;
  }
}
