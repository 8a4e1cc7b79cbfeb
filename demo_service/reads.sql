-- The hot-path reads of demo_service (reads.py): JSON built by Postgres, one statement each,
-- sent to the client as it is.

-- get_metrics --
-- Totals and a daily series (every day, zeros included) over the last `days` days:
-- schemas.MetricsRead.
WITH per_day AS (
    SELECT m.day, sum(m.impressions) AS impressions, sum(m.clicks) AS clicks,
           sum(m.spend) AS spend, sum(m.conversions) AS conversions
    FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id
    WHERE p.user_id = %(user_id)s AND m.day > current_date - CAST(%(days)s AS integer)
    GROUP BY m.day
), series AS (
    SELECT current_date - i AS day FROM generate_series(0, CAST(%(days)s AS integer) - 1) AS i
)
SELECT json_build_object(
    'days', CAST(%(days)s AS integer),
    'totals', (SELECT json_build_object(
        'impressions', COALESCE(sum(impressions), 0), 'clicks', COALESCE(sum(clicks), 0),
        'spend', COALESCE(sum(spend), 0), 'conversions', COALESCE(sum(conversions), 0))
        FROM per_day),
    'daily', (SELECT json_agg(json_build_object(
        'day', s.day, 'impressions', COALESCE(d.impressions, 0),
        'clicks', COALESCE(d.clicks, 0), 'spend', COALESCE(d.spend, 0),
        'conversions', COALESCE(d.conversions, 0)) ORDER BY s.day)
        FROM series s LEFT JOIN per_day d USING (day))
)::text

-- get_dashboard --
-- Everything the dashboard page shows (schemas.DashboardRead); no row for a missing user.
-- Each job it shows (the demo's, the platforms', the user's active ones) is rendered once, as
-- shared.jobs.JobRead renders it, in `shown_jobs`: one index lookup by id for the first
-- two, background_jobs_active_idx for the third (its predicate is the IN list written below,
-- shared.jobs.ACTIVE_STATUSES, so a generic plan can use it too).
WITH me AS (
    SELECT id, email, full_name, demo_mode_status, demo_error, demo_job_id
    FROM users WHERE id = %(user_id)s
), my_platforms AS (
    SELECT id, kind, name, connection_status, connection_error, is_demo, connection_job_id
    FROM platforms WHERE user_id = %(user_id)s
), shown_jobs AS (
    SELECT j.id, j.user_id, j.status, j.created_at, json_build_object(
        'id', j.id, 'kind', j.kind, 'status', j.status,
        'progress', j.progress_percent, 'message', j.progress_message,
        'attempts', j.attempts, 'result', j.result,
        'error', CASE WHEN j.error_type IS NOT NULL THEN
            json_build_object('type', j.error_type, 'message', j.error_message) END,
        'version', j.version, 'created_at', j.created_at, 'updated_at', j.updated_at,
        'started_at', j.started_at, 'finished_at', j.finished_at,
        -- JobRead's steps: without their stored results (shared/jobs/steps.py)
        'steps', (SELECT coalesce(jsonb_agg(step - 'result' ORDER BY n), '[]')
                  FROM jsonb_array_elements(j.steps) WITH ORDINALITY AS s(step, n)),
        'links', json_build_object('self', '/v1/jobs/' || j.id,
                                   'status', '/v1/jobs/' || j.id || '/status',
                                   'events', '/v1/jobs/' || j.id || '/events')) AS doc
    FROM background_jobs j
    WHERE j.id = ANY (ARRAY(SELECT demo_job_id FROM me
                            UNION ALL SELECT connection_job_id FROM my_platforms))
       OR (j.user_id = %(user_id)s AND j.status IN ('queued', 'running', 'cancelling'))
)
SELECT json_build_object(
    'user', json_build_object('id', me.id, 'email', me.email, 'name', me.full_name),
    'demo', json_build_object(
        'status', me.demo_mode_status, 'error', me.demo_error,
        'job', (SELECT doc FROM shown_jobs WHERE id = me.demo_job_id)),
    'platforms', COALESCE((
        SELECT json_agg(json_build_object(
            'id', p.id, 'kind', p.kind, 'name', p.name,
            'connection_status', p.connection_status,
            'connection_error', p.connection_error, 'is_demo', p.is_demo,
            'job', (SELECT doc FROM shown_jobs WHERE id = p.connection_job_id)
        ) ORDER BY p.id)
        FROM my_platforms p), '[]'),
    -- The last 30 days: schemas.DashboardMetrics.
    'metrics', (
        SELECT json_build_object(
            'days', 30,
            'impressions', COALESCE(sum(m.impressions), 0),
            'clicks', COALESCE(sum(m.clicks), 0),
            'spend', COALESCE(sum(m.spend), 0),
            'conversions', COALESCE(sum(m.conversions), 0))
        FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id
        WHERE p.user_id = me.id AND m.day > current_date - 30),
    'active_jobs', COALESCE((
        SELECT json_agg(doc ORDER BY created_at DESC) FROM shown_jobs
        WHERE user_id = me.id AND status IN ('queued', 'running', 'cancelling')), '[]')
)::text
FROM me
