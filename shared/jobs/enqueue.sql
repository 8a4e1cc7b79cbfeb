-- link_queue_jobs --
-- Link a batch of job rows to their queue jobs, pairwise in the order of the two arrays.
UPDATE background_jobs SET procrastinate_job_id = batch.procrastinate_id
FROM unnest(%(ids)s::uuid[], %(procrastinate_ids)s::bigint[]) AS batch(id, procrastinate_id)
WHERE background_jobs.id = batch.id
