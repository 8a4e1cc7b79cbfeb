-- The steps of demo_service's jobs (steps.py), each run in a step's transaction by tasks.py.

-- claim_demo_job --
-- Lock the user's row if this job still drives demo mode through `status`.
SELECT u.id FROM users u JOIN background_jobs j ON j.id = u.demo_job_id
WHERE u.id = %(user_id)s AND u.demo_mode_status = %(status)s
  AND j.procrastinate_job_id = %(job_id)s
FOR NO KEY UPDATE OF u

-- set_demo_status --
-- Move demo mode on from `moving`; the job it belongs to, for the announcement.
UPDATE users SET demo_mode_status = %(to)s, demo_error = %(error)s, updated_at = now()
WHERE id = %(user_id)s AND demo_mode_status = %(moving)s
RETURNING demo_job_id

-- create_demo_platforms --
-- The demo platforms, connected; ON CONFLICT on the unique (user_id, kind) WHERE is_demo.
INSERT INTO platforms (user_id, kind, name, connection_status, is_demo)
SELECT %(user_id)s, kind, name, 'connected', true
FROM unnest(CAST(%(kinds)s AS text[]), CAST(%(names)s AS text[])) AS demo(kind, name)
ON CONFLICT (user_id, kind) WHERE is_demo DO NOTHING

-- list_demo_platforms --
-- The user's demo platforms: kind and id.
SELECT kind, id FROM platforms WHERE user_id = %(user_id)s AND is_demo

-- generate_demo_metrics --
-- `days` days of metrics up to today: a slow growth, quieter weekends and some noise.
INSERT INTO daily_metrics (platform_id, day, impressions, clicks, spend, conversions)
SELECT %(platform_id)s, day, impressions, clicks,
       round(CAST(clicks * %(cpc)s * (0.85 + 0.3 * random()) AS numeric), 2),
       CAST(round(clicks * %(cvr)s * (0.7 + 0.6 * random())) AS bigint)
FROM (
    SELECT day, impressions,
           CAST(round(impressions * %(ctr)s * (0.8 + 0.4 * random())) AS bigint) AS clicks
    FROM (
        SELECT current_date - i AS day,
               CAST(round(%(impressions)s * (1 + 0.004 * (CAST(%(days)s AS integer) - i))
                          * CASE WHEN extract(isodow FROM current_date - i) >= 6
                                 THEN 0.75 ELSE 1 END
                          * (0.85 + 0.3 * random())) AS bigint) AS impressions
        FROM generate_series(0, CAST(%(days)s AS integer) - 1) AS i
    ) AS by_day
) AS with_clicks
ON CONFLICT (platform_id, day) DO NOTHING

-- count_demo_metrics --
-- How many metric rows the user's demo platforms have.
SELECT count(*) AS metric_rows
FROM daily_metrics m JOIN platforms p ON p.id = m.platform_id
WHERE p.user_id = %(user_id)s AND p.is_demo

-- remove_demo_metrics --
-- The metrics of the user's demo platforms, never of the user's own.
DELETE FROM daily_metrics m USING platforms p
WHERE p.id = m.platform_id AND p.user_id = %(user_id)s AND p.is_demo

-- remove_demo_platforms --
-- The user's demo platforms (and, by cascade, anything left of their metrics).
DELETE FROM platforms WHERE user_id = %(user_id)s AND is_demo

-- claim_connection_job --
-- Lock the platform if this job still drives it through `status`: its user's id.
SELECT p.user_id FROM platforms p JOIN background_jobs j ON j.id = p.connection_job_id
WHERE p.id = %(platform_id)s AND p.connection_status = %(status)s
  AND j.procrastinate_job_id = %(job_id)s
FOR NO KEY UPDATE OF p

-- set_connection_status --
-- Move a claimed platform on from `moving`; its job, for the announcement.
UPDATE platforms SET connection_status = %(to)s, connection_error = %(error)s, updated_at = now()
WHERE id = %(platform_id)s AND connection_status = %(moving)s
RETURNING connection_job_id
