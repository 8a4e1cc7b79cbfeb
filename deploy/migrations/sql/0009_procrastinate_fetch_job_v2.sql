-- Procrastinate's fetch (its 03.04.00 body: locks, priority, then id), made fair: a job whose
-- user already runs `max_active_per_user` jobs (status running or cancelling) is passed over,
-- so it waits as `queued` and holds back nobody else (shared/jobs/fairness.py says why here).
-- The count is re-checked under a per-user advisory lock (class 7002) held until this fetch
-- commits, and the fetch's own UPDATE marks the job running in the same transaction (the
-- 'started' event's mirror trigger): two workers fetching for one user count one after the
-- other, so the cap holds with any number of workers.
CREATE OR REPLACE FUNCTION procrastinate_fetch_job_v2(
    target_queue_names character varying[],
    p_worker_id bigint
)
    RETURNS procrastinate_jobs
    LANGUAGE plpgsql
AS $$
DECLARE
    found_jobs procrastinate_jobs;
    candidate_id bigint;
    candidate_user bigint;
    candidate_cap integer;
    -- Users at their cap when this fetch began, or found there by the re-check.
    capped bigint[];
BEGIN
    SELECT coalesce(array_agg(running.user_id), '{}') INTO capped
    FROM (
        SELECT user_id FROM background_jobs
        WHERE status IN ('running', 'cancelling') AND user_id IS NOT NULL
        GROUP BY user_id
        HAVING count(*) >= min(max_active_per_user)
    ) AS running;
    LOOP
        candidate_id := NULL;
        SELECT jobs.id, owner.user_id, owner.max_active_per_user
            INTO candidate_id, candidate_user, candidate_cap
            FROM procrastinate_jobs AS jobs
            LEFT JOIN background_jobs AS owner ON owner.procrastinate_job_id = jobs.id
            WHERE
                -- reject the job if its lock has earlier or higher priority jobs
                NOT EXISTS (
                    SELECT 1
                        FROM procrastinate_jobs AS other_jobs
                        WHERE
                            jobs.lock IS NOT NULL
                            AND other_jobs.lock = jobs.lock
                            AND (
                                other_jobs.status = 'doing'
                                OR (
                                    other_jobs.status = 'todo'
                                    AND (
                                        other_jobs.priority > jobs.priority
                                        OR (
                                            other_jobs.priority = jobs.priority
                                            AND other_jobs.id < jobs.id
                                        )
                                    )
                                )
                            )
                )
                AND jobs.status = 'todo'
                AND (target_queue_names IS NULL OR jobs.queue_name = ANY( target_queue_names ))
                AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
                AND (
                    owner.max_active_per_user IS NULL
                    OR owner.user_id IS NULL
                    OR owner.user_id <> ALL (capped)
                )
            ORDER BY jobs.priority DESC, jobs.id ASC LIMIT 1
            FOR UPDATE OF jobs SKIP LOCKED;
        IF candidate_id IS NULL THEN
            RETURN found_jobs;  -- nothing to run: the all-NULL row Procrastinate expects
        END IF;
        IF candidate_cap IS NOT NULL AND candidate_user IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(7002, hashint8(candidate_user));
            IF (
                SELECT count(*) FROM background_jobs
                WHERE user_id = candidate_user AND status IN ('running', 'cancelling')
            ) >= candidate_cap THEN
                capped := capped || candidate_user;
                CONTINUE;
            END IF;
        END IF;
        UPDATE procrastinate_jobs
            SET status = 'doing', worker_id = p_worker_id
            WHERE id = candidate_id
            RETURNING * INTO found_jobs;
        RETURN found_jobs;
    END LOOP;
END;
$$;
