"use client";

// Follows one background job: Server-Sent Events through this app's events route, and polling of
// the small status route (with its ETag) when the stream fails. Calls onFinish once, with the
// job's terminal state. The job lives in the database: nothing here survives a reload, nothing
// needs to, because the server-rendered page starts where the job is.

import { useEffect, useRef, useState } from "react";

import type { JobEvent } from "@/lib/types";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const POLL_INTERVAL_MS = 1000;

function parseEvent(text: string): JobEvent | null {
  try {
    const event = JSON.parse(text) as JobEvent;
    return typeof event.status === "string" ? event : null;
  } catch {
    return null;
  }
}

export function useJobProgress(
  jobId: string | null,
  onFinish: (job: JobEvent) => void,
): JobEvent | null {
  const [job, setJob] = useState<JobEvent | null>(null);
  // The latest callback, without restarting the stream when the caller re-renders.
  const onFinishRef = useRef(onFinish);
  useEffect(() => {
    onFinishRef.current = onFinish;
  });

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
    const apply = (next: JobEvent | null) => {
      if (done || !next || next.id !== jobId) return;
      // Events and polls can cross; a lower version is older news.
      if (next.version < version) return;
      version = next.version;
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
          apply((await response.json()) as JobEvent);
        }
      } catch {
        // Offline for a moment: the next poll tries again.
      }
      if (!done) timer = setTimeout(poll, POLL_INTERVAL_MS);
    };
    const onEvent = (event: MessageEvent<string>) => apply(parseEvent(event.data));

    if (typeof EventSource === "function") {
      source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
      // job_service names its events `job`.
      source.addEventListener("job", onEvent as EventListener);
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

  return job && job.id === jobId ? job : null;
}
