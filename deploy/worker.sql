-- claim_jobs --
-- Up to `slots` runnable jobs for this worker in one statement, each taken by the fair fetch
-- (migration 0015_worker_claim's pgstack_fetch_jobs): caps, locks, priorities, SKIP LOCKED.
SELECT id, status, task_name, priority, lock, queueing_lock, args, scheduled_at, queue_name,
    attempts, worker_id
FROM pgstack_fetch_jobs(%(queues)s::varchar[], %(worker_id)s, %(slots)s)

-- store_outcomes --
-- A batch of finished attempts in one statement: each job ends (succeeded, failed, aborted) or
-- goes back to the queue for its retry, through Procrastinate's own functions, so its events and
-- its row move as when they were stored one by one. Only an attempt that is still the job's
-- current one (doing, on the worker that took it) is stored: a job recovered as stalled and
-- taken again keeps the newer run's outcome. Rows are locked in id order, as by every flush.
SELECT current.id,
    CASE WHEN current.retry
        THEN procrastinate_retry_job_v2(
            current.id, current.retry_at, current.priority, current.queue_name, current.lock)
        ELSE procrastinate_finish_job_v1(current.id, current.status, false)
    END IS NULL AS stored
FROM (
    SELECT batch.*
    FROM unnest(
        %(ids)s::bigint[], %(worker_ids)s::bigint[], %(statuses)s::procrastinate_job_status[],
        %(retries)s::boolean[], %(retry_ats)s::timestamptz[], %(priorities)s::integer[],
        %(queue_names)s::varchar[], %(locks)s::varchar[]
    ) AS batch(id, worker_id, status, retry, retry_at, priority, queue_name, lock)
    JOIN procrastinate_jobs AS jobs
        ON jobs.id = batch.id AND jobs.status = 'doing' AND jobs.worker_id = batch.worker_id
    ORDER BY batch.id
    FOR UPDATE OF jobs
) AS current
