"use client";

// Logs out, then loads /login as a new document: Back cannot bring the dashboard back from the
// client router's cache, and the page itself is `no-store`, so the browser asks the server,
// which no longer knows the cookie.

export function LogoutButton() {
  async function logout() {
    await fetch("/api/auth/session", {
      method: "DELETE",
      headers: { "content-type": "application/json" },
    }).catch(() => null);
    window.location.assign("/login");
  }
  return (
    <button type="button" className="secondary" onClick={logout} data-testid="logout">
      Log out
    </button>
  );
}
