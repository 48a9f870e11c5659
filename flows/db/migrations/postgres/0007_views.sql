-- Customers and which meters they had when (for usage per customer), the feed of profile-log
-- changes the views follow (a sequence in commit order), and interval flags.
CREATE TABLE customers (
    id text PRIMARY KEY,
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE customer_meters (
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    meter_id uuid NOT NULL REFERENCES meter_registry (id) ON DELETE CASCADE,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    PRIMARY KEY (customer_id, meter_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- wh: the exact energy (kwh is kept for the deployed readers).
ALTER TABLE register_interval_hh ADD COLUMN wh bigint;
ALTER TABLE register_interval_hh ADD COLUMN flags text NOT NULL DEFAULT '';
ALTER TABLE register_interval_hh ADD COLUMN derived boolean NOT NULL DEFAULT false;

-- Every insert, correction and removal of a profile-log value, numbered in commit order: the
-- trigger takes the counter row's lock until its transaction ends, so a reader never sees
-- number n+1 committed while n is still to come.
CREATE TABLE views_feed_counter (id integer PRIMARY KEY CHECK (id = 1), last bigint NOT NULL);
INSERT INTO views_feed_counter VALUES (1, 0);
CREATE TABLE register_profile_changes (
    seq bigint PRIMARY KEY,
    register_id uuid NOT NULL,
    timestamp timestamptz NOT NULL,
    old_wh bigint,
    new_wh bigint
);

CREATE FUNCTION register_profile_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.cumulative_wh IS NOT DISTINCT FROM OLD.cumulative_wh
       AND NEW.timestamp = OLD.timestamp AND NEW.register_id = OLD.register_id THEN
        RETURN NULL;
    END IF;
    UPDATE flows.views_feed_counter SET last = last + 1 WHERE id = 1 RETURNING last INTO next;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO flows.register_profile_changes VALUES (next, NEW.register_id, NEW.timestamp, NULL, NEW.cumulative_wh);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO flows.register_profile_changes VALUES (next, OLD.register_id, OLD.timestamp, OLD.cumulative_wh, NULL);
    ELSIF NEW.register_id = OLD.register_id AND NEW.timestamp = OLD.timestamp THEN
        INSERT INTO flows.register_profile_changes VALUES (next, NEW.register_id, NEW.timestamp, OLD.cumulative_wh, NEW.cumulative_wh);
    ELSE
        INSERT INTO flows.register_profile_changes VALUES (next, OLD.register_id, OLD.timestamp, OLD.cumulative_wh, NULL);
        UPDATE flows.views_feed_counter SET last = last + 1 WHERE id = 1 RETURNING last INTO next;
        INSERT INTO flows.register_profile_changes VALUES (next, NEW.register_id, NEW.timestamp, NULL, NEW.cumulative_wh);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER register_profile_feed AFTER INSERT OR UPDATE OR DELETE ON register_profile_hh
    FOR EACH ROW EXECUTE FUNCTION register_profile_feed();
