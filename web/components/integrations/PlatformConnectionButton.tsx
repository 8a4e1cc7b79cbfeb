"use client";

// Connect or disconnect one platform. Same pattern as the demo banner: the state comes from the
// server, a click shows the transition at once, the job's progress follows, and the page's
// server-rendered data is refreshed when the job ends.

import { useRouter } from "next/navigation";
import { useState } from "react";

import { useJobProgress } from "@/components/jobs/useJobProgress";
import type { ConnectionStatus, Platform } from "@/lib/types";

const BUSY: ReadonlySet<ConnectionStatus> = new Set(["connecting", "disconnecting"]);

export function PlatformConnectionButton({ platform }: { platform: Platform }) {
  const router = useRouter();
  const [status, setStatus] = useState<ConnectionStatus>(platform.connection_status);
  const [error, setError] = useState<string | null>(platform.connection_error);
  // A connection already under way when the page was rendered is followed from the start.
  const [jobId, setJobId] = useState<string | null>(
    BUSY.has(platform.connection_status) ? (platform.job?.id ?? null) : null,
  );

  const job = useJobProgress(jobId, (finished) => {
    setJobId(null);
    if (finished.status === "succeeded") {
      setStatus(status === "disconnecting" ? "disconnected" : "connected");
    } else {
      setStatus("error");
      setError(finished.error?.message ?? "The operation failed.");
    }
    router.refresh();
  });

  async function change(action: "connect" | "disconnect") {
    setStatus(action === "connect" ? "connecting" : "disconnecting");
    setError(null);
    const response = await fetch(`/api/platforms/${platform.id}/${action}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }).catch(() => null);
    if (response && (response.status === 200 || response.status === 202)) {
      const body = (await response.json()) as Platform;
      setStatus(body.connection_status);
      setError(body.connection_error);
      if (BUSY.has(body.connection_status) && body.job) setJobId(body.job.id);
      return;
    }
    setStatus(platform.connection_status);
    setError(response ? `Error ${response.status}` : "The server is not answering.");
  }

  const busy = BUSY.has(status);
  return (
    <span data-testid="platform-connection" data-status={status}>
      <span className={`status status-${status}`}>{status}</span>
      {busy && job && <span className="muted"> {job.progress}%</span>}{" "}
      {status === "connected" ? (
        <button type="button" className="secondary" onClick={() => change("disconnect")}>
          Disconnect
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => change("connect")}>
          Connect
        </button>
      )}
      {error && <span className="error"> {error}</span>}
    </span>
  );
}
