"use client";

// Keeps /ops current: the server-rendered page is rendered again (router.refresh) whenever
// job_service's ops stream says jobs changed, at most once a second however busy the queue
// is (the service coalesces; a refresh still running when the next event comes is followed by
// one more, not one per event). When the stream fails the page polls instead, and tries the
// stream again.
//
// It also holds the job actions' state (a pending confirmation, the last answer) by job id, so
// a refresh that moves a job from one list to another keeps what the operator was doing.

import { useRouter } from "next/navigation";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useTransition,
  type ReactNode,
} from "react";

const POLL_INTERVAL_MS = 5000;
// A stream the browser gave up on (an error answer rather than a cut) is opened again after.
const REOPEN_AFTER_MS = 30_000;

export type ActionState = {
  confirming?: "retry" | "cancel";
  busy?: boolean;
  message?: string;
  failed?: boolean;
};

type OpsActions = {
  actions: Record<string, ActionState>;
  setAction: (jobId: string, state: ActionState) => void;
  refresh: () => void;
};

const OpsActionsContext = createContext<OpsActions | null>(null);

export function useOpsActions(): OpsActions {
  const value = useContext(OpsActionsContext);
  if (!value) throw new Error("useOpsActions outside <OpsLive>");
  return value;
}

type Mode = "connecting" | "live" | "polling";

export function OpsLive({ renderedAt, children }: { renderedAt: string; children: ReactNode }) {
  const router = useRouter();
  const [refreshing, startTransition] = useTransition();
  const [mode, setMode] = useState<Mode>("connecting");
  const [actions, setActions] = useState<Record<string, ActionState>>({});
  // Whether a refresh is rendering, and whether another one was asked for meanwhile.
  const refreshingRef = useRef(false);
  const again = useRef(false);

  const refresh = useCallback(() => {
    if (refreshingRef.current) {
      again.current = true;
      return;
    }
    startTransition(() => router.refresh());
  }, [router]);

  useEffect(() => {
    refreshingRef.current = refreshing;
    if (!refreshing && again.current) {
      again.current = false;
      refresh();
    }
  }, [refreshing, refresh]);

  useEffect(() => {
    let source: EventSource | null = null;
    let poller: ReturnType<typeof setInterval> | undefined;
    let reopen: ReturnType<typeof setTimeout> | undefined;

    const poll = () => {
      setMode("polling");
      poller ??= setInterval(refresh, POLL_INTERVAL_MS);
    };
    const open = () => {
      source = new EventSource("/api/ops/events");
      // The first event of every connection says `all`: what changed before it is unknown.
      source.addEventListener("changed", () => refresh());
      source.onopen = () => {
        setMode("live");
        clearInterval(poller);
        poller = undefined;
      };
      source.onerror = () => {
        poll();
        // CONNECTING: the browser reconnects by itself; CLOSED: it gave up, so try later.
        if (source?.readyState === EventSource.CLOSED) {
          source = null;
          reopen = setTimeout(open, REOPEN_AFTER_MS);
        }
      };
    };

    if (typeof EventSource === "function") open();
    else poll();
    return () => {
      source?.close();
      clearInterval(poller);
      clearTimeout(reopen);
    };
  }, [refresh]);

  const setAction = useCallback((jobId: string, state: ActionState) => {
    setActions((all) => ({ ...all, [jobId]: state }));
  }, []);
  const value = useMemo(() => ({ actions, setAction, refresh }), [actions, setAction, refresh]);

  return (
    <OpsActionsContext.Provider value={value}>
      <p className="muted ops-live" data-testid="ops-live" data-mode={mode}>
        {mode === "live" ? "Live" : mode === "polling" ? "Polling every 5 s" : "Connecting…"} · read
        at <time data-testid="ops-rendered-at">{renderedAt}</time>
      </p>
      {children}
    </OpsActionsContext.Provider>
  );
}
