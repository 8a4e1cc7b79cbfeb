"""The expand phase's dual-write triggers, shared by the expand revision and the contract
revision's downgrade, which restores them."""

DUAL_WRITE_TRIGGERS = """
-- Dual write. The boolean means "the data is there", so it is true in the states
-- that have data: enabled/disabling, connected/disconnecting.
CREATE FUNCTION users_sync_demo_mode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_demo_mode AND NEW.demo_mode_status = 'disabled' THEN
            NEW.demo_mode_status := 'enabled';
        ELSE
            NEW.is_demo_mode := NEW.demo_mode_status IN ('enabled', 'disabling');
        END IF;
    ELSIF NEW.demo_mode_status IS DISTINCT FROM OLD.demo_mode_status THEN
        NEW.is_demo_mode := NEW.demo_mode_status IN ('enabled', 'disabling');
    ELSIF NEW.is_demo_mode IS DISTINCT FROM OLD.is_demo_mode THEN
        NEW.demo_mode_status := CASE WHEN NEW.is_demo_mode
                                     THEN 'enabled' ELSE 'disabled' END;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_sync_demo_mode BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_sync_demo_mode();

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
"""
