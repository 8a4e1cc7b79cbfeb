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
