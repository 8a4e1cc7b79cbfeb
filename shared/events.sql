-- announce --
-- A change for the SSE streams, delivered when (and only if) the transaction commits.
SELECT pg_notify(%(channel)s, %(payload)s)
