-- Procrastinate's fetch (its 03.04.00 body: locks, priority, then id), made fair: a job whose
-- user already runs `max_active_per_user` jobs, or `max_active_per_kind` jobs of its kind
-- (status running or cancelling), is passed over, so it waits as `queued` and holds back
-- nobody else (shared/jobs/fairness.py says why here). The counts are re-checked under a
-- per-user advisory lock (class 7002) held until this fetch commits, and the fetch's own UPDATE
-- marks the job running in the same transaction (the 'started' event's mirror trigger): two
-- workers fetching for one user count one after the other, so the caps hold with any number of
-- workers.
--
-- The owner's row is read by a scalar subquery, not a join: PL/pgSQL runs this query with a
-- generic plan, and for a join that plan hashes and sorts every waiting job at each fetch (3 ms
-- at 3,000 waiting, 0009's body), where a subquery per row keeps Procrastinate's index order
-- and stops at the first job that may run. When nobody is at a cap it is not evaluated at all.
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
    owner background_jobs;
    -- Users at their cap when this fetch began, or found there by the re-check; and the same
    -- for (user, kind), as 'user_id:kind'.
    capped_users bigint[];
    capped_kinds text[];
BEGIN
    SELECT coalesce(array_agg(running.user_id), '{}') INTO capped_users
    FROM (
        SELECT user_id FROM background_jobs
        WHERE status IN ('running', 'cancelling') AND user_id IS NOT NULL
        GROUP BY user_id
        HAVING count(*) >= min(max_active_per_user)
    ) AS running;
    SELECT coalesce(array_agg(running.user_kind), '{}') INTO capped_kinds
    FROM (
        SELECT user_id || ':' || kind AS user_kind FROM background_jobs
        WHERE status IN ('running', 'cancelling') AND user_id IS NOT NULL
            AND max_active_per_kind IS NOT NULL
        GROUP BY user_id, kind
        HAVING count(*) >= min(max_active_per_kind)
    ) AS running;
    LOOP
        candidate_id := NULL;
        SELECT jobs.id INTO candidate_id
            FROM procrastinate_jobs AS jobs
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
                    (capped_users = '{}' AND capped_kinds = '{}')
                    OR NOT coalesce((
                        SELECT (capped.max_active_per_user IS NOT NULL
                                AND capped.user_id = ANY (capped_users))
                            OR (capped.max_active_per_kind IS NOT NULL
                                AND capped.user_id || ':' || capped.kind = ANY (capped_kinds))
                        FROM background_jobs AS capped
                        WHERE capped.procrastinate_job_id = jobs.id
                    ), false)
                )
            ORDER BY jobs.priority DESC, jobs.id ASC LIMIT 1
            FOR UPDATE OF jobs SKIP LOCKED;
        IF candidate_id IS NULL THEN
            RETURN found_jobs;  -- nothing to run: the all-NULL row Procrastinate expects
        END IF;
        SELECT * INTO owner FROM background_jobs WHERE procrastinate_job_id = candidate_id;
        IF owner.user_id IS NOT NULL
                AND (owner.max_active_per_user IS NOT NULL OR owner.max_active_per_kind IS NOT NULL)
                THEN
            PERFORM pg_advisory_xact_lock(7002, hashint8(owner.user_id));
            IF owner.max_active_per_user <= (
                SELECT count(*) FROM background_jobs
                WHERE user_id = owner.user_id AND status IN ('running', 'cancelling')
            ) THEN
                capped_users := capped_users || owner.user_id;
                CONTINUE;
            END IF;
            IF owner.max_active_per_kind <= (
                SELECT count(*) FROM background_jobs
                WHERE user_id = owner.user_id AND kind = owner.kind
                    AND status IN ('running', 'cancelling')
            ) THEN
                capped_kinds := capped_kinds || (owner.user_id || ':' || owner.kind);
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
