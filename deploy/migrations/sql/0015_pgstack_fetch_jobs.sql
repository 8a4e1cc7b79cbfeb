-- The worker's claim (deploy/worker.py): up to `max_jobs` runnable jobs in one statement and one
-- commit, by the rules of the fair fetch (0012's `procrastinate_fetch_job_v2`, whose comments
-- say why each is so): locks, priority then id, SKIP LOCKED, and the user's and the kind's
-- caps re-checked under the per-user advisory lock (class 7002) held until the claim commits.
--
-- Claims take turns: each first waits for one advisory lock (class 7003, key 0) held until it
-- commits. A claim that takes several users' jobs holds several per-user locks, so two claims
-- at once would meet each other's: waiting for them in the order met can deadlock, and passing
-- over a user whose lock another claim holds (this function's first rule) excluded that user
-- by a per-row subquery on `background_jobs` (procrastinate_jobs has no user to index), and
-- once every waiting user was excluded, the select that ended the claim walked every waiting
-- job (10,000 of 10 users: 17 ms for a claim of 4 jobs, against 4 ms for 10 unhindered). Slow
-- claims held their locks longer, so the other worker's claims met them more often: two
-- workers fell to a third of one's rate and stayed there (bench/jobs.py, 3.5 ms CPU per job).
-- In turn, a claim meets no other claim's per-user lock, and one claim of a few ms fills every
-- free slot of its worker, so taking turns costs little.
-- Procrastinate's fetch (`procrastinate_fetch_job_v2`, an older worker's during a rolling
-- deploy) holds 7002 locks too, not the turn: this claim waits for its first such lock
-- (holding none, it can be in no cycle), and once it holds one, passes over a user whose lock
-- such a fetch holds (`pg_try_advisory_xact_lock`), as if at their cap: that fetch is counting
-- them, and the next claim sees its result.
CREATE FUNCTION pgstack_fetch_jobs(
    target_queue_names character varying[],
    p_worker_id bigint,
    max_jobs integer
)
    RETURNS SETOF procrastinate_jobs
    LANGUAGE plpgsql
AS $$
DECLARE
    found_job procrastinate_jobs;
    taken integer := 0;
    candidate_id bigint;
    owner background_jobs;
    capped_users bigint[];
    capped_kinds text[];
    holding boolean := false;  -- a per-user lock (class 7002) of this claim
BEGIN
    PERFORM pg_advisory_xact_lock(7003, 0);  -- the claims' turn, before anything is counted
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
    WHILE taken < max_jobs LOOP
        candidate_id := NULL;
        SELECT jobs.id INTO candidate_id
            FROM procrastinate_jobs AS jobs
            WHERE
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
            RETURN;  -- nothing more may run now
        END IF;
        SELECT * INTO owner FROM background_jobs WHERE procrastinate_job_id = candidate_id;
        IF owner.user_id IS NOT NULL
                AND (owner.max_active_per_user IS NOT NULL OR owner.max_active_per_kind IS NOT NULL)
                THEN
            IF NOT holding THEN
                PERFORM pg_advisory_xact_lock(7002, hashint8(owner.user_id));
                holding := true;
            ELSIF NOT pg_try_advisory_xact_lock(7002, hashint8(owner.user_id)) THEN
                capped_users := capped_users || owner.user_id;
                capped_kinds := capped_kinds || (owner.user_id || ':' || owner.kind);
                CONTINUE;
            END IF;
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
            RETURNING * INTO found_job;
        RETURN NEXT found_job;
        taken := taken + 1;
    END LOOP;
END;
$$;
