-- lock_steps --
-- The job's steps, its row locked until the step's transaction ends.
SELECT steps FROM background_jobs WHERE procrastinate_job_id = %(job_id)s FOR UPDATE

-- write_steps --
-- The job's steps after one started or ended.
UPDATE background_jobs SET steps = %(steps)s WHERE procrastinate_job_id = %(job_id)s
