-- Dual write (expand phase): old code writes `is_connected`, new code `connection_status`; the
-- trigger derives the column the writer did not touch. The boolean means "the data is there",
-- so it is true in the states that have data: connected, disconnecting.
-- Created by 0002_expand_statuses, dropped by 0005_contract, restored by its downgrade.
CREATE FUNCTION platforms_sync_connection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_connected AND NEW.connection_status = 'disconnected' THEN
            NEW.connection_status := 'connected';
        ELSE
            NEW.is_connected := NEW.connection_status IN ('connected', 'disconnecting');
        END IF;
    ELSIF NEW.connection_status IS DISTINCT FROM OLD.connection_status THEN
        NEW.is_connected := NEW.connection_status IN ('connected', 'disconnecting');
    ELSIF NEW.is_connected IS DISTINCT FROM OLD.is_connected THEN
        NEW.connection_status := CASE WHEN NEW.is_connected
                                      THEN 'connected' ELSE 'disconnected' END;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER platforms_sync_connection BEFORE INSERT OR UPDATE ON platforms
    FOR EACH ROW EXECUTE FUNCTION platforms_sync_connection();
