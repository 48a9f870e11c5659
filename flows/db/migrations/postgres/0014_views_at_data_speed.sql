-- The views at the speed of the data.
-- * register_interval_hh is the views' output, written only by them (from values whose own
--   foreign keys name existing registers): its foreign key was checked on every row of a bulk
--   write, a third of the time, and goes.
-- * views_spans goes: the views compare the days a change touches with register_interval_hh.
-- * Change numbers come from a sequence under a transaction-scoped advisory lock, taken by a
--   transaction's first logged change and held to its commit: numbers stay in commit order
--   (as with the counter row before) without updating one row per change (a row updated
--   thousands of times in one transaction made bulk writes crawl: ~8k rows/s).
-- The views' store has a new shape: `flows views rebuild` builds it again from the tables.
SET search_path TO flows, public;

DO $$
DECLARE
    found record;
BEGIN
    FOR found IN SELECT conname FROM pg_constraint
                  WHERE conrelid = 'flows.register_interval_hh'::regclass AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE flows.register_interval_hh DROP CONSTRAINT %I', found.conname);
    END LOOP;
END $$;
DROP TABLE views_spans;

CREATE SEQUENCE register_value_changes_seq;
SELECT setval('register_value_changes_seq', greatest(last, 1), last > 0) FROM views_feed_counter;
DROP TABLE views_feed_counter;

CREATE FUNCTION next_change() RETURNS bigint LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7378707111521281379);  -- 'flows-ch' as a bigint
    SELECT nextval('flows.register_value_changes_seq');
$$;

CREATE OR REPLACE FUNCTION register_value_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source text := TG_ARGV[0];
    old_wh bigint;
    new_wh bigint;
BEGIN
    -- Separate statements: PL/pgSQL plans only the one it runs (the tables' columns differ).
    IF TG_OP <> 'INSERT' AND source = 'profile' THEN
        old_wh := OLD.cumulative_wh;
    ELSIF TG_OP <> 'INSERT' THEN
        old_wh := round(OLD.read * 1000);
    END IF;
    IF TG_OP <> 'DELETE' AND source = 'profile' THEN
        new_wh := NEW.cumulative_wh;
    ELSIF TG_OP <> 'DELETE' THEN
        new_wh := round(NEW.read * 1000);
    END IF;
    IF TG_OP = 'UPDATE' AND new_wh IS NOT DISTINCT FROM old_wh
       AND NEW.timestamp = OLD.timestamp AND NEW.register_id = OLD.register_id THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('flows_register_changes', '');
    IF TG_OP = 'INSERT' THEN
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), NEW.register_id, NEW.timestamp, NULL, new_wh, source);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), OLD.register_id, OLD.timestamp, old_wh, NULL, source);
    ELSIF NEW.register_id = OLD.register_id AND NEW.timestamp = OLD.timestamp THEN
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), NEW.register_id, NEW.timestamp, old_wh, new_wh, source);
    ELSE
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), OLD.register_id, OLD.timestamp, old_wh, NULL, source);
        INSERT INTO flows.register_value_changes VALUES (flows.next_change(), NEW.register_id, NEW.timestamp, NULL, new_wh, source);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION meter_registry_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flows_register_changes', '');
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
            VALUES (flows.next_change(), OLD.meter_id, now(), NULL, NULL, 'meter');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
            VALUES (flows.next_change(), NEW.meter_id, now(), NULL, NULL, 'meter');
    END IF;
    RETURN NULL;
END $$;

-- Inserted values are logged once per statement from its transition table (a bulk write of
-- thousands of values runs the trigger once, not per row); updates and deletes (corrections)
-- stay per row. TimescaleDB hypertables have no transition tables: they keep the row trigger.
CREATE FUNCTION register_values_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7378707111521281379);
    IF TG_ARGV[0] = 'profile' THEN
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
            SELECT nextval('flows.register_value_changes_seq'), register_id, timestamp, NULL,
                   cumulative_wh, 'profile'
              FROM inserted ORDER BY register_id, timestamp;
    ELSE
        INSERT INTO flows.register_value_changes (seq, register_id, timestamp, old_wh, new_wh, source)
            SELECT nextval('flows.register_value_changes_seq'), register_id, timestamp, NULL,
                   round(read * 1000), TG_ARGV[0]
              FROM inserted ORDER BY register_id, timestamp;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('flows_register_changes', '');
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    feed record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOR feed IN SELECT * FROM (VALUES ('register_profile_hh', 'register_profile_feed', 'profile'),
                                      ('register_import', 'register_read_feed', 'reads'),
                                      ('register_export', 'register_export_feed', 'export'))
                          AS t (tablename, trigger, source) LOOP
        EXECUTE format('DROP TRIGGER %I ON flows.%I', feed.trigger, feed.tablename);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE OR DELETE ON flows.%I FOR EACH ROW '
                       'EXECUTE FUNCTION flows.register_value_feed(%L)',
                       feed.trigger, feed.tablename, feed.source);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON flows.%I REFERENCING NEW TABLE AS '
                       'inserted FOR EACH STATEMENT EXECUTE FUNCTION '
                       'flows.register_values_inserted(%L)',
                       feed.trigger || '_inserted', feed.tablename, feed.source);
    END LOOP;
END $$;
