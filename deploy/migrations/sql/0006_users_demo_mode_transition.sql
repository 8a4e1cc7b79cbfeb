-- Demo mode moves only along the state machine of DESIGN.md, whoever writes the row.
CREATE FUNCTION users_demo_mode_transition() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER users_demo_mode_transition BEFORE UPDATE OF demo_mode_status ON users
    FOR EACH ROW WHEN (OLD.demo_mode_status IS DISTINCT FROM NEW.demo_mode_status)
    EXECUTE FUNCTION users_demo_mode_transition();
