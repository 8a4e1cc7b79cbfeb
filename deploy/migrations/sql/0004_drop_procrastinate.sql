-- Drops whatever Procrastinate's schema created, found in the catalogue rather than listed by
-- hand: every table, function and type of this schema named `procrastinate_*` (the package
-- names all its objects so), so a later Procrastinate release's new objects go too. Tables
-- first (their indexes, triggers and sequences go with them), then functions, then types.
DO $$
DECLARE
    statement text;
BEGIN
    FOR statement IN
        SELECT format('DROP TABLE %s CASCADE', c.oid::regclass)
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace
          AND c.relkind IN ('r', 'p') AND c.relname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE statement;
    END LOOP;
    FOR statement IN
        SELECT format('DROP ROUTINE %s CASCADE', p.oid::regprocedure)
        FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE statement;
    END LOOP;
    FOR statement IN
        SELECT format('DROP TYPE %s CASCADE', t.oid::regtype)
        FROM pg_type t
        WHERE t.typnamespace = current_schema()::regnamespace
          AND t.typname LIKE 'procrastinate\_%'
          -- a table's row type went with its table; composite types stand alone (relkind c)
          AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND t.typelem = 0  -- array types go with their element type
    LOOP
        EXECUTE statement;
    END LOOP;
END $$;
