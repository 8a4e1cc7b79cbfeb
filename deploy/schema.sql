--
-- PostgreSQL database dump
--

--
-- Name: procrastinate_job_event_type; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.procrastinate_job_event_type AS ENUM (
    'deferred',
    'started',
    'deferred_for_retry',
    'failed',
    'succeeded',
    'cancelled',
    'abort_requested',
    'aborted',
    'scheduled',
    'retried'
);

--
-- Name: procrastinate_job_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.procrastinate_job_status AS ENUM (
    'todo',
    'doing',
    'succeeded',
    'failed',
    'cancelled',
    'aborting',
    'aborted'
);

--
-- Name: procrastinate_job_to_defer_v1; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.procrastinate_job_to_defer_v1 AS (
	queue_name character varying,
	task_name character varying,
	priority integer,
	lock text,
	queueing_lock text,
	args jsonb,
	scheduled_at timestamp with time zone
);

--
-- Name: background_jobs_status_transition(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.background_jobs_status_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (OLD.status, NEW.status) NOT IN (
        ('queued', 'running'), ('queued', 'cancelled'),
        ('running', 'succeeded'), ('running', 'failed'), ('running', 'queued'),
        ('running', 'cancelling'),
        ('cancelling', 'cancelled'), ('cancelling', 'succeeded'),
        ('failed', 'queued'), ('cancelled', 'queued')
    ) THEN
        RAISE EXCEPTION 'illegal job status transition: % -> %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

--
-- Name: demo_job_ended(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.demo_job_ended() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    reason text := CASE NEW.status
        WHEN 'cancelled' THEN 'The job was cancelled.'
        ELSE COALESCE(NEW.error_message, 'The job failed.') END;
    moved record;
BEGIN
    FOR moved IN
        UPDATE users SET demo_mode_status = 'failed', demo_error = reason,
                         updated_at = now()
        WHERE demo_job_id = NEW.id AND demo_mode_status IN ('enabling', 'disabling')
        RETURNING id
    LOOP
        PERFORM pg_notify('job_events', json_build_object(
            'type', 'demo', 'user_id', moved.id, 'status', 'failed',
            'error', reason, 'job_id', NEW.id)::text);
    END LOOP;
    FOR moved IN
        UPDATE platforms SET connection_status = 'error', connection_error = reason,
                             updated_at = now()
        WHERE connection_job_id = NEW.id
          AND connection_status IN ('connecting', 'disconnecting')
        RETURNING id, user_id
    LOOP
        PERFORM pg_notify('job_events', json_build_object(
            'type', 'platform', 'user_id', moved.user_id, 'platform_id', moved.id,
            'status', 'error', 'error', reason, 'job_id', NEW.id)::text);
    END LOOP;
    RETURN NULL;
END $$;

--
-- Name: pgstack_background_job_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pgstack_background_job_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    event_kind text := 'progress';
    event jsonb;
    changed_steps jsonb;
    logged_at timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.status, NEW.progress_percent, NEW.progress_message, NEW.steps)
                IS NOT DISTINCT FROM (OLD.status, OLD.progress_percent, OLD.progress_message, OLD.steps)
                THEN
            RETURN NEW;
        END IF;
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    event := jsonb_build_object(
        'id', NEW.id,
        'kind', NEW.kind,
        'status', NEW.status,
        'progress', NEW.progress_percent,
        'message', left(NEW.progress_message, 200),
        'version', NEW.version,
        -- epoch milliseconds, to the microsecond: clients measure delivery with it
        'updated_at', round(extract(epoch FROM NEW.updated_at) * 1000, 3)
    );
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        event_kind := 'status';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.steps IS DISTINCT FROM OLD.steps THEN
        -- The steps that started or ended, as JobRead shows them (their results stay private).
        SELECT coalesce(jsonb_agg(step - 'result' ORDER BY position), '[]') INTO changed_steps
        FROM jsonb_array_elements(NEW.steps) WITH ORDINALITY AS s(step, position)
        WHERE step IS DISTINCT FROM OLD.steps -> (position::integer - 1);
        event := event || jsonb_build_object('steps', changed_steps);
        IF event_kind <> 'status' THEN
            event_kind := 'step';
        END IF;
    END IF;
    -- clock_timestamp(), not the transaction's start: /v1/events' resume slack then needs to
    -- cover only the time from this insert to the commit (job_service/streams.py).
    INSERT INTO job_events (job_id, job_offset, user_id, kind, payload)
    VALUES (
        NEW.id, NEW.version, NEW.user_id, event_kind,
        CASE WHEN NEW.status IN ('succeeded', 'failed', 'cancelled') THEN
            event || jsonb_build_object(
                'result', NEW.result,
                'error', CASE WHEN NEW.error_type IS NOT NULL THEN jsonb_build_object(
                    'type', NEW.error_type, 'message', NEW.error_message) END)
        ELSE event END
    )
    RETURNING at INTO logged_at;
    -- Only a change someone watches is announced (see job_event_watchers). Registering a
    -- watcher takes this lock exclusively: a change either commits before the new watcher's
    -- first read, or sees the watcher and is announced.
    PERFORM pg_advisory_xact_lock_shared(7001, hashint8(coalesce(NEW.user_id, 0)));
    IF NOT EXISTS (
        SELECT 1 FROM job_event_watchers
        WHERE user_id IN (NEW.user_id, 0) AND expires_at > now()
    ) THEN
        RETURN NEW;
    END IF;
    -- The event without the result and error (a terminal one is read from the log), so the
    -- payload stays far below NOTIFY's 8000 bytes.
    PERFORM pg_notify('job_events', (event || jsonb_build_object(
        'type', 'job',
        'user_id', NEW.user_id,
        'event', event_kind,
        -- the resume cursor of /v1/events (epoch milliseconds, to the microsecond)
        'at', round(extract(epoch FROM logged_at) * 1000, 3)
    ))::text);
    RETURN NEW;
END;
$$;

--
-- Name: procrastinate_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.procrastinate_jobs (
    id bigint NOT NULL,
    queue_name character varying(128) NOT NULL,
    task_name character varying(128) NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    lock text,
    queueing_lock text,
    args jsonb DEFAULT '{}'::jsonb NOT NULL,
    status public.procrastinate_job_status DEFAULT 'todo'::public.procrastinate_job_status NOT NULL,
    scheduled_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    abort_requested boolean DEFAULT false NOT NULL,
    worker_id bigint,
    CONSTRAINT check_not_todo_abort_requested CHECK ((NOT ((status = 'todo'::public.procrastinate_job_status) AND (abort_requested = true))))
);

--
-- Name: pgstack_fetch_jobs(character varying[], bigint, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pgstack_fetch_jobs(target_queue_names character varying[], p_worker_id bigint, max_jobs integer) RETURNS SETOF public.procrastinate_jobs
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

--
-- Name: pgstack_mirror_job_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pgstack_mirror_job_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    CASE NEW.type
    WHEN 'started' THEN
        UPDATE background_jobs
        SET status = 'running', attempts = attempts + 1, started_at = NEW.at,
            finished_at = NULL, progress_percent = 0, progress_message = NULL
        WHERE procrastinate_job_id = NEW.job_id AND status = 'queued';
    WHEN 'deferred_for_retry', 'retried' THEN
        UPDATE background_jobs SET status = 'queued'
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'failed');
    WHEN 'succeeded' THEN
        UPDATE background_jobs
        SET status = 'succeeded', progress_percent = 100, finished_at = NEW.at,
            error_type = NULL, error_message = NULL
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'cancelling');
    WHEN 'failed', 'aborted' THEN
        -- A job the user asked to cancel ends cancelled, whatever interrupted it; an abort
        -- nobody asked for (a worker shut down past its grace period) is a failure.
        UPDATE background_jobs
        SET status = CASE status WHEN 'cancelling' THEN 'cancelled' ELSE 'failed' END,
            finished_at = NEW.at
        WHERE procrastinate_job_id = NEW.job_id AND status IN ('running', 'cancelling');
    WHEN 'cancelled' THEN
        UPDATE background_jobs SET status = 'cancelled', finished_at = NEW.at
        WHERE procrastinate_job_id = NEW.job_id AND status = 'queued';
    WHEN 'abort_requested' THEN
        UPDATE background_jobs SET status = 'cancelling'
        WHERE procrastinate_job_id = NEW.job_id AND status = 'running';
    ELSE
        NULL;  -- an event type added by a later Procrastinate: nothing to mirror yet
    END CASE;
    RETURN NULL;
