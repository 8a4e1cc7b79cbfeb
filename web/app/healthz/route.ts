// GET /healthz: the Next.js server is alive (Kubernetes' liveness and startup probes).

export const dynamic = "force-dynamic";

export function GET(): Response {
  return Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });
}
