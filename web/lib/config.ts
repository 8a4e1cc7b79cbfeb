// Where the Next.js server finds the services. The browser never talks to them: it only ever
// calls this app (same origin), and these URLs stay on the server.

const offset = Number(process.env.PGSTACK_PORT_OFFSET ?? "0") || 0;

function serviceUrl(name: string, port: number): string {
  return (process.env[name] ?? `http://127.0.0.1:${port + offset}`).replace(/\/+$/, "");
}

export const AUTH_URL = serviceUrl("AUTH_URL", 8001);
export const DEMO_URL = serviceUrl("DEMO_URL", 8002);
export const JOBS_URL = serviceUrl("JOBS_URL", 8003);

// The audience auth_service mints passports for (PASSPORT_AUDIENCE on the Python side).
export const PASSPORT_AUDIENCE = process.env.PASSPORT_AUDIENCE ?? "pgstack";

// A service that does not answer within this many milliseconds is treated as down.
export const SERVICE_TIMEOUT_MS = Number(process.env.SERVICE_TIMEOUT_MS ?? "5000") || 5000;
