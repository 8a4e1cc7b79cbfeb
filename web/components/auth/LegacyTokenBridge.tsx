"use client";

// The one place this app touches localStorage: the old client kept its bearer token there. A
// browser that still has it trades it once for a cookie session, and the token is deleted
// whatever the answer, so it is never sent twice.

import { useEffect, useState } from "react";

export const LEGACY_TOKEN_KEY = "token";

export function LegacyTokenBridge() {
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    const token = window.localStorage.getItem(LEGACY_TOKEN_KEY);
    if (!token) return;
    window.localStorage.removeItem(LEGACY_TOKEN_KEY);
    setNote("Moving your sign-in to a secure cookie…");
    fetch("/api/auth/exchange", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    })
      .then((response) => {
        if (response.ok) window.location.replace("/dashboard");
        else setNote("Your old sign-in has expired; please sign in again.");
      })
      .catch(() => setNote("Your old sign-in could not be moved; please sign in again."));
  }, []);

  return note ? (
    <p className="muted" data-testid="legacy-bridge">
      {note}
    </p>
  ) : null;
}
