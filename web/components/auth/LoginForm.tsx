"use client";

// Sends the credentials to this app's /api/auth/session, which relays them to auth_service and
// the httpOnly cookie back; script never sees the token.

import { useState, type FormEvent } from "react";

export function LoginForm() {
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(null);
    const response = await fetch("/api/auth/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: form.get("email"), password: form.get("password") }),
    }).catch(() => null);
    if (response?.ok) {
      // A full navigation: the dashboard is rendered on the server with the new cookie.
      window.location.assign("/dashboard");
      return;
    }
    setPending(false);
    if (response?.status === 429) {
      setError(
        `Too many attempts; try again in ${response.headers.get("retry-after") ?? "a few"} seconds.`,
      );
    } else if (response && response.status < 500) {
      setError("Wrong email or password.");
    } else {
      setError("The sign-in service is not answering; try again.");
    }
  }

  return (
    <form className="login" onSubmit={submit} data-testid="login-form">
      <label>
        Email
        <br />
        <input name="email" type="email" autoComplete="username" required />
      </label>
      <label>
        Password
        <br />
        <input name="password" type="password" autoComplete="current-password" required />
      </label>
      <button type="submit" disabled={pending}>
        Sign in
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
