// The signed-in frame: the user comes from the server (the session check), never from a client
// store, so the first HTML already says who is signed in.

import type { ReactNode } from "react";

import { LegacyTokenBridge } from "@/components/auth/LegacyTokenBridge";
import { LogoutButton } from "@/components/auth/LogoutButton";
import { requireSession } from "@/lib/auth-server";

export default async function DashboardLayout({ children }: { children: ReactNode }) {
  const { user } = await requireSession();
  // Only operators see the link; /ops itself checks again (and job_service in the end).
  const operator = user.roles?.includes("operator") ?? false;
  return (
    <>
      <header className="top">
        <nav>
          {/* Plain links: a page is a server render, nothing to prefetch before it is asked. */}
          <strong>pgstack</strong> · <a href="/dashboard">Dashboard</a> ·{" "}
          <a href="/metrics">Metrics</a>
          {operator && (
            <>
              {" "}
              · <a href="/ops">Ops</a>
            </>
          )}
        </nav>
        <span>
          <span data-testid="user-email">{user.full_name || user.email}</span> <LogoutButton />
        </span>
      </header>
      <LegacyTokenBridge />
      {children}
    </>
  );
}
