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

-- enqueue_many --
-- A batch of jobs of one kind for one user in one statement. Each `background_jobs` row takes
-- its queue job's id from the queue's own sequence, so the two are written linked (no UPDATE
-- after), and the queue job is placed in its user's turn as by `rank_queue_jobs` (its task's
-- priority x 10000, less the user's active jobs ahead of it and its place in the batch). An
-- item whose key the user has used (before, or earlier in this batch: the unique index
-- background_jobs_idempotency_key) makes nothing; the caller reads those back by key.
WITH batch AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(args)s::jsonb[], %(keys)s::text[])
        WITH ORDINALITY AS b(id, args, idempotency_key, place)
), ahead AS (
    SELECT count(*) AS n FROM background_jobs
    WHERE user_id IS NOT DISTINCT FROM %(user_id)s
        AND status IN ('queued', 'running', 'cancelling')
), made AS (
    INSERT INTO background_jobs (id, kind, user_id, args, idempotency_key, max_active_per_user,
        max_active_per_kind, traceparent, procrastinate_job_id)
    SELECT id, %(kind)s, %(user_id)s, args, idempotency_key, %(max_active_per_user)s,
        %(max_active_per_kind)s, %(traceparent)s, nextval('procrastinate_jobs_id_seq')
    FROM batch ORDER BY place
    ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, procrastinate_job_id
), queued AS (
    INSERT INTO procrastinate_jobs (id, queue_name, task_name, priority, lock, queueing_lock,
        args)
    SELECT made.procrastinate_job_id, %(queue)s, %(kind)s,
        %(priority)s * 10000 - least(ahead.n + batch.place, 9999), %(lock)s, %(queueing_lock)s,
        batch.args
    FROM made JOIN batch USING (id) CROSS JOIN ahead
    RETURNING id
)
SELECT made.id FROM made JOIN queued ON queued.id = made.procrastinate_job_id

-- keyed_jobs --
-- The user's jobs by idempotency key.
SELECT id, idempotency_key FROM background_jobs
WHERE user_id IS NOT DISTINCT FROM %(user_id)s AND idempotency_key = ANY (%(keys)s::text[])
