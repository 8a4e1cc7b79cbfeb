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
// A job as demo_service embeds it in its answers (job_service's shape).
export type Job = Demo["JobRead"];
export type JobStatus = Job["status"];
// One durable step of a job (shared/jobs/steps.py), in the order the task met them.
export type JobStep = Jobs["JobStep"];
export type JobStepStatus = JobStep["status"];
// What every job_service SSE `job` event and the polling status body carry: the full job, or a
// change notice (id, status, progress, message, version), so `error` is there only at the end.
// `steps`: every step in a full job; in a change notice, only the steps that started or ended
// in that change (migration 0010's trigger); absent from the status body.
export type JobEvent = Pick<Jobs["JobRead"], "id" | "progress" | "message" | "version"> & {
  status: JobStatus;
  error?: Jobs["JobRead"]["error"];
  steps?: Jobs["JobRead"]["steps"];
};
