-- A platform's connection moves only along the state machine of demo_service/states.py, whoever
-- writes it. From 0008: a disconnect whose job failed ends in `error` too, and from `error` the
-- user may connect again or disconnect.
CREATE FUNCTION platforms_connection_transition() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER platforms_connection_transition
    BEFORE UPDATE OF connection_status ON platforms
    FOR EACH ROW WHEN (OLD.connection_status IS DISTINCT FROM NEW.connection_status)
    EXECUTE FUNCTION platforms_connection_transition();
