// GET /readyz: 200 while auth_service is ready, since no page works without it (sign-in and
// every session check); 503 otherwise, so a load balancer sends traffic elsewhere. demo and
// jobs are not asked: their pages degrade on their own, and a rolling deploy may hold them
// unready for a while (their schema window) without the web app leaving the pool.

import { AUTH_URL, SERVICE_TIMEOUT_MS } from "@/lib/config";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  const headers = { "cache-control": "no-store" };
  try {
    const auth = await fetch(`${AUTH_URL}/readyz`, {
      cache: "no-store",
      signal: AbortSignal.timeout(SERVICE_TIMEOUT_MS),
    });
    if (auth.ok) return Response.json({ status: "ready" }, { headers });
  } catch {
    // Unreachable or timed out: not ready, answered below.
  }
  return Response.json(
    { type: "about:blank", title: "Not ready", status: 503, detail: "auth_service is not ready." },
    {
      status: 503,
      headers: { ...headers, "content-type": "application/problem+json", "retry-after": "5" },
    },
  );
}
