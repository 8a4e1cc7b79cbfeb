"use client";

// A service behind the page did not answer: say so, and offer to render the page again on the
// server (nothing is kept in the browser to retry from).

export default function DashboardError({ retry }: { error: unknown; retry: () => void }) {
  return (
    <main>
      <section className="card" role="alert">
        <h2>This page could not be loaded</h2>
        <p className="muted">A service behind it is not answering. Your data is safe.</p>
        <button type="button" onClick={() => retry()}>
          Try again
        </button>
      </section>
    </main>
  );
}
