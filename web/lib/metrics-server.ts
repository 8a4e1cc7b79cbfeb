// demo_service's metrics, seen from the Next.js server.

import "server-only";

import { DEMO_URL } from "./config";
import type { Metrics } from "./types";
import { serviceJson } from "./upstream";

/** Totals and the daily series of the last `days` days (GET /v1/metrics?days=N). */
export function getMetrics(passport: string, days: number): Promise<Metrics> {
  return serviceJson<Metrics>(`${DEMO_URL}/v1/metrics?days=${days}`, passport);
}
