// /ops, for operators: queues, workers, stuck jobs, recent failures and the newest jobs, read
// from job_service's ops API and rendered on the server, so the first HTML has it all. Only the
// job actions and the live refresh (OpsLive: re-rendered when the ops stream says jobs changed)
// are client islands. Anyone else gets the same 404 as a page that does not exist: the role in
// the session decides here, and job_service's 404 for the passport decides in the end.

import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { JobActions } from "@/components/ops/JobActions";
import { OpsLive } from "@/components/ops/OpsLive";
import { Throughput } from "@/components/ops/Throughput";
import { requireSession } from "@/lib/auth-server";
import { formatCount } from "@/lib/format";
import { getOpsView, type OpsJob, type OpsView } from "@/lib/ops-server";
import { ServiceError } from "@/lib/upstream";

export const metadata: Metadata = { title: "Ops · pgstack" };

// The lists show this many of job_service's (at most 100, newest first).
const SHOWN = 25;

function age(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function utc(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A moment as its time of day (UTC), the date and time in full on hover. */
function When({ iso }: { iso: string | null }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={utc(iso)}>
      {new Date(iso).toISOString().slice(11, 19)}
    </time>
  );
}

export default async function OpsPage() {
  const { user, passport } = await requireSession();
  if (!user.roles?.includes("operator")) notFound();
  let view: OpsView;
  try {
    view = await getOpsView(passport.token);
  } catch (error) {
    // The role was taken away since this session's check: job_service no longer knows us.
    if (error instanceof ServiceError && error.status === 404) notFound();
    throw error;
  }
  const { queues, workers, stuck, failed, recent } = view;

  return (
    <main className="ops">
      <h1>Operations</h1>
      <OpsLive renderedAt={utc(new Date().toISOString())}>
        <section className="card" data-testid="ops-queues">
          <h2>Queues</h2>
          {queues.length === 0 ? (
            <p className="muted">No jobs waiting, running or finished in the last hour.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Queue</th>
                  <th className="num">Waiting</th>
                  <th className="num">Oldest wait</th>
                  <th className="num">Running</th>
                  <th className="num">Stuck</th>
                  <th className="num">Succeeded (1 h)</th>
                  <th className="num">Failed (1 h)</th>
                  <th>Finished per 5 min, last hour</th>
                </tr>
              </thead>
              <tbody>
                {queues.map((queue) => (
                  <tr key={queue.queue} data-testid="queue" data-queue={queue.queue}>
                    <td data-testid="queue-name">{queue.queue}</td>
                    <td className="num" data-testid="queue-waiting">
                      {formatCount(queue.waiting)}
                    </td>
                    <td className="num" data-testid="queue-oldest">
                      {queue.waiting ? age(queue.oldest_waiting_seconds) : "—"}
                    </td>
                    <td className="num" data-testid="queue-running">
                      {formatCount(queue.running)}
                    </td>
                    <td className={queue.stuck ? "num error" : "num"} data-testid="queue-stuck">
                      {formatCount(queue.stuck)}
                    </td>
                    <td className="num" data-testid="queue-succeeded">
                      {formatCount(queue.succeeded_last_hour)}
                    </td>
                    <td className="num" data-testid="queue-failed">
                      {formatCount(queue.failed_last_hour)}
                    </td>
                    <td>
                      <Throughput counts={queue.throughput} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section className="card" data-testid="ops-workers">
          <h2>Workers</h2>
          {workers.length === 0 ? (
            <p className="error">No worker is registered: jobs wait until one starts.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>Last heartbeat</th>
                  <th className="num">Age</th>
                  <th>State</th>
                  <th className="num">Running</th>
                </tr>
              </thead>
              <tbody>
                {workers.map((worker) => (
                  <tr
                    key={worker.id}
                    data-testid="worker"
                    data-worker-id={worker.id}
                    data-fresh={worker.fresh}
                  >
                    <td>#{worker.id}</td>
                    <td>
                      <When iso={worker.last_heartbeat} />
                    </td>
                    <td className="num" data-testid="worker-heartbeat-age">
                      {age(worker.heartbeat_age_seconds)}
                    </td>
                    <td className={worker.fresh ? "status-ok" : "error"}>
                      {worker.fresh ? "alive" : "no fresh heartbeat"}
                    </td>
                    <td className="num">{formatCount(worker.running)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section className="card" data-testid="ops-stuck">
          <h2>Stuck jobs</h2>
          <p className="muted">
            Running on a worker without a fresh heartbeat, or for longer than the workers&apos;
            timeout.
          </p>
          <JobTable jobs={stuck} empty="No stuck jobs." />
        </section>

        <section className="card" data-testid="ops-failures">
          <h2>Recent failures</h2>
          <JobTable jobs={failed.slice(0, SHOWN)} empty="No failed jobs." showErrors />
        </section>

        <section className="card" data-testid="ops-recent">
          <h2>Newest jobs</h2>
          <JobTable jobs={recent.slice(0, SHOWN)} empty="No jobs yet." showErrors />
        </section>
      </OpsLive>
    </main>
  );
}

function JobTable({
  jobs,
  empty,
  showErrors = false,
}: {
  jobs: OpsJob[];
  empty: string;
  showErrors?: boolean;
}) {
  if (jobs.length === 0) return <p className="muted">{empty}</p>;
  return (
    <table className="ops-jobs">
      <thead>
        <tr>
          <th>Job</th>
          <th>Owner</th>
          <th>Status</th>
          <th className="num">Attempts</th>
          <th>Created (UTC)</th>
          <th>Finished (UTC)</th>
          <th>{showErrors ? "Progress or error" : "Progress"}</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((job) => (
          <tr
            key={job.id}
            data-testid="ops-job"
            data-job-id={job.id}
            data-status={job.status}
            data-version={job.version}
          >
            <td>
              <span data-testid="job-kind">{job.kind}</span>{" "}
              <code className="muted" title={job.id}>
                {job.id.slice(0, 8)}
              </code>
            </td>
            <td>{job.user_email ?? <span className="muted">—</span>}</td>
            <td className={`status status-${job.status}`} data-testid="job-status">
              {job.status}
            </td>
            <td className="num" data-testid="job-attempts">
              {job.attempts}
            </td>
            <td>
              <When iso={job.created_at} />
            </td>
            <td>
              <When iso={job.finished_at} />
            </td>
            <td>
              {showErrors && job.error ? (
                <span className="error" data-testid="job-error">
                  {`${job.error.type}: ${job.error.message ?? ""}`}
                </span>
              ) : (
                <span className="muted">
                  {`${job.progress}%${job.message ? ` · ${job.message}` : ""}`}
                </span>
              )}
            </td>
            <td>
              <JobActions jobId={job.id} status={job.status} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
