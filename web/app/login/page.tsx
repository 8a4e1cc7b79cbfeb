// The sign-in page. A browser that already has a valid session goes straight to the dashboard.

import { redirect } from "next/navigation";

import { LegacyTokenBridge } from "@/components/auth/LegacyTokenBridge";
import { LoginForm } from "@/components/auth/LoginForm";
import { getSession } from "@/lib/auth-server";

export const metadata = { title: "Sign in · pgstack" };

export default async function LoginPage() {
  let signedIn = false;
  try {
    signedIn = (await getSession()) !== null;
  } catch {
    // auth_service is down: show the form, whose submit will say so.
  }
  if (signedIn) redirect("/dashboard");
  return (
    <main>
      <section className="card">
        <h1>Sign in</h1>
        <LegacyTokenBridge />
        <LoginForm />
      </section>
    </main>
  );
}
