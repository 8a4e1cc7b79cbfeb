// The shapes the services answer with. PROVISIONAL: written from DESIGN.md's contract until the
// services' OpenAPI documents are generated into lib/api/ (npm run gen:api).

export type User = { id: number; email: string; full_name: string | null };

export type SessionInfo = {
  user: User;
  session: { id: string; expires_at?: string; created_at?: string };
  passport: string;
};

export type JobLinks = { status: string; events: string };

export type JobStatus = {
  id: string;
  kind?: string;
  status: "queued" | "running" | "succeeded" | "failed" | "cancelling" | "cancelled";
  progress_percent: number;
  progress_message: string | null;
  error_message?: string | null;
  version: number;
};

export type DemoStatus = "disabled" | "enabling" | "enabled" | "disabling" | "failed";

export type DemoState = {
  status: DemoStatus;
  job: JobStatus | null;
  error: string | null;
};

export type DemoTransition = { status: DemoStatus; job: { id: string; links: JobLinks } | null };

export type ConnectionStatus =
  | "disconnected"
  | "connecting"
  | "connected"
  | "disconnecting"
  | "error";

export type Platform = {
  id: number;
  kind: string;
  name: string;
  connection_status: ConnectionStatus;
  connection_error: string | null;
  is_demo: boolean;
};

export type MetricTotals = {
  impressions: number;
  clicks: number;
  spend: string;
  conversions: number;
};

export type Metrics = {
  days: number;
  totals: MetricTotals;
  daily: Array<MetricTotals & { day: string }>;
};

export type Dashboard = {
  user: User;
  demo: DemoState;
  platforms: Platform[];
  metrics: { days: number; totals: MetricTotals };
  active_jobs: JobStatus[];
};
