// demo_service, seen from the Next.js server: the dashboard, demo mode and platforms.

import "server-only";

import { DEMO_URL } from "./config";
import type { Dashboard, DemoState } from "./types";
import { serviceFetch, serviceJson } from "./upstream";

/** Everything the dashboard shows, in one round trip (GET /v1/dashboard). */
export function getDashboard(passport: string): Promise<Dashboard> {
  return serviceJson<Dashboard>(`${DEMO_URL}/v1/dashboard`, passport);
}

export function getDemoState(passport: string): Promise<DemoState> {
  return serviceJson<DemoState>(`${DEMO_URL}/v1/demo`, passport);
}

/** The raw answer (202 with the job, 200 when already there, 409 when busy), for relaying. */
export function fetchDemoState(passport: string): Promise<Response> {
  return serviceFetch(`${DEMO_URL}/v1/demo`, { passport });
}

export function changeDemoMode(passport: string, action: "enable" | "disable"): Promise<Response> {
  return serviceFetch(`${DEMO_URL}/v1/demo/${action}`, {
    passport,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
}

export function changePlatformConnection(
  passport: string,
  platformId: string,
  action: "connect" | "disconnect",
): Promise<Response> {
  return serviceFetch(`${DEMO_URL}/v1/platforms/${encodeURIComponent(platformId)}/${action}`, {
    passport,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
}
