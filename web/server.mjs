// The web app's HTTP server: Next.js's request handler behind a server that decides the client's
// address itself (`node server.mjs`, in place of `next start`; PORT and HOSTNAME as there).
//
// Threat model: auth_service throttles failed logins per client address and records it on each
// session, and it believes the X-Forwarded-For this server sends. `next start` keeps whatever
// X-Forwarded-For the client sent (it only fills the header in when it is missing), so a client
// could name a new address on every attempt and never be throttled. Here the header is always
// replaced: by the socket's peer, or, behind WEB_TRUSTED_HOPS proxies of our own (a load
// balancer...), by the address the outermost of them saw. Whatever the client wrote is dropped.

import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

import next from "next";

const port = Number(process.env.PORT ?? "3000") || 3000;
const hostname = process.env.HOSTNAME ?? "127.0.0.1";
// Proxies of our own in front of this server, each appending the address it saw.
const trustedHops = Math.max(0, Number(process.env.WEB_TRUSTED_HOPS ?? "0") || 0);

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

const app = next({ dev: false, hostname, port, dir: fileURLToPath(new URL(".", import.meta.url)) });
const handle = app.getRequestHandler();
await app.prepare();

createServer((request, response) => {
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
  handle(request, response);
}).listen(port, hostname, () => {
  console.log(`web listening on http://${hostname}:${port}`);
});
