// Calls from the Next.js server to demo_service and job_service, always with the passport of
// the request's session (`Authorization: Bearer`), never with the browser's cookie, and with a
// `traceparent` (traceparent.ts).

import "server-only";

import { SERVICE_TIMEOUT_MS } from "./config";
import { outgoingTraceparent } from "./traceparent";

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`${url} answered ${status}`);
  }
}

type Init = Omit<RequestInit, "headers"> & {
  passport: string;
  headers?: Record<string, string>;
  // Streams stay open for as long as the browser listens; everything else times out.
  stream?: boolean;
};

export async function serviceFetch(url: string, init: Init): Promise<Response> {
  const { passport, headers, stream, ...rest } = init;
  return fetch(url, {
    ...rest,
    headers: {
      accept: "application/json",
      traceparent: await outgoingTraceparent(),
      ...headers,
      authorization: `Bearer ${passport}`,
    },
    cache: "no-store",
    signal: stream ? rest.signal : AbortSignal.timeout(SERVICE_TIMEOUT_MS),
  });
}

/** GET a JSON document, raising ServiceError on any non-2xx answer. */
export async function serviceJson<T>(url: string, passport: string): Promise<T> {
  const response = await serviceFetch(url, { passport });
  if (!response.ok) throw new ServiceError(response.status, url);
  return (await response.json()) as T;
}

const RELAYED_HEADERS = ["content-type", "etag", "retry-after", "location"];

/** Pass a service's answer on to the browser: status, body and the headers that matter. */
export function relay(upstream: Response): Response {
  const headers = new Headers({ "cache-control": "no-store" });
  for (const name of RELAYED_HEADERS) {
    const value = upstream.headers.get(name);
    if (value) headers.set(name, value);
  }
  const body = upstream.status === 204 || upstream.status === 304 ? null : upstream.body;
  return new Response(body, { status: upstream.status, headers });
}

/** Pass a service's Server-Sent Events on, chunk by chunk as they arrive (no buffering by us
 *  or a proxy); an answer that is not a stream (a 404, a 503) is relayed as it is. */
export function relayStream(upstream: Response): Response {
  if (!upstream.ok || !upstream.body) return relay(upstream);
  return new Response(upstream.body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store, no-transform",
      "x-accel-buffering": "no",
    },
  });
}
