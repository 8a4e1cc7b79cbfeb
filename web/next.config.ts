import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  poweredByHeader: false,
  // The job events route relays Server-Sent Events; gzip would hold them back until a buffer
  // fills. Compression belongs to the reverse proxy in front of `next start` in production.
  compress: false,
  // The route handlers check Origin themselves; nothing is shared between requests.
  reactStrictMode: true,
};

export default nextConfig;
