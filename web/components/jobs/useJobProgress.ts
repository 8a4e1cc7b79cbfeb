"use client";

// Follows one background job: Server-Sent Events through this app's events route, and polling of
// the small status route (with its ETag) when the stream fails. Calls onFinish once, with the
// job's terminal state. The job lives in the database: nothing here survives a reload, nothing
// needs to, because the server-rendered page starts where the job is.

import { useEffect, useRef, useState } from "react";

import type { JobStatus } from "@/lib/types";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const POLL_INTERVAL_MS = 1000;

type Snapshot = Pick<JobStatus, "id" | "status" | "progress_percent" | "progress_message" | "version"> &
  Partial<Pick<JobStatus, "error_message">>;

/** The job in an event or status body, whichever of the shapes job_service uses. */
function jobFrom(data: unknown): Snapshot | null {
  if (!data || typeof data !== "object") return null;
  const record = data as Record<string, unknown>;
  if (record.job && typeof record.job === "object") return jobFrom(record.job);
  if (typeof record.status !== "string") return null;
  return record as unknown as Snapshot;
}

export function useJobProgress(
  jobId: string | null,
  onFinish: (job: Snapshot) => void,
): Snapshot | null {
  const [job, setJob] = useState<Snapshot | null>(null);
  const onFinishRef = useRef(onFinish);
  onFinishRef.current = onFinish;

  useEffect(() => {
    if (!jobId) return;
    let done = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let etag: string | null = null;
    let version = -1;

    const stop = () => {
      done = true;
      source?.close();
      clearTimeout(timer);
    };
    const apply = (next: Snapshot | null) => {
      if (done || !next || (next.id && next.id !== jobId)) return;
      // Events and polls can cross; a lower version is older news.
      if (typeof next.version === "number") {
        if (next.version < version) return;
        version = next.version;
      }
      setJob(next);
      if (TERMINAL.has(next.status)) {
        stop();
        onFinishRef.current(next);
      }
    };
    const poll = async () => {
      if (done) return;
      try {
        const response = await fetch(`/api/jobs/${encodeURIComponent(jobId)}/status`, {
          cache: "no-store",
          headers: etag ? { "if-none-match": etag } : {},
        });
        if (response.status === 200) {
          etag = response.headers.get("etag");
          apply(jobFrom(await response.json()));
        }
      } catch {
        // Offline for a moment: the next poll tries again.
      }
      if (!done) timer = setTimeout(poll, POLL_INTERVAL_MS);
    };
    const onEvent = (event: MessageEvent<string>) => {
      try {
        apply(jobFrom(JSON.parse(event.data)));
      } catch {
        // Not JSON: a comment or an event this page does not use.
      }
    };

    if (typeof EventSource === "function") {
      source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
      source.onmessage = onEvent;
      source.addEventListener("job", onEvent as EventListener);
      source.addEventListener("status", onEvent as EventListener);
      source.onerror = () => {
        // The stream failed (or ended before a terminal state): poll instead.
        source?.close();
        source = null;
        void poll();
      };
    } else {
      void poll();
    }
    return stop;
  }, [jobId]);

  return job && job.id === jobId ? job : job && !job.id ? job : null;
}
