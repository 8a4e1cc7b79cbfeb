-- link_queue_jobs --
-- Link a batch of job rows to their queue jobs, pairwise in the order of the two arrays.
UPDATE background_jobs SET procrastinate_job_id = batch.procrastinate_id
FROM unnest(%(ids)s::uuid[], %(procrastinate_ids)s::bigint[]) AS batch(id, procrastinate_id)
WHERE background_jobs.id = batch.id

-- release_key --
-- The user's earlier job of this kind and key gives its key up (to the job replacing it).
UPDATE background_jobs SET idempotency_key = NULL
WHERE id IN (
    SELECT id FROM background_jobs
    WHERE user_id IS NOT DISTINCT FROM %(user_id)s AND kind = %(kind)s
        AND idempotency_key = %(idempotency_key)s
    FOR UPDATE
)
RETURNING procrastinate_job_id, status IN ('queued', 'running', 'cancelling') AS active

-- cancel_queue_job --
-- Cancel a waiting queue job, or ask a running one to abort (Procrastinate's own function).
SELECT procrastinate_cancel_job_v1(%(job_id)s, true, false) AS id

-- rank_queue_jobs --
-- Round-robin between users: a new queue job's priority becomes its task's times 10000, less
-- its place in its user's own queue (the user's active jobs ahead of it, plus its place in the
-- batch), so Procrastinate's order (priority, then id) takes each user's next job in turn.
UPDATE procrastinate_jobs AS q
SET priority = q.priority * 10000 - least(ahead.n + batch.place, 9999)
FROM unnest(%(procrastinate_ids)s::bigint[]) WITH ORDINALITY AS batch(id, place),
    (SELECT count(*) AS n FROM background_jobs
     WHERE user_id IS NOT DISTINCT FROM %(user_id)s
         AND status IN ('queued', 'running', 'cancelling')
         AND id <> ALL (%(ids)s::uuid[])) AS ahead
WHERE q.id = batch.id
