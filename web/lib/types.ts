// The shapes the Next.js server and the islands use, named from the services' generated OpenAPI
// types (lib/api/, `npm run gen:api`), so a contract change fails `npm run typecheck`.

import type { components as AuthSchemas } from "./api/auth";
import type { components as DemoSchemas } from "./api/demo";
import type { components as JobsSchemas } from "./api/jobs";

type Auth = AuthSchemas["schemas"];
type Demo = DemoSchemas["schemas"];
type Jobs = JobsSchemas["schemas"];

export type SessionInfo = Auth["SessionRead"];
export type User = Auth["UserRead"];

export type Dashboard = Demo["DashboardRead"];
export type DemoState = Demo["DemoRead"];
export type DemoStatus = DemoState["status"];
export type Platform = Demo["PlatformRead"];
export type ConnectionStatus = Platform["connection_status"];
export type Metrics = Demo["MetricsRead"];
// A job as demo_service embeds it (progress_percent, progress_message, error_message)...
export type Job = Demo["JobRead"];
// ...and as job_service serves it: GET /v1/jobs/{id}, its SSE `job` events (the full job, or a
// change notice with id, status, progress, message, version) and the polling status body.
export type JobEvent = Pick<Jobs["JobRead"], "id" | "status" | "progress" | "message" | "version"> &
  Partial<Pick<Jobs["JobRead"], "error">>;

/** What the islands show of a job, whichever service described it. */
export type JobProgress = {
  id: string;
  status: Job["status"];
  progress: number;
  message: string | null;
  error: string | null;
  version: number | null;
};
