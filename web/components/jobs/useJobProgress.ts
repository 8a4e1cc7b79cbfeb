"use client";

// Follows one background job: Server-Sent Events through this app's events route, and polling of
// the small status route (with its ETag) while the stream is down. Calls onFinish once, with the
// job's terminal state. The job lives in the database: nothing here survives a reload, nothing
// needs to, because the server-rendered page starts where the job is.
//
// A dropped stream is reconnected by the browser itself, with Last-Event-ID (the job's offset in
// job_service's event log): job_service replays every change missed, steps included, in order.
// Until it is back, or when it is refused for good, the status route is polled.

import { useEffect, useRef, useState } from "react";

import type { JobEvent, JobStep } from "@/lib/types";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const POLL_INTERVAL_MS = 1000;

/** A job as followed here: the latest event, with every step known so far. */
export type JobProgress = Omit<JobEvent, "steps"> & { steps: JobStep[] };

export interface JobProgressOptions {
  /** The job as the server rendered it: the steps (and version) the events start from. */
  initial?: JobEvent | null;
  /** The full job, read when a poll shows a change: the status route's body has no steps. */
  readJob?: () => Promise<JobEvent | null>;
}

function parseEvent(text: string): JobEvent | null {
  try {
    const event = JSON.parse(text) as JobEvent;
    return typeof event.status === "string" ? event : null;
  } catch {
    return null;
  }
}

/** The steps known, with those an event carries: a changed step replaces its namesake (names
 *  are unique within a job), a new one goes last (tasks meet their steps in order). */
export function mergeSteps(known: readonly JobStep[], changed: readonly JobStep[] = []): JobStep[] {
  const steps = [...known];
  for (const step of changed) {
    const at = steps.findIndex((s) => s.name === step.name);
    if (at === -1) steps.push(step);
    else steps[at] = step;
  }
  return steps;
}

export function useJobProgress(
  jobId: string | null,
  onFinish: (job: JobProgress) => void,
  options: JobProgressOptions = {},
): JobProgress | null {
  const [job, setJob] = useState<JobProgress | null>(null);
  // The latest callback and options, without restarting the stream when the caller re-renders.
  const onFinishRef = useRef(onFinish);
  const optionsRef = useRef(options);
  useEffect(() => {
    onFinishRef.current = onFinish;
    optionsRef.current = options;
  });

  useEffect(() => {
    if (!jobId) return;
    const { initial, readJob } = optionsRef.current;
    const seed = initial?.id === jobId ? initial : null;
    let done = false;
    let polling = false;
    let inFlight = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let etag: string | null = null;
    let version = seed?.version ?? -1;
    let steps: JobStep[] = seed?.steps ?? [];

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
      steps = mergeSteps(steps, next.steps);
      const progress = { ...next, steps };
      setJob(progress);
      if (TERMINAL.has(next.status)) {
        stop();
        onFinishRef.current(progress);
      }
    };
    const poll = async () => {
      if (done || !polling) return;
      inFlight = true;
      try {
        const response = await fetch(`/api/jobs/${encodeURIComponent(jobId)}/status`, {
          cache: "no-store",
          headers: etag ? { "if-none-match": etag } : {},
        });
        if (response.status === 200) {
          etag = response.headers.get("etag");
          const status = (await response.json()) as JobEvent;
          // The status body has no steps: the full job, where the caller can read it.
          const full = readJob ? await readJob().catch(() => null) : null;
          apply(full?.id === jobId && full.version >= status.version ? full : status);
        }
      } catch {
        // Offline for a moment: the next poll tries again.
      }
      inFlight = false;
      if (!done && polling) timer = setTimeout(poll, POLL_INTERVAL_MS);
    };
    const startPolling = () => {
      if (polling || done) return;
      polling = true;
      // A poll still under way goes on polling; one chain of polls at a time.
      if (!inFlight) void poll();
    };
    const onEvent = (event: MessageEvent<string>) => apply(parseEvent(event.data));

    if (typeof EventSource === "function") {
      source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
      // job_service names its events `job`.
      source.addEventListener("job", onEvent as EventListener);
      source.onopen = () => {
        // The stream is back (and replays what it missed): no more polling.
        polling = false;
        clearTimeout(timer);
      };
      source.onerror = () => {
        // CONNECTING: the browser reconnects by itself; CLOSED: refused for good. Poll meanwhile.
        if (source?.readyState === EventSource.CLOSED) source = null;
        startPolling();
      };
    } else {
      startPolling();
    }
    return stop;
  }, [jobId]);

  return job && job.id === jobId ? job : null;
}
