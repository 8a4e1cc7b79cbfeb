import type { NextConfig } from "next";

// Next.js's own inline scripts (the streamed RSC payload) and the inlined stylesheet need
// 'unsafe-inline' without per-request nonces (which would make every page dynamic); the rest is
// locked to this origin. frame-ancestors 'none' refuses framing (clickjacking).
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = [
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "Content-Security-Policy", value: CONTENT_SECURITY_POLICY },
  { key: "X-Frame-Options", value: "DENY" },
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
];

const nextConfig: NextConfig = {
  poweredByHeader: false,
  // .next/standalone: the server and only the files it uses, which `npm run build` completes
  // (scripts/standalone.mjs) and `node server.mjs` serves in pgstack dev, the tests and the image.
  output: "standalone",
  // Compression belongs to the reverse proxy in front of server.mjs (as TLS does); here it
  // would only spend CPU. (Server-Sent Events are flushed event by event either way: the e2e
  // test of the events route checks that they arrive while the job runs.)
  compress: false,
  reactStrictMode: true,
  async headers() {
    return [
      { source: "/:path*", headers: SECURITY_HEADERS },
      // The route handlers' CSRF check (lib/route-guard.ts) reads these request headers.
      { source: "/api/:path*", headers: [{ key: "Vary", value: "Origin, Sec-Fetch-Site" }] },
    ];
  },
  experimental: {
    // proxy.ts runs before the /api routes other than sign-in, and Next copies a request's
    // body for it into memory, up to 10 MB by default: many such bodies at once would exhaust
    // the pod. No route reads more than lib/route-guard.ts's MAX_BODY_BYTES.
    proxyClientMaxBodySize: "64kb",
    // The stylesheet is 2 kB: inline in the HTML it costs nothing and saves a render-blocking
    // request before the first paint.
    inlineCss: true,
  },
};

export default nextConfig;
