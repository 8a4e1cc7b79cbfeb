// The W3C `traceparent` this server sends on its calls to the services, so one trace runs from
// the click through the services into the jobs they enqueue (shared/tracing.py on their side).

import "server-only";

import { randomBytes } from "node:crypto";
import { headers } from "next/headers";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The browser's trace continued when its request carried a valid traceparent, else a new
 * sampled trace; the span id is this call's own. */
export async function outgoingTraceparent(): Promise<string> {
  let incoming: string | null = null;
  try {
    incoming = (await headers()).get("traceparent");
  } catch {
    // Outside a request (a build-time render): nothing to continue.
  }
  const [, traceId, , flags] = (incoming && TRACEPARENT.exec(incoming)) || [];
  const continued = traceId && !/^0+$/.test(traceId);
  return `00-${continued ? traceId : hex(16)}-${hex(8)}-${continued && flags ? flags : "01"}`;
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}
