// After `next build`: complete .next/standalone into the app as it is deployed, the one tree
// that `pgstack dev`, the tests and the image (web/Dockerfile) start with `node server.mjs`.
// Next leaves the static assets out of it ("they should be served by a CDN"): here the server
// serves them itself, as `next start` does.

import { cpSync, existsSync, rmSync } from "node:fs";

const standalone = ".next/standalone";
rmSync(`${standalone}/.next/static`, { recursive: true, force: true });
cpSync(".next/static", `${standalone}/.next/static`, { recursive: true });
if (existsSync("public")) cpSync("public", `${standalone}/public`, { recursive: true });
cpSync("server.mjs", `${standalone}/server.mjs`);
// Next's own entry point, which keeps a client's X-Forwarded-For: not a way to start this app.
rmSync(`${standalone}/server.js`, { force: true });