END;
$$;

--
-- Name: platforms_connection_transition(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.platforms_connection_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (OLD.connection_status, NEW.connection_status) NOT IN (
        ('disconnected', 'connecting'), ('connecting', 'connected'),
        ('connected', 'disconnecting'), ('disconnecting', 'disconnected'),
        ('connecting', 'error'), ('disconnecting', 'error'),
        ('error', 'connecting'), ('error', 'disconnecting')
    ) THEN
        RAISE EXCEPTION 'illegal connection transition: % -> %',
            OLD.connection_status, NEW.connection_status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

--
-- Name: procrastinate_cancel_job_v1(bigint, boolean, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_cancel_job_v1(job_id bigint, abort boolean, delete_job boolean) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    _job_id bigint;
BEGIN
    IF delete_job THEN
        DELETE FROM procrastinate_jobs
        WHERE id = job_id AND status = 'todo'
        RETURNING id INTO _job_id;
    END IF;
    IF _job_id IS NULL THEN
        IF abort THEN
            UPDATE procrastinate_jobs
            SET abort_requested = true,
                status = CASE status
                    WHEN 'todo' THEN 'cancelled'::procrastinate_job_status ELSE status
                END
            WHERE id = job_id AND status IN ('todo', 'doing')
            RETURNING id INTO _job_id;
        ELSE
            UPDATE procrastinate_jobs
            SET status = 'cancelled'::procrastinate_job_status
            WHERE id = job_id AND status = 'todo'
            RETURNING id INTO _job_id;
        END IF;
    END IF;
    RETURN _job_id;
END;
$$;

--
-- Name: procrastinate_defer_jobs_v1(public.procrastinate_job_to_defer_v1[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_defer_jobs_v1(jobs public.procrastinate_job_to_defer_v1[]) RETURNS bigint[]
    LANGUAGE plpgsql
    AS $$
DECLARE
    job_ids bigint[];
BEGIN
    WITH inserted_jobs AS (
        INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at)
        SELECT (job).queue_name,
               (job).task_name,
               (job).priority,
               (job).lock,
               (job).queueing_lock,
               (job).args,
               (job).scheduled_at
        FROM unnest(jobs) AS job
        RETURNING id
    )
    SELECT array_agg(id) FROM inserted_jobs INTO job_ids;

    RETURN job_ids;
END;
$$;

--
-- Name: procrastinate_defer_periodic_job_v2(character varying, character varying, character varying, character varying, integer, character varying, bigint, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_defer_periodic_job_v2(_queue_name character varying, _lock character varying, _queueing_lock character varying, _task_name character varying, _priority integer, _periodic_id character varying, _defer_timestamp bigint, _args jsonb) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
	_job_id bigint;
	_defer_id bigint;
BEGIN
    INSERT
        INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)
        VALUES (_task_name, _periodic_id, _defer_timestamp)
        ON CONFLICT DO NOTHING
        RETURNING id into _defer_id;

    IF _defer_id IS NULL THEN
        RETURN NULL;
    END IF;

    UPDATE procrastinate_periodic_defers
        SET job_id = (
            SELECT COALESCE((
                SELECT unnest(procrastinate_defer_jobs_v1(
                    ARRAY[
                        ROW(
                            _queue_name,
                            _task_name,
                            _priority,
                            _lock,
                            _queueing_lock,
                            _args,
                            NULL::timestamptz
                        )
                    ]::procrastinate_job_to_defer_v1[]
                ))
            ), NULL)
        )
        WHERE id = _defer_id
        RETURNING job_id INTO _job_id;

    DELETE
        FROM procrastinate_periodic_defers
        USING (
            SELECT id
            FROM procrastinate_periodic_defers
            WHERE procrastinate_periodic_defers.task_name = _task_name
            AND procrastinate_periodic_defers.periodic_id = _periodic_id
            AND procrastinate_periodic_defers.defer_timestamp < _defer_timestamp
            ORDER BY id
            FOR UPDATE
        ) to_delete
        WHERE procrastinate_periodic_defers.id = to_delete.id;

    RETURN _job_id;
END;
$$;

--
-- Name: procrastinate_fetch_job_v2(character varying[], bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_fetch_job_v2(target_queue_names character varying[], p_worker_id bigint) RETURNS public.procrastinate_jobs
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

--
-- Name: procrastinate_finish_job_v1(bigint, public.procrastinate_job_status, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_finish_job_v1(job_id bigint, end_status public.procrastinate_job_status, delete_job boolean) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    _job_id bigint;
BEGIN
    IF end_status NOT IN ('succeeded', 'failed', 'aborted') THEN
        RAISE 'End status should be either "succeeded", "failed" or "aborted" (job id: %)', job_id;
    END IF;
    IF delete_job THEN
        DELETE FROM procrastinate_jobs
        WHERE id = job_id AND status IN ('todo', 'doing')
        RETURNING id INTO _job_id;
    ELSE
        UPDATE procrastinate_jobs
        SET status = end_status,
            abort_requested = false,
            attempts = CASE status
                WHEN 'doing' THEN attempts + 1 ELSE attempts
            END
        WHERE id = job_id AND status IN ('todo', 'doing')
        RETURNING id INTO _job_id;
    END IF;
    IF _job_id IS NULL THEN
        RAISE 'Job was not found or not in "doing" or "todo" status (job id: %)', job_id;
    END IF;
END;
$$;

--
-- Name: procrastinate_notify_queue_abort_job_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_notify_queue_abort_job_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    payload TEXT;
BEGIN
    SELECT json_build_object('type', 'abort_job_requested', 'job_id', NEW.id)::text INTO payload;
	PERFORM pg_notify('procrastinate_queue_v1#' || NEW.queue_name, payload);
	PERFORM pg_notify('procrastinate_any_queue_v1', payload);
	RETURN NEW;
END;
$$;

--
-- Name: procrastinate_notify_queue_job_inserted_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_notify_queue_job_inserted_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    payload TEXT;
BEGIN
    SELECT json_build_object('type', 'job_inserted', 'job_id', NEW.id)::text INTO payload;
	PERFORM pg_notify('procrastinate_queue_v1#' || NEW.queue_name, payload);
	PERFORM pg_notify('procrastinate_any_queue_v1', payload);
	RETURN NEW;
END;
$$;

--
-- Name: procrastinate_prune_stalled_workers_v1(double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_prune_stalled_workers_v1(seconds_since_heartbeat double precision) RETURNS TABLE(worker_id bigint)
    LANGUAGE plpgsql
    AS $$
BEGIN
    RETURN QUERY
    DELETE FROM procrastinate_workers
    WHERE last_heartbeat < NOW() - (seconds_since_heartbeat || 'SECOND')::INTERVAL
    RETURNING procrastinate_workers.id;
END;
$$;

--
-- Name: procrastinate_register_worker_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_register_worker_v1() RETURNS TABLE(worker_id bigint)
    LANGUAGE plpgsql
    AS $$
BEGIN
    RETURN QUERY
    INSERT INTO procrastinate_workers DEFAULT VALUES
    RETURNING procrastinate_workers.id;
END;
$$;

--
-- Name: procrastinate_retry_job_v1(bigint, timestamp with time zone, integer, character varying, character varying); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_retry_job_v1(job_id bigint, retry_at timestamp with time zone, new_priority integer, new_queue_name character varying, new_lock character varying) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    _job_id bigint;
    _abort_requested boolean;
BEGIN
    SELECT abort_requested FROM procrastinate_jobs
    WHERE id = job_id AND status = 'doing'
    FOR UPDATE
    INTO _abort_requested;
    IF _abort_requested THEN
        UPDATE procrastinate_jobs
        SET status = 'failed'::procrastinate_job_status
        WHERE id = job_id AND status = 'doing'
        RETURNING id INTO _job_id;
    ELSE
        UPDATE procrastinate_jobs
        SET status = 'todo'::procrastinate_job_status,
            attempts = attempts + 1,
            scheduled_at = retry_at,
            priority = COALESCE(new_priority, priority),
            queue_name = COALESCE(new_queue_name, queue_name),
            lock = COALESCE(new_lock, lock)
        WHERE id = job_id AND status = 'doing'
        RETURNING id INTO _job_id;
    END IF;

    IF _job_id IS NULL THEN
        RAISE 'Job was not found or not in "doing" status (job id: %)', job_id;
    END IF;
END;
$$;

--
-- Name: procrastinate_retry_job_v2(bigint, timestamp with time zone, integer, character varying, character varying); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_retry_job_v2(job_id bigint, retry_at timestamp with time zone, new_priority integer, new_queue_name character varying, new_lock character varying) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    _job_id bigint;
    _abort_requested boolean;
    _current_status procrastinate_job_status;
BEGIN
    SELECT status, abort_requested FROM procrastinate_jobs
    WHERE id = job_id AND status IN ('doing', 'failed')
    FOR UPDATE
    INTO _current_status, _abort_requested;
    IF _current_status = 'doing' AND _abort_requested THEN
        UPDATE procrastinate_jobs
        SET status = 'failed'::procrastinate_job_status
        WHERE id = job_id AND status = 'doing'
        RETURNING id INTO _job_id;
    ELSE
        UPDATE procrastinate_jobs
        SET status = 'todo'::procrastinate_job_status,
            attempts = attempts + 1,
            scheduled_at = retry_at,
            priority = COALESCE(new_priority, priority),
            queue_name = COALESCE(new_queue_name, queue_name),
            lock = COALESCE(new_lock, lock)
        WHERE id = job_id AND status IN ('doing', 'failed')
        RETURNING id INTO _job_id;
    END IF;

    IF _job_id IS NULL THEN
        RAISE 'Job was not found or has an invalid status to retry (job id: %)', job_id;
    END IF;

END;
$$;

--
-- Name: procrastinate_trigger_abort_requested_events_procedure_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_trigger_abort_requested_events_procedure_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type)
        VALUES (NEW.id, 'abort_requested'::procrastinate_job_event_type);
    RETURN NEW;
END;
$$;

--
-- Name: procrastinate_trigger_function_scheduled_events_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_trigger_function_scheduled_events_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type, at)
        VALUES (NEW.id, 'scheduled'::procrastinate_job_event_type, NEW.scheduled_at);

	RETURN NEW;
END;
$$;

--
-- Name: procrastinate_trigger_function_status_events_insert_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_trigger_function_status_events_insert_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO procrastinate_events(job_id, type)
        VALUES (NEW.id, 'deferred'::procrastinate_job_event_type);
	RETURN NEW;
END;
$$;

--
-- Name: procrastinate_trigger_function_status_events_update_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_trigger_function_status_events_update_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    WITH t AS (
        SELECT CASE
            WHEN OLD.status = 'todo'::procrastinate_job_status
                AND NEW.status = 'doing'::procrastinate_job_status
                THEN 'started'::procrastinate_job_event_type
            WHEN OLD.status = 'doing'::procrastinate_job_status
                AND NEW.status = 'todo'::procrastinate_job_status
                THEN 'deferred_for_retry'::procrastinate_job_event_type
            WHEN OLD.status = 'doing'::procrastinate_job_status
                AND NEW.status = 'failed'::procrastinate_job_status
                THEN 'failed'::procrastinate_job_event_type
            WHEN OLD.status = 'doing'::procrastinate_job_status
                AND NEW.status = 'succeeded'::procrastinate_job_status
                THEN 'succeeded'::procrastinate_job_event_type
            WHEN OLD.status = 'todo'::procrastinate_job_status
                AND (
                    NEW.status = 'cancelled'::procrastinate_job_status
                    OR NEW.status = 'failed'::procrastinate_job_status
                    OR NEW.status = 'succeeded'::procrastinate_job_status
                )
                THEN 'cancelled'::procrastinate_job_event_type
            WHEN OLD.status = 'doing'::procrastinate_job_status
                AND NEW.status = 'aborted'::procrastinate_job_status
                THEN 'aborted'::procrastinate_job_event_type
            WHEN OLD.status = 'failed'::procrastinate_job_status
                AND NEW.status = 'todo'::procrastinate_job_status
                THEN 'retried'::procrastinate_job_event_type
            ELSE NULL
        END as event_type
    )
    INSERT INTO procrastinate_events(job_id, type)
        SELECT NEW.id, t.event_type
        FROM t
        WHERE t.event_type IS NOT NULL;
	RETURN NEW;
END;
$$;

--
-- Name: procrastinate_unlink_periodic_defers_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_unlink_periodic_defers_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE procrastinate_periodic_defers
    SET job_id = NULL
    WHERE job_id = OLD.id;
    RETURN OLD;
END;
$$;

--
-- Name: procrastinate_unregister_worker_v1(bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_unregister_worker_v1(worker_id bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM procrastinate_workers
    WHERE id = worker_id;
END;
$$;

--
-- Name: procrastinate_update_heartbeat_v1(bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.procrastinate_update_heartbeat_v1(worker_id bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE procrastinate_workers
    SET last_heartbeat = NOW()
    WHERE id = worker_id;
END;
$$;

--
-- Name: users_demo_mode_transition(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.users_demo_mode_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (OLD.demo_mode_status, NEW.demo_mode_status) NOT IN (
        ('disabled', 'enabling'), ('enabling', 'enabled'), ('enabled', 'disabling'),
        ('disabling', 'disabled'), ('enabling', 'failed'), ('disabling', 'failed'),
        ('failed', 'enabling'), ('failed', 'disabling')
    ) THEN
        RAISE EXCEPTION 'illegal demo mode transition: % -> %',
            OLD.demo_mode_status, NEW.demo_mode_status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

--
-- Name: alembic_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);

--
-- Name: background_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.background_jobs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id bigint,
    kind text NOT NULL,
    args jsonb DEFAULT '{}'::jsonb NOT NULL,
    idempotency_key text,
    procrastinate_job_id bigint,
    status text DEFAULT 'queued'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    progress_percent smallint DEFAULT 0 NOT NULL,
    progress_message text,
    result jsonb,
    error_type text,
    error_message text,
    version bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    steps jsonb DEFAULT '[]'::jsonb NOT NULL,
    max_active_per_user integer,
    traceparent text,
    max_active_per_kind integer,
    CONSTRAINT background_jobs_max_active_check CHECK ((max_active_per_user > 0)),
    CONSTRAINT background_jobs_max_active_kind_check CHECK ((max_active_per_kind > 0)),
    CONSTRAINT background_jobs_progress_check CHECK (((progress_percent >= 0) AND (progress_percent <= 100))),
    CONSTRAINT background_jobs_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text, 'cancelling'::text, 'cancelled'::text])))
);

--
-- Name: daily_metrics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.daily_metrics (
    id bigint NOT NULL,
    platform_id bigint NOT NULL,
    day date NOT NULL,
    impressions bigint DEFAULT 0 NOT NULL,
    clicks bigint DEFAULT 0 NOT NULL,
    spend numeric(14,2) DEFAULT 0 NOT NULL,
    conversions bigint DEFAULT 0 NOT NULL
);

--
-- Name: daily_metrics_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.daily_metrics_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: daily_metrics_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.daily_metrics_id_seq OWNED BY public.daily_metrics.id;

--
-- Name: job_event_watchers; Type: TABLE; Schema: public; Owner: -
--

CREATE UNLOGGED TABLE public.job_event_watchers (
    user_id bigint NOT NULL,
    watcher uuid NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

--
-- Name: job_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_events (
    id bigint NOT NULL,
    job_id uuid NOT NULL,
    job_offset bigint NOT NULL,
    user_id bigint,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    CONSTRAINT job_events_kind_check CHECK ((kind = ANY (ARRAY['status'::text, 'progress'::text, 'step'::text])))
);

--
-- Name: job_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.job_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.job_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: login_failures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.login_failures (
    id bigint NOT NULL,
    email text NOT NULL,
    ip inet,
    failed_at timestamp with time zone DEFAULT now() NOT NULL,
    pending boolean DEFAULT false NOT NULL
);

--
-- Name: login_failures_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.login_failures_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: login_failures_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.login_failures_id_seq OWNED BY public.login_failures.id;

--
-- Name: platforms; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.platforms (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    connection_status text DEFAULT 'disconnected'::text NOT NULL,
    connection_error text,
    is_demo boolean DEFAULT false NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    connection_job_id uuid,
    CONSTRAINT platforms_connection_status_check CHECK ((connection_status = ANY (ARRAY['disconnected'::text, 'connecting'::text, 'connected'::text, 'disconnecting'::text, 'error'::text])))
);

--
-- Name: platforms_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.platforms_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: platforms_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.platforms_id_seq OWNED BY public.platforms.id;

--
-- Name: procrastinate_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.procrastinate_events (
    id bigint NOT NULL,
    job_id bigint NOT NULL,
    type public.procrastinate_job_event_type,
    at timestamp with time zone DEFAULT now()
);

--
-- Name: procrastinate_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.procrastinate_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: procrastinate_events_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.procrastinate_events_id_seq OWNED BY public.procrastinate_events.id;

--
-- Name: procrastinate_jobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.procrastinate_jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: procrastinate_jobs_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.procrastinate_jobs_id_seq OWNED BY public.procrastinate_jobs.id;

--
-- Name: procrastinate_periodic_defers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.procrastinate_periodic_defers (
    id bigint NOT NULL,
    task_name character varying(128) NOT NULL,
    defer_timestamp bigint,
    job_id bigint,
    periodic_id character varying(128) DEFAULT ''::character varying NOT NULL
);

--
-- Name: procrastinate_periodic_defers_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.procrastinate_periodic_defers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: procrastinate_periodic_defers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.procrastinate_periodic_defers_id_seq OWNED BY public.procrastinate_periodic_defers.id;

--
-- Name: procrastinate_schema_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.procrastinate_schema_version (
    version text NOT NULL
);

--
-- Name: procrastinate_workers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.procrastinate_workers (
    id bigint NOT NULL,
    last_heartbeat timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: procrastinate_workers_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.procrastinate_workers ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.procrastinate_workers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: registration_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.registration_attempts (
    id bigint NOT NULL,
    ip inet,
    attempted_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: registration_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.registration_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: registration_attempts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.registration_attempts_id_seq OWNED BY public.registration_attempts.id;

--
-- Name: user_roles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.user_roles (
    user_id bigint NOT NULL,
    role text NOT NULL,
    granted_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT user_roles_role_check CHECK ((role = 'operator'::text))
);

--
-- Name: user_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.user_sessions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id bigint NOT NULL,
    secret_hash bytea NOT NULL,
    auth_method text NOT NULL,
    transport text DEFAULT 'cookie'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    absolute_expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    user_agent text,
    ip inet,
    CONSTRAINT user_sessions_auth_method_check CHECK ((auth_method = ANY (ARRAY['password'::text, 'exchange'::text]))),
    CONSTRAINT user_sessions_transport_check CHECK ((transport = ANY (ARRAY['cookie'::text, 'bearer'::text])))
);

--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id bigint NOT NULL,
    email text NOT NULL,
    hashed_password text NOT NULL,
    full_name text DEFAULT ''::text NOT NULL,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    demo_mode_status text DEFAULT 'disabled'::text NOT NULL,
    demo_job_id uuid,
    demo_error text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT users_demo_mode_status_check CHECK ((demo_mode_status = ANY (ARRAY['disabled'::text, 'enabling'::text, 'enabled'::text, 'disabling'::text, 'failed'::text])))
);

--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: users_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

--
-- Name: daily_metrics id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.daily_metrics ALTER COLUMN id SET DEFAULT nextval('public.daily_metrics_id_seq'::regclass);

--
-- Name: login_failures id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.login_failures ALTER COLUMN id SET DEFAULT nextval('public.login_failures_id_seq'::regclass);

--
-- Name: platforms id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.platforms ALTER COLUMN id SET DEFAULT nextval('public.platforms_id_seq'::regclass);

--
-- Name: procrastinate_events id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_events ALTER COLUMN id SET DEFAULT nextval('public.procrastinate_events_id_seq'::regclass);

--
-- Name: procrastinate_jobs id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_jobs ALTER COLUMN id SET DEFAULT nextval('public.procrastinate_jobs_id_seq'::regclass);

--
-- Name: procrastinate_periodic_defers id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_periodic_defers ALTER COLUMN id SET DEFAULT nextval('public.procrastinate_periodic_defers_id_seq'::regclass);

--
-- Name: registration_attempts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.registration_attempts ALTER COLUMN id SET DEFAULT nextval('public.registration_attempts_id_seq'::regclass);

--
-- Name: users id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

--
-- Name: alembic_version alembic_version_pkc; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

--
-- Name: background_jobs background_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.background_jobs
    ADD CONSTRAINT background_jobs_pkey PRIMARY KEY (id);

--
-- Name: background_jobs background_jobs_procrastinate_job_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.background_jobs
    ADD CONSTRAINT background_jobs_procrastinate_job_id_key UNIQUE (procrastinate_job_id);

--
-- Name: daily_metrics daily_metrics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.daily_metrics
    ADD CONSTRAINT daily_metrics_pkey PRIMARY KEY (id);

--
-- Name: daily_metrics daily_metrics_platform_id_day_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.daily_metrics
    ADD CONSTRAINT daily_metrics_platform_id_day_key UNIQUE (platform_id, day);

--
-- Name: job_event_watchers job_event_watchers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_event_watchers
    ADD CONSTRAINT job_event_watchers_pkey PRIMARY KEY (user_id, watcher);

--
-- Name: job_events job_events_job_offset_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_events
    ADD CONSTRAINT job_events_job_offset_key UNIQUE (job_id, job_offset);

--
-- Name: job_events job_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_events
    ADD CONSTRAINT job_events_pkey PRIMARY KEY (id);

--
-- Name: login_failures login_failures_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.login_failures
    ADD CONSTRAINT login_failures_pkey PRIMARY KEY (id);

--
-- Name: platforms platforms_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.platforms
    ADD CONSTRAINT platforms_pkey PRIMARY KEY (id);

--
-- Name: procrastinate_events procrastinate_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_events
    ADD CONSTRAINT procrastinate_events_pkey PRIMARY KEY (id);

--
-- Name: procrastinate_jobs procrastinate_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_jobs
    ADD CONSTRAINT procrastinate_jobs_pkey PRIMARY KEY (id);

--
-- Name: procrastinate_periodic_defers procrastinate_periodic_defers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_periodic_defers
    ADD CONSTRAINT procrastinate_periodic_defers_pkey PRIMARY KEY (id);

--
-- Name: procrastinate_periodic_defers procrastinate_periodic_defers_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_periodic_defers
    ADD CONSTRAINT procrastinate_periodic_defers_unique UNIQUE (task_name, periodic_id, defer_timestamp);

--
-- Name: procrastinate_workers procrastinate_workers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_workers
    ADD CONSTRAINT procrastinate_workers_pkey PRIMARY KEY (id);

--
-- Name: registration_attempts registration_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.registration_attempts
    ADD CONSTRAINT registration_attempts_pkey PRIMARY KEY (id);

--
-- Name: user_roles user_roles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role);

--
-- Name: user_sessions user_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.user_sessions
    ADD CONSTRAINT user_sessions_pkey PRIMARY KEY (id);

--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_email_key UNIQUE (email);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- Name: background_jobs_active_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX background_jobs_active_idx ON public.background_jobs USING btree (user_id) WHERE (status = ANY (ARRAY['queued'::text, 'running'::text, 'cancelling'::text]));

--
-- Name: background_jobs_finished_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX background_jobs_finished_idx ON public.background_jobs USING btree (finished_at);

--
-- Name: background_jobs_idempotency_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX background_jobs_idempotency_key ON public.background_jobs USING btree (user_id, idempotency_key) NULLS NOT DISTINCT WHERE (idempotency_key IS NOT NULL);

--
-- Name: background_jobs_running_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX background_jobs_running_user_idx ON public.background_jobs USING btree (user_id) WHERE (status = ANY (ARRAY['running'::text, 'cancelling'::text]));

--
-- Name: background_jobs_user_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX background_jobs_user_created_idx ON public.background_jobs USING btree (user_id, created_at DESC);

--
-- Name: idx_procrastinate_jobs_worker_not_null; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_procrastinate_jobs_worker_not_null ON public.procrastinate_jobs USING btree (worker_id) WHERE ((worker_id IS NOT NULL) AND (status = 'doing'::public.procrastinate_job_status));

--
-- Name: idx_procrastinate_workers_last_heartbeat; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_procrastinate_workers_last_heartbeat ON public.procrastinate_workers USING btree (last_heartbeat);

--
-- Name: job_events_user_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX job_events_user_at_idx ON public.job_events USING btree (user_id, at);

--
-- Name: login_failures_email_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_email_idx ON public.login_failures USING btree (email, failed_at);

--
-- Name: login_failures_failed_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_failed_at_idx ON public.login_failures USING btree (failed_at);

--
-- Name: login_failures_ip_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_ip_idx ON public.login_failures USING btree (ip, failed_at);

--
-- Name: platforms_demo_kind_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX platforms_demo_kind_key ON public.platforms USING btree (user_id, kind) WHERE is_demo;

--
-- Name: platforms_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX platforms_user_id_idx ON public.platforms USING btree (user_id);

--
-- Name: procrastinate_events_job_id_fkey_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX procrastinate_events_job_id_fkey_v1 ON public.procrastinate_events USING btree (job_id);

--
-- Name: procrastinate_jobs_id_lock_idx_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX procrastinate_jobs_id_lock_idx_v1 ON public.procrastinate_jobs USING btree (id, lock) WHERE (status = ANY (ARRAY['todo'::public.procrastinate_job_status, 'doing'::public.procrastinate_job_status]));

--
-- Name: procrastinate_jobs_lock_idx_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX procrastinate_jobs_lock_idx_v1 ON public.procrastinate_jobs USING btree (lock) WHERE (status = 'doing'::public.procrastinate_job_status);

--
-- Name: procrastinate_jobs_priority_idx_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX procrastinate_jobs_priority_idx_v1 ON public.procrastinate_jobs USING btree (priority DESC, id) WHERE (status = 'todo'::public.procrastinate_job_status);

--
-- Name: procrastinate_jobs_queue_name_idx_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX procrastinate_jobs_queue_name_idx_v1 ON public.procrastinate_jobs USING btree (queue_name);

--
-- Name: procrastinate_jobs_queueing_lock_idx_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX procrastinate_jobs_queueing_lock_idx_v1 ON public.procrastinate_jobs USING btree (queueing_lock) WHERE (status = 'todo'::public.procrastinate_job_status);

--
-- Name: procrastinate_periodic_defers_job_id_fkey_v1; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX procrastinate_periodic_defers_job_id_fkey_v1 ON public.procrastinate_periodic_defers USING btree (job_id);

--
-- Name: registration_attempts_attempted_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX registration_attempts_attempted_at_idx ON public.registration_attempts USING btree (attempted_at);

--
-- Name: registration_attempts_ip_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX registration_attempts_ip_idx ON public.registration_attempts USING btree (ip, attempted_at);

--
-- Name: user_sessions_absolute_expires_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX user_sessions_absolute_expires_at_idx ON public.user_sessions USING btree (absolute_expires_at);

--
-- Name: user_sessions_last_seen_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX user_sessions_last_seen_at_idx ON public.user_sessions USING btree (last_seen_at);

--
-- Name: user_sessions_revoked_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX user_sessions_revoked_at_idx ON public.user_sessions USING btree (revoked_at) WHERE (revoked_at IS NOT NULL);

--
-- Name: user_sessions_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX user_sessions_user_id_idx ON public.user_sessions USING btree (user_id);

--
-- Name: users_email_lower_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX users_email_lower_key ON public.users USING btree (lower(email));

--
-- Name: background_jobs background_jobs_status_transition; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER background_jobs_status_transition BEFORE UPDATE OF status ON public.background_jobs FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION public.background_jobs_status_transition();

--
-- Name: background_jobs demo_job_ended; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER demo_job_ended AFTER UPDATE OF status ON public.background_jobs FOR EACH ROW WHEN (((new.status = ANY (ARRAY['failed'::text, 'cancelled'::text])) AND (new.kind ~~ 'demo:%'::text) AND (old.status IS DISTINCT FROM new.status))) EXECUTE FUNCTION public.demo_job_ended();

--
-- Name: background_jobs pgstack_background_job_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER pgstack_background_job_changed BEFORE UPDATE ON public.background_jobs FOR EACH ROW EXECUTE FUNCTION public.pgstack_background_job_changed();

--
-- Name: background_jobs pgstack_background_job_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER pgstack_background_job_inserted AFTER INSERT ON public.background_jobs FOR EACH ROW EXECUTE FUNCTION public.pgstack_background_job_changed();

--
-- Name: procrastinate_events pgstack_mirror_job_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER pgstack_mirror_job_event AFTER INSERT ON public.procrastinate_events FOR EACH ROW WHEN ((new.type <> ALL (ARRAY['deferred'::public.procrastinate_job_event_type, 'scheduled'::public.procrastinate_job_event_type]))) EXECUTE FUNCTION public.pgstack_mirror_job_event();

--
-- Name: platforms platforms_connection_transition; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER platforms_connection_transition BEFORE UPDATE OF connection_status ON public.platforms FOR EACH ROW WHEN ((old.connection_status IS DISTINCT FROM new.connection_status)) EXECUTE FUNCTION public.platforms_connection_transition();

--
-- Name: procrastinate_jobs procrastinate_jobs_notify_queue_job_aborted_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_jobs_notify_queue_job_aborted_v1 AFTER UPDATE OF abort_requested ON public.procrastinate_jobs FOR EACH ROW WHEN (((old.abort_requested = false) AND (new.abort_requested = true) AND (new.status = 'doing'::public.procrastinate_job_status))) EXECUTE FUNCTION public.procrastinate_notify_queue_abort_job_v1();

--
-- Name: procrastinate_jobs procrastinate_jobs_notify_queue_job_inserted_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 AFTER INSERT ON public.procrastinate_jobs FOR EACH ROW WHEN ((new.status = 'todo'::public.procrastinate_job_status)) EXECUTE FUNCTION public.procrastinate_notify_queue_job_inserted_v1();

--
-- Name: procrastinate_jobs procrastinate_trigger_abort_requested_events_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_trigger_abort_requested_events_v1 AFTER UPDATE OF abort_requested ON public.procrastinate_jobs FOR EACH ROW WHEN ((new.abort_requested = true)) EXECUTE FUNCTION public.procrastinate_trigger_abort_requested_events_procedure_v1();

--
-- Name: procrastinate_jobs procrastinate_trigger_delete_jobs_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_trigger_delete_jobs_v1 BEFORE DELETE ON public.procrastinate_jobs FOR EACH ROW EXECUTE FUNCTION public.procrastinate_unlink_periodic_defers_v1();

--
-- Name: procrastinate_jobs procrastinate_trigger_scheduled_events_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_trigger_scheduled_events_v1 AFTER INSERT OR UPDATE ON public.procrastinate_jobs FOR EACH ROW WHEN (((new.scheduled_at IS NOT NULL) AND (new.status = 'todo'::public.procrastinate_job_status))) EXECUTE FUNCTION public.procrastinate_trigger_function_scheduled_events_v1();

--
-- Name: procrastinate_jobs procrastinate_trigger_status_events_insert_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_trigger_status_events_insert_v1 AFTER INSERT ON public.procrastinate_jobs FOR EACH ROW WHEN ((new.status = 'todo'::public.procrastinate_job_status)) EXECUTE FUNCTION public.procrastinate_trigger_function_status_events_insert_v1();

--
-- Name: procrastinate_jobs procrastinate_trigger_status_events_update_v1; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER procrastinate_trigger_status_events_update_v1 AFTER UPDATE OF status ON public.procrastinate_jobs FOR EACH ROW EXECUTE FUNCTION public.procrastinate_trigger_function_status_events_update_v1();

--
-- Name: users users_demo_mode_transition; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_demo_mode_transition BEFORE UPDATE OF demo_mode_status ON public.users FOR EACH ROW WHEN ((old.demo_mode_status IS DISTINCT FROM new.demo_mode_status)) EXECUTE FUNCTION public.users_demo_mode_transition();

--
-- Name: background_jobs background_jobs_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.background_jobs
    ADD CONSTRAINT background_jobs_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: daily_metrics daily_metrics_platform_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.daily_metrics
    ADD CONSTRAINT daily_metrics_platform_id_fkey FOREIGN KEY (platform_id) REFERENCES public.platforms(id) ON DELETE CASCADE;

--
-- Name: platforms platforms_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.platforms
    ADD CONSTRAINT platforms_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: procrastinate_events procrastinate_events_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_events
    ADD CONSTRAINT procrastinate_events_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.procrastinate_jobs(id) ON DELETE CASCADE;

--
-- Name: procrastinate_jobs procrastinate_jobs_worker_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_jobs
    ADD CONSTRAINT procrastinate_jobs_worker_id_fkey FOREIGN KEY (worker_id) REFERENCES public.procrastinate_workers(id) ON DELETE SET NULL;

--
-- Name: procrastinate_periodic_defers procrastinate_periodic_defers_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procrastinate_periodic_defers
    ADD CONSTRAINT procrastinate_periodic_defers_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.procrastinate_jobs(id);

--
-- Name: user_roles user_roles_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: user_sessions user_sessions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.user_sessions
    ADD CONSTRAINT user_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--
