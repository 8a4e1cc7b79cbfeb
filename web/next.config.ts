import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  poweredByHeader: false,
  // The image (web/Dockerfile) ships .next/standalone: the server and only the files it uses.
  // `next start` (make dev) still serves the same build, with a warning about this setting.
  output: "standalone",
  // Compression belongs to the reverse proxy in front of `next start` (as TLS does); here it
  // would only spend CPU. (Server-Sent Events are flushed event by event either way: the e2e
  // test of the events route checks that they arrive while the job runs.)
  compress: false,
  reactStrictMode: true,
  experimental: {
    // The stylesheet is 2 kB: inline in the HTML it costs nothing and saves a render-blocking
    // request before the first paint.
    inlineCss: true,
  },
};

export default nextConfig;
