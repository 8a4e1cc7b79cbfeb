// The web app's HTTP server, the one way it is started: `pgstack dev`, the tests and the image
// (web/Dockerfile) all run `node server.mjs` inside the standalone output (.next/standalone,
// where `npm run build` copies this file: scripts/standalone.mjs). It serves Next.js's request
// handler behind a server that decides the client's address itself (PORT and HOSTNAME as
// Next's own server.js reads them).
//
// Threat model: auth_service throttles failed logins per client address and records it on each
// session, and it believes the X-Forwarded-For this server sends. Next's servers (`next start`
// and the standalone server.js) keep whatever X-Forwarded-For the client sent (they only fill
// the header in when it is missing), so a client could name a new address on every attempt and
// never be throttled. Here the header is always replaced: by the socket's peer, or, behind
// WEB_TRUSTED_HOPS proxies of our own (a load balancer, an ingress controller), by the address
// the outermost of them saw. Whatever the client wrote is dropped.

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const port = Number(process.env.PORT ?? "3000") || 3000;
const hostname = process.env.HOSTNAME ?? "127.0.0.1";
// Proxies of our own in front of this server, each appending the address it saw.
const trustedHops = Math.max(0, Number(process.env.WEB_TRUSTED_HOPS ?? "0") || 0);
// Served over https (production): browsers are told to keep to https (HSTS, two years). Over
// plain http (development) the header would mean nothing to them.
const hsts = (process.env.WEB_ORIGIN ?? "").startsWith("https://")
  ? "max-age=63072000; includeSubDomains"
  : null;

/** The client's address: the socket's peer, or what the outermost trusted proxy saw. */
function clientAddress(peer, forwardedFor, hops) {
  if (hops === 0) return peer;
  const chain = (forwardedFor ?? "")
    .split(",")
    .map((address) => address.trim())
    .filter(Boolean);
  // Fewer entries than trusted hops: the request did not come through them; trust the socket.
  return chain.length >= hops ? chain[chain.length - hops] : peer;
}

// The build's resolved configuration, as Next's standalone server.js passes it: the standalone
// output has no next.config.ts compiler, and without this Next warns that it is not `next start`.
const { config } = JSON.parse(readFileSync(`${dir}/.next/required-server-files.json`, "utf8"));
process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(config);
process.env.NODE_ENV = "production";

const { default: next } = await import("next");
const app = next({ dev: false, hostname, port, dir, conf: config });
const handle = app.getRequestHandler();
await app.prepare();

const server = createServer((request, response) => {
  const peer = request.socket.remoteAddress ?? "";
  const forwarded = request.headers["x-forwarded-for"];
  const chain = Array.isArray(forwarded) ? forwarded.join(",") : forwarded;
  request.headers["x-forwarded-for"] = clientAddress(peer, chain, trustedHops);
  delete request.headers["x-real-ip"];
  delete request.headers["forwarded"];
  if (trustedHops === 0) {
    // Only a proxy of ours may say which host and scheme the client asked for.
    for (const name of ["x-forwarded-host", "x-forwarded-proto", "x-forwarded-port"]) {
      delete request.headers[name];
    }
  }
  if (hsts) response.setHeader("strict-transport-security", hsts);
  handle(request, response);
}).listen(port, hostname, () => {
  console.log(`web listening on http://${hostname}:${port}`);
});

// A container's stop (SIGTERM; node as PID 1 has no default action for it) or Ctrl-C: take no
// new connections, let requests in flight end, then exit; open event streams (which never end
// by themselves) are cut after a few seconds, and their browsers reconnect elsewhere.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
