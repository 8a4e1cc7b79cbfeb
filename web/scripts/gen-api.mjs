// Regenerates lib/api/{auth,demo,jobs}.ts from the services' OpenAPI documents.
//
//   npm run gen:api                      # from the running services (make dev), or
//   OPENAPI_DIR=/some/dir npm run gen:api   # from auth.json, demo.json, jobs.json there
//   API_OUT_DIR=/tmp/x npm run gen:api        # write elsewhere (the e2e test compares)
//
// Service URLs as the app reads them: AUTH_URL / DEMO_URL / JOBS_URL, else 127.0.0.1:8001..8003
// shifted by PGSTACK_PORT_OFFSET.

import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const offset = Number(process.env.PGSTACK_PORT_OFFSET ?? "0") || 0;
const services = {
  auth: process.env.AUTH_URL ?? `http://127.0.0.1:${8001 + offset}`,
  demo: process.env.DEMO_URL ?? `http://127.0.0.1:${8002 + offset}`,
  jobs: process.env.JOBS_URL ?? `http://127.0.0.1:${8003 + offset}`,
};

for (const [name, url] of Object.entries(services)) {
  const document = process.env.OPENAPI_DIR
    ? JSON.parse(await readFile(join(process.env.OPENAPI_DIR, `${name}.json`), "utf8"))
    : await (await fetch(`${url}/openapi.json`)).json();
  const ast = await openapiTS(document, { alphabetize: true });
  const header =
    `// Generated from ${name === "jobs" ? "job" : name}_service's OpenAPI document by ` +
    "`npm run gen:api`: do not edit.\n\n";
  const out = join(process.env.API_OUT_DIR ?? join(here, "..", "lib", "api"), `${name}.ts`);
  await writeFile(out, header + astToString(ast));
  console.log(out);
}
