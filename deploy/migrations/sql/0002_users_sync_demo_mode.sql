-- Dual write (expand phase): old code writes `is_demo_mode`, new code `demo_mode_status`; the
-- trigger derives the column the writer did not touch. The boolean means "the data is there",
-- so it is true in the states that have data: enabled, disabling.
-- Created by 0002_expand_statuses, dropped by 0005_contract, restored by its downgrade.
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
